#include "access.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace chameleon::codegen {

double sector_efficiency(const std::vector<int64_t>& offsets) {
  if (offsets.empty()) return 1.0;
  std::set<int64_t> sectors, words;
  for (int64_t o : offsets) {
    sectors.insert(o >= 0 ? o / 8 : (o - 7) / 8);
    words.insert(o);
  }
  return double(words.size()) / double(8 * sectors.size());
}

double bank_conflict_ways(const std::vector<int64_t>& addresses) {
  std::array<std::set<int64_t>, 32> banks;
  for (int64_t a : addresses) banks[size_t(((a % 32) + 32) % 32)].insert(a);
  size_t worst = 1;
  for (const auto& b : banks) worst = std::max(worst, b.size());
  return double(worst);
}

} // namespace chameleon::codegen
