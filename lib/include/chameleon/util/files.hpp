#pragma once

#include <string>

namespace chameleon::util {

// Writes `bytes` to `path` (replacing it); throws chameleon::Error when that fails.
void write_file(const std::string& path, const std::string& bytes);

} // namespace chameleon::util
