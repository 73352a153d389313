#pragma once

#include <cstdint>
#include <vector>

namespace chameleon::codegen {

// Fraction of the bytes moved that are used, for a warp whose lane i reads float offsets[i]
// (any number of floats per lane), counting 32-byte sectors (8 floats).
double sector_efficiency(const std::vector<int64_t>& offsets);

// The worst number of distinct addresses (in floats) that fall into one of the 32 shared-memory
// banks: the serialization of one warp-wide access.
double bank_conflict_ways(const std::vector<int64_t>& addresses);

} // namespace chameleon::codegen
