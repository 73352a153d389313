#pragma once

#include <string>
#include <string_view>

namespace chameleon::util {

// Hex SHA-256 of the bytes: the content address of compiled kernels and template fingerprints.
std::string sha256_hex(std::string_view data);

} // namespace chameleon::util
