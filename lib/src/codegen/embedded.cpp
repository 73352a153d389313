#include "chameleon/codegen/embedded.hpp"

#include "chameleon/util/error.hpp"

#include <string>

namespace chameleon::codegen {

std::string_view embedded_file(std::string_view path) {
  for (const EmbeddedFile* f = embedded_files_begin(); f != embedded_files_end(); ++f) {
    if (path == f->path) return f->content;
  }
  throw Error("no embedded file '" + std::string(path) +
              "' (a build problem: see lib/CMakeLists.txt)");
}

} // namespace chameleon::codegen
