#include "chameleon/util/files.hpp"

#include "chameleon/util/error.hpp"

#include <fstream>

namespace chameleon::util {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error("cannot write " + path);
}

} // namespace chameleon::util
