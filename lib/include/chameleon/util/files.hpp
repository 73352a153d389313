#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace chameleon::util {

// Writes `bytes` to `path` (replacing it); throws chameleon::Error when that fails.
void write_file(const std::string& path, const std::string& bytes);

// The bytes of `path`, decompressed when it is gzip data (a .jsonl.gz of the measurement dataset;
// several gzip members in a row are read as one). Throws chameleon::Error naming `what` it is
// ("tuning log") on a file that cannot be read or a damaged or cut-off gzip stream. A binary
// built without zlib refuses gzip data, saying how to read it.
std::string read_file(const std::string& path, const std::string& what);
// The JSON document in `path` (read_file, so it may be compressed); chameleon::Error naming `what`
// it is and where its JSON breaks.
nlohmann::json read_json_file(const std::string& path, const std::string& what);
// Whether `bytes` start as gzip data does.
bool is_gzip(const std::string& bytes);

// Creates the folder `path` and its parents (nothing when it exists); throws chameleon::Error
// naming `what` it is for ("the output folder") and why, when that fails.
void make_folder(const std::string& path, const std::string& what);

} // namespace chameleon::util
