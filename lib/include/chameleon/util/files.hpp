#pragma once

#include <string>

namespace chameleon::util {

// Writes `bytes` to `path` (replacing it); throws chameleon::Error when that fails.
void write_file(const std::string& path, const std::string& bytes);

// Creates the folder `path` and its parents (nothing when it exists); throws chameleon::Error
// naming `what` it is for ("the output folder") and why, when that fails.
void make_folder(const std::string& path, const std::string& what);

} // namespace chameleon::util
