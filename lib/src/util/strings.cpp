#include "chameleon/util/strings.hpp"

#include "chameleon/util/error.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace chameleon::util {

std::string count_of(int64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  if (value < 0) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

namespace {
int parse_one(std::string_view piece, std::string_view what) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), value);
  if (ec != std::errc() || ptr != piece.data() + piece.size() || piece.empty()) {
    throw Error(std::string(what) + ": '" + std::string(piece) + "' is not a whole number");
  }
  return value;
}
} // namespace

std::vector<int> parse_int_list(std::string_view text, std::string_view what) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view piece = text.substr(start, end - start);
    size_t dash = piece.find('-', 1);
    if (dash != std::string_view::npos) {
      int lo = parse_one(piece.substr(0, dash), what);
      int hi = parse_one(piece.substr(dash + 1), what);
      if (hi < lo) throw Error(std::string(what) + ": empty range '" + std::string(piece) + "'");
      for (int v = lo; v <= hi; ++v) out.push_back(v);
    } else {
      out.push_back(parse_one(piece, what));
    }
    start = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

} // namespace chameleon::util
