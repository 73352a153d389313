#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/task/workload.hpp"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace chameleon::codegen {

// What every template's rendering starts with: a comment naming the template, workload and
// config, then the workload as compile-time constants (N C H W K R S OH OW SH SW PT PL DH DW).
void render_prelude(std::ostream& src, const std::string& template_name,
                    const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                    const space::Config& cfg);
// `static constexpr int KEY = VALUE;`
void define_constant(std::ostream& src, const char* key, int64_t value);
// What every template's rendering ends with: the split-K knobs as SPLIT_K and SPLIT_WORKSPACE,
// the task's type and epilogue (DTYPE, EPI_*, templates/epilogue.cu), the template's source
// (`source_path`, embedded), and, for a workspace split-K, the reduction kernel. With `mma`, the
// warp-wide tensor-core helpers (templates/mma.cu) come before the template's source.
void render_body(std::ostream& src, const char* source_path, const task::Conv2dWorkload& wl,
                 int64_t split_k, int reduce, bool mma = false);
// The warp-wide tensor-core helpers' source (ldmatrix, mma.sync m16n8k16), as render_body
// renders it: part of the fingerprint of the templates that render it.
std::string mma_source();

// A knob of plain values ("other" knobs), for templates whose knobs do not depend on the shape.
struct KnobDef {
  const char* name;
  std::vector<int> values;
};
// The space of such knobs, in order.
space::ConfigSpace space_of(const std::vector<KnobDef>& defs);
// " name:v1,v2,..." for every knob: what a fingerprint hashes.
std::string knob_text(const std::vector<KnobDef>& defs);

// The smallest power of two >= v (1 for v <= 1): how far a tile may exceed the problem.
int64_t pow2_at_least(int64_t v);

// Sets the access-pattern features of `f` from the first warp's float offsets: the sector
// efficiencies of its input loads, weight loads and output stores, and the bank conflicts of its
// shared-memory reads.
void set_access_features(KernelFeatures& f, const std::vector<int64_t>& input_loads,
                         const std::vector<int64_t>& weight_loads,
                         const std::vector<int64_t>& stores,
                         const std::vector<int64_t>& smem_reads);

// Fraction of the bytes moved that are used, for a warp whose lane i reads float offsets[i]
// (any number of floats per lane), counting 32-byte sectors (8 floats).
double sector_efficiency(const std::vector<int64_t>& offsets);

// The worst number of distinct addresses (in floats) that fall into one of the 32 shared-memory
// banks: the serialization of one warp-wide access.
double bank_conflict_ways(const std::vector<int64_t>& addresses);

} // namespace chameleon::codegen
