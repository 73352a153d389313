#pragma once

#include <iterator>
#include <string_view>

namespace chameleon::codegen {

// Files of templates/ and kernels/ compiled into the binary (lib/cmake/embed_files.cmake).
struct EmbeddedFile {
  const char* path; // relative to the repository root, e.g. "templates/conv2d_direct.cu"
  const char* content;
};

const EmbeddedFile* embedded_files_begin();
const EmbeddedFile* embedded_files_end();

// The content of an embedded file; throws chameleon::Error when there is none by that path.
std::string_view embedded_file(std::string_view path);

} // namespace chameleon::codegen
