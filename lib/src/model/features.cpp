#include "chameleon/model/features.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

namespace chameleon::model {

namespace {
constexpr int kDerived = 19;

float lg(double v) {
  return float(std::log2(std::max(v, 0.0) + 1.0));
}
} // namespace

FeatureExtractor::FeatureExtractor(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                                   const space::ConfigSpace& space, const target::Target& target,
                                   Extra extra)
    : tmpl_(tmpl), wl_(wl), space_(space), target_(target), extra_(std::move(extra)) {
  for (const auto& k : space_.knobs()) size_ += k.kind == space::KnobKind::Split ? k.parts : 1;
  size_ += kDerived + (extra_.value ? 1 : 0);
}

std::vector<std::string> FeatureExtractor::names() const {
  std::vector<std::string> out;
  for (const auto& k : space_.knobs()) {
    if (k.kind == space::KnobKind::Split) {
      for (int p = 0; p < k.parts; ++p) out.push_back(k.name + "." + std::to_string(p));
    } else {
      out.push_back(k.name);
    }
  }
  for (const char* n :
       {"threads", "blocks", "waves", "blocks_per_sm", "smem_bytes", "registers", "vthreads",
        "accumulators", "fma_per_thread", "reduction_steps", "smem_reads_per_fma", "input_load_eff",
        "weight_load_eff", "store_eff", "smem_conflict_ways", "unrolled_loops", "unroll_explicit",
        "spills", "split_k"}) {
    out.push_back(n);
  }
  if (extra_.value) out.push_back(extra_.name);
  return out;
}

void FeatureExtractor::extract(const space::Config& c, const target::Resources* compiled,
                               float* out) const {
  int i = 0;
  for (size_t k = 0; k < space_.knobs().size(); ++k) {
    for (int v : space_.value(c, k)) out[i++] = lg(v);
  }
  const codegen::KernelFeatures f = tmpl_.features(wl_, space_, c);
  const auto& t = target_;
  const double threads = double(f.geometry.threads());
  const double blocks = double(f.geometry.blocks());
  const int regs = target::kernel_registers(t, f.predicted_registers, compiled);
  // Occupancy as the hardware would allocate it; at least one block so that waves stay finite.
  const double smem = double(target::block_smem(t, f.static_smem + f.geometry.dynamic_smem));
  const double bps =
      double(std::max<int64_t>(1, target::blocks_per_sm(t, f.geometry.threads(), regs,
                                                        f.static_smem + f.geometry.dynamic_smem)));
  const double spills = compiled != nullptr
                            ? compiled->spill_loads + compiled->spill_stores
                            : std::max(0, f.predicted_registers - t.max_regs_per_thread) * 8;
  out[i++] = lg(threads);
  out[i++] = lg(blocks);
  out[i++] = float(blocks / (bps * t.sm_count));
  out[i++] = float(bps);
  out[i++] = lg(smem);
  out[i++] = float(regs) / float(t.max_regs_per_thread);
  out[i++] = lg(f.vthreads);
  out[i++] = lg(double(f.accumulators));
  out[i++] = lg(double(f.fma_per_thread));
  out[i++] = lg(double(f.reduction_steps));
  out[i++] = float(f.smem_reads_per_fma);
  out[i++] = float(f.input_load_efficiency);
  out[i++] = float(f.weight_load_efficiency);
  out[i++] = float(f.store_efficiency);
  out[i++] = float(f.smem_conflict_ways);
  out[i++] = float(f.unrolled_loops);
  out[i++] = f.unroll_explicit ? 1.0f : 0.0f;
  out[i++] = lg(spills);
  out[i++] = lg(f.split_k);
  if (extra_.value) out[i++] = extra_.value(wl_, f, compiled);
}

std::vector<float> FeatureExtractor::matrix(const std::vector<space::Config>& configs) const {
  std::vector<float> out(configs.size() * size_t(size_));
  for (size_t r = 0; r < configs.size(); ++r)
    extract(configs[r], nullptr, out.data() + r * size_t(size_));
  return out;
}

} // namespace chameleon::model
