#pragma once

#include "chameleon/measure/runner.hpp"
#include "chameleon/util/file_lock.hpp"
#include "chameleon/util/worker_process.hpp"

#include <nlohmann/json.hpp>

#include <memory>

namespace chameleon::measure {

// Measures on a real GPU through a worker process that owns the CUDA context. Per task the worker
// fills inputs and weights from the seed and computes the reference output with the trusted
// kernel; per config it loads the cubin, launches once into a NaN-poisoned output, verifies it
// on the GPU, then times it (see MeasureOptions and docs/measurement.md). A kernel that faults or
// hangs takes the worker down with it; the runner records error 4 or 7 and starts a new worker.
// Runners of every chameleon process on the machine take turns on a GPU (gpu_turn_path): a
// task's setup and each timed request wait until no other process is running one there.
class CudaRunner final : public Runner {
public:
  // Starts the worker and opens the GPU; throws chameleon::Error when there is no usable GPU.
  CudaRunner(int ordinal, MeasureOptions options);
  std::string device_name() const override { return name_; }
  bool simulated() const override { return false; }
  std::string fingerprint() const override { return fingerprint_; }
  MeasureResult run(const task::Conv2dWorkload& wl, const BuildResult& build) override;
  std::string cannot_hold(const task::Conv2dWorkload& wl) const override;
  // cuDNN's fastest forward algorithm for the workload (cudnnFind...), verified and timed with the
  // same tensors and protocol. The message names the algorithm; error 8 when there is no cuDNN.
  MeasureResult run_cudnn(const task::Conv2dWorkload& wl, bool allow_tf32 = false);

  const nlohmann::json& device_info() const { return device_; }
  int worker_starts() const { return worker_.starts(); }

private:
  void ensure_worker(); // started and initialized (throws when the GPU is unusable)
  // Sends one timed request (measure or cudnn) and turns the reply, a timeout or a lost worker
  // into the result.
  // The request's reply within run_timeout_s * timeout_scale.
  MeasureResult timed_call(const task::Conv2dWorkload& wl, util::Message msg, MeasureResult r,
                           double timeout_scale = 1);
  std::string ensure_task(const task::Conv2dWorkload& wl); // "" when ready, else why not

  int ordinal_;
  MeasureOptions options_;
  util::WorkerProcess worker_;
  int initialized_start_ = 0; // worker_.starts() when the worker was last initialized
  std::string task_key_;      // the task the worker holds
  std::string name_, fingerprint_;
  nlohmann::json device_;
  std::unique_ptr<util::FileLock> turn_; // this GPU's turns between processes
};

// The worker side: serves init/task/measure requests on fd `fd` until the parent goes away.
int run_gpu_worker(int fd);

} // namespace chameleon::measure
