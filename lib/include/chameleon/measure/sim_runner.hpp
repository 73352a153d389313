#pragma once

#include "chameleon/measure/runner.hpp"

namespace chameleon::measure {

// The sim device's estimate for one kernel launch, with the terms it was made of.
struct SimEstimate {
  bool launchable = true;
  std::string reason;    // why not, when not launchable
  int blocks_per_sm = 0; // occupancy
  int64_t waves = 0;
  int active_sms = 0;
  double compute_s = 0;   // issue, FMA and shared-memory bound time
  double memory_s = 0;    // DRAM and L2 bound time
  double seconds = 0;     // the estimate, noise included
  double noiseless_s = 0; // the estimate without the noise: the model's own ranking
};

// An analytical model of a target GPU: occupancy from the compiled kernel's registers and shared
// memory, wave quantization over the SMs, FMA/issue/shared-memory throughput with latency hiding
// from resident warps and the register tile, DRAM and L2 rooflines with coalescing, and spill
// traffic. Deterministic: the noise is a function of the kernel and the seed. See
// docs/measurement.md for the model.
SimEstimate simulate(const target::Target& t, const task::Conv2dWorkload& wl,
                     const codegen::KernelFeatures& f, const target::Resources& res,
                     uint64_t noise_key);

class SimRunner final : public Runner {
public:
  SimRunner(target::Target target, MeasureOptions options);
  std::string device_name() const override;
  bool simulated() const override { return true; }
  std::string fingerprint() const override;
  MeasureResult run(const task::Conv2dWorkload& wl, const BuildResult& build) override;

private:
  target::Target target_;
  MeasureOptions options_;
};

} // namespace chameleon::measure
