#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chameleon::util {

// 79027200 -> "79,027,200": design-space sizes are read by people.
std::string with_commas(int64_t value);

// "1,3,5-7" -> {1,3,5,6,7}; throws chameleon::Error naming the bad piece.
std::vector<int> parse_int_list(std::string_view text, std::string_view what);

std::string join(const std::vector<std::string>& parts, std::string_view sep);

template <class T> std::string join_numbers(const std::vector<T>& values, std::string_view sep) {
  std::vector<std::string> parts;
  parts.reserve(values.size());
  for (const auto& v : values) parts.push_back(std::to_string(v));
  return join(parts, sep);
}

// "1 kernel", "2 kernels": a count and a noun that takes an s in the plural.
std::string count_of(int64_t n, const std::string& noun);

// ASCII lower case ("NVIDIA H200" -> "nvidia h200").
std::string lower(std::string s);

// Fixed-point formatting with the given number of decimals ("%.*f").
std::string fixed(double value, int decimals);

} // namespace chameleon::util
