#pragma once

#include "chameleon/measure/options.hpp"
#include "chameleon/measure/result.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/workload.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace chameleon::measure {

// Runs built kernels and times them: on a real GPU or on the sim device. A failure is data (an
// error number in the result), never an exception, except for a device that cannot be used at all.
class Runner {
public:
  virtual ~Runner() = default;
  virtual std::string device_name() const = 0;
  virtual bool simulated() const = 0;
  // Stable description of the device, for records ("NVIDIA H100 80GB HBM3 sm_90 132 SMs ...").
  virtual std::string fingerprint() const = 0;
  virtual MeasureResult run(const task::Conv2dWorkload& wl, const BuildResult& build) = 0;
  // Why the device cannot hold the workload's tensors at all; "" when it can (or need not: the
  // sim allocates nothing).
  virtual std::string cannot_hold(const task::Conv2dWorkload&) const { return ""; }
  // Why the device cannot measure `tmpl`'s kernels for the workload; "" when it can. A recorded
  // device answers only for the slices it holds.
  virtual std::string cannot_measure(const codegen::Template&, const task::Conv2dWorkload&) const {
    return "";
  }
  // The configs of `tmpl`'s space for the workload that the device can measure: the whole space,
  // or a recorded device's slice (explorers and samplers then never propose a config outside it).
  virtual space::ConfigSpace measurable_space(const codegen::Template& tmpl,
                                              const task::Conv2dWorkload& wl) const {
    return tmpl.make_space(wl);
  }
  // A device that answers from recorded measurements charges each config the compile and
  // measurement seconds it took where it was recorded, as a host with this many compile workers
  // spent them (the tuner then reports a modelled wall time); 0 for a device that measures, whose
  // time is the wall time.
  virtual int charged_compile_jobs() const { return 0; }
};

// When each config of a batch is measured, in seconds from the batch's start, where the configs'
// compiles (`compile_s`, queued in batch order) run on `jobs` workers side by side and their
// measurements (`run_s`) one at a time in the order the compiles end, as the tuner and `collect`
// take them. What a recorded device charges for a batch.
std::vector<double> pipeline_finish_times(const std::vector<double>& compile_s,
                                          const std::vector<double>& run_s, int jobs);

// The bytes a measurement holds on the GPU for a workload: input, weights, output and reference.
int64_t tensor_bytes(const task::Conv2dWorkload& wl);
// Why `device_bytes` of GPU memory cannot hold them; "" when they fit.
std::string memory_shortfall(const task::Conv2dWorkload& wl, int64_t device_bytes);

// `device` is "cuda" or "sim" (or "auto": cuda when a driver and GPU are present, else sim).
// A cuda runner measures on GPU `ordinal`; a sim runner simulates `target`.
std::unique_ptr<Runner> make_runner(const std::string& device, const target::Target& target,
                                    const MeasureOptions& options, int ordinal = 0);

// A runner whose measurements take turns with those of the other runners that hold the same
// `turn` mutex: several tuning lanes share one GPU, and only one lane times a kernel at a time
// while the others explore and compile.
std::unique_ptr<Runner> take_turns(std::unique_ptr<Runner> inner, std::shared_ptr<std::mutex> turn);

// The fingerprint a runner of `device` ("cuda" or "sim") would write, without starting one.
std::string runner_fingerprint(const std::string& device, const target::Target& target,
                               int ordinal = 0);

// True when a CUDA driver and at least one GPU can be used.
bool gpu_available(std::string* why = nullptr);

} // namespace chameleon::measure
