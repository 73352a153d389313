#include "chameleon/measure/cuda_runner.hpp"

#include "chameleon/cuda/driver.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/measure/stats.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>

namespace chameleon::measure {

namespace {
// Starting a worker opens the GPU and compiles the helper kernels; setting up a task allocates
// and fills tensors and runs the reference: both get far more time than one config.
constexpr double kSetupTimeoutS = 180;
// cuDNN's request times its legacy API's algorithms and up to 8 engines of its graph API.
constexpr double kCudnnTimeoutScale = 6;

double unix_now() {
  return double(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count()) /
         1000.0;
}
// ", epilogue fused", ", epilogue separate", ", epilogue not included (why)"; "" for a task
// without one.
std::string cudnn_epilogue_text(const nlohmann::json& h) {
  if (!h.contains("epilogue")) return "";
  const std::string how = h.at("epilogue").get<std::string>();
  if (how == "fused" || how == "separate") return ", epilogue " + how;
  return ", epilogue not included (" + h.value("epilogue_detail", std::string()) + ")";
}
} // namespace

int64_t tensor_bytes(const task::Conv2dWorkload& wl) {
  // The task's type for input, weights, output and residual; float32 for the reference (and, for
  // a float16 or bfloat16 task, the reference's float32 copies of input and weights; for a fused
  // one, the convolution alone).
  const int64_t size = task::dtype_bytes(wl.dtype);
  int64_t bytes =
      size * (wl.input_elems() + wl.weight_elems() + wl.output_elems()) + 4 * wl.output_elems();
  if (wl.dtype != task::DataType::f32) bytes += 4 * (wl.input_elems() + wl.weight_elems());
  if (wl.epilogue.residual) bytes += size * wl.output_elems();
  // A fused task: the convolution alone's reference, and for cuDNN's epilogue the bias in the
  // task's type and a zero residual.
  if (!wl.epilogue.empty()) bytes += 4 * wl.output_elems() + size * (wl.k + wl.output_elems());
  return bytes;
}

std::string memory_shortfall(const task::Conv2dWorkload& wl, int64_t device_bytes) {
  const int64_t need = tensor_bytes(wl);
  if (need <= device_bytes) return "";
  const double gib = double(int64_t(1) << 30);
  return "its tensors (input, weights, output and reference) need " +
         util::fixed(double(need) / gib, 1) + " GiB, more than the GPU's " +
         util::fixed(double(device_bytes) / gib, 1) + " GiB";
}

CudaRunner::CudaRunner(int ordinal, MeasureOptions options)
    : ordinal_(ordinal), options_(options), worker_("cuda") {
  ensure_worker();
}

void CudaRunner::ensure_worker() {
  if (worker_.running() && initialized_start_ == worker_.starts()) return;
  util::Message init{{{"op", "init"}, {"ordinal", ordinal_}}, ""};
  auto reply = worker_.call(init, kSetupTimeoutS);
  if (reply.outcome != util::WorkerProcess::Outcome::Ok) {
    throw Error("cannot start the GPU measurement worker: " + reply.detail);
  }
  const auto& h = reply.message.header;
  if (!h.value("ok", false)) {
    worker_.stop();
    throw Error(h.value("error", std::string("the GPU could not be opened")));
  }
  device_ = h.at("device");
  name_ = device_.at("name").get<std::string>();
  fingerprint_ = h.at("fingerprint").get<std::string>();
  initialized_start_ = worker_.starts();
  task_key_.clear();
  if (const std::string id = device_.value("pci_bus_id", std::string()); !turn_ && !id.empty()) {
    turn_ = std::make_unique<util::FileLock>(gpu_turn_path(id), [ordinal = ordinal_, id] {
      static std::atomic<bool> told{false};
      if (!told.exchange(true)) {
        spdlog::warn(
            "GPU {} ({}) is measuring for another chameleon process: the two take turns, so "
            "neither disturbs the other's timings, and each waits for the other",
            ordinal, id);
      }
    });
  }
}

std::string CudaRunner::ensure_task(const task::Conv2dWorkload& wl) {
  ensure_worker();
  std::string key = wl.key() + "/" + std::to_string(options_.seed);
  if (task_key_ == key) return "";
  if (std::string why = cannot_hold(wl); !why.empty()) return "task setup failed: " + why;
  util::Message msg{{{"op", "task"},
                     {"workload", task::to_json(wl)},
                     {"seed", options_.seed},
                     {"flush_l2", options_.flush_l2}},
                    ""};
  auto reply = worker_.call(msg, kSetupTimeoutS);
  if (reply.outcome != util::WorkerProcess::Outcome::Ok)
    return "task setup failed: " + reply.detail;
  if (!reply.message.header.value("ok", false)) {
    return "task setup failed: " + reply.message.header.value("error", std::string("?"));
  }
  task_key_ = key;
  return "";
}

std::string CudaRunner::cannot_hold(const task::Conv2dWorkload& wl) const {
  const double gib = device_.value("memory_gib", 0.0);
  return gib > 0 ? memory_shortfall(wl, int64_t(gib * double(int64_t(1) << 30))) : "";
}

MeasureResult CudaRunner::run(const task::Conv2dWorkload& wl, const BuildResult& build) {
  MeasureResult r;
  r.resources = build.resources;
  r.compile_seconds = build.compile_seconds;
  if (!build.ok()) {
    r.error = build.error;
    r.message = build.message;
    r.timestamp = unix_now();
    r.settings = to_json(options_);
    return r;
  }
  if (build.cubin.empty()) {
    r.error = ErrorNo::CompileHost;
    r.message = "no cubin to run (resources were only estimated)";
    return r;
  }
  nlohmann::json header = codegen::to_json(build.features.geometry);
  header.update({{"op", "measure"},
                 {"entry", build.entry},
                 {"options", to_json(verification_options(options_, build.features, wl))}});
  util::Message msg{std::move(header), build.cubin};
  return timed_call(wl, std::move(msg), std::move(r));
}

MeasureResult CudaRunner::run_cudnn(const task::Conv2dWorkload& wl, bool allow_tf32) {
  util::Message msg{{{"op", "cudnn"},
                     {"allow_tf32", allow_tf32},
                     {"options", to_json(verification_options(options_, allow_tf32, wl))}},
                    ""};
  // Both APIs, each timing several algorithms or engines: more time than one kernel gets.
  MeasureResult r = timed_call(wl, std::move(msg), MeasureResult{}, kCudnnTimeoutScale);
  r.settings["allow_tf32"] = allow_tf32;
  return r;
}

MeasureResult CudaRunner::timed_call(const task::Conv2dWorkload& wl, util::Message msg,
                                     MeasureResult r, double timeout_scale) {
  const double timeout_s = options_.run_timeout_s * timeout_scale;
  auto start = std::chrono::steady_clock::now();
  r.settings = to_json(options_);
  r.settings["device"] = name_;
  r.timestamp = unix_now();
  auto finish = [&] {
    r.run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  };
  // The task's reference and the timed launches keep the GPU to themselves.
  std::optional<std::lock_guard<util::FileLock>> turn;
  if (turn_) turn.emplace(*turn_);
  if (std::string why = ensure_task(wl); !why.empty()) {
    r.error = ErrorNo::RuntimeDevice;
    r.message = why;
    return finish();
  }
  auto reply = worker_.call(msg, timeout_s);
  using Outcome = util::WorkerProcess::Outcome;
  if (reply.outcome == Outcome::Timeout) {
    r.error = ErrorNo::RunTimeout;
    r.message = "the kernel did not finish within the run timeout of " + util::fixed(timeout_s, 1) +
                " s (hang?); " + reply.detail;
    task_key_.clear();
    return finish();
  }
  if (reply.outcome == Outcome::Died) {
    r.error = ErrorNo::RuntimeDevice;
    r.message = "the measurement worker died running this kernel: " + reply.detail;
    task_key_.clear();
    return finish();
  }
  const auto& h = reply.message.header;
  r.error = ErrorNo(h.value("error_no", int(ErrorNo::Unknown)));
  r.message = h.value("message", std::string());
  if (h.contains("algorithm")) {
    // cuDNN's algorithm names the result; a failure keeps its reason first.
    const std::string algorithm =
        "cuDNN " + h.value("cudnn_version", std::string()) + " " +
        h.at("algorithm").get<std::string>() + ", workspace " +
        std::to_string(h.value("workspace_bytes", size_t(0))) + " bytes" + cudnn_epilogue_text(h) +
        (h.contains("cudnn_other") ? "; " + h.at("cudnn_other").get<std::string>() : std::string());
    r.message = r.error == ErrorNo::None ? algorithm : r.message + " (" + algorithm + ")";
  }
  r.costs = h.value("costs", std::vector<double>{});
  r.number = h.value("number", 0);
  r.repeat = int(r.costs.size());
  r.settings["cuda_graph_used"] = h.value("cuda_graph_used", false);
  // cuDNN on a fused task: how its time includes the epilogue ("fused", "separate" operators, or
  // the "convolution alone"), and the operators or why not.
  if (h.contains("cudnn_api")) r.settings["cudnn_api"] = h.at("cudnn_api"); // legacy, graph
  if (h.contains("epilogue")) {
    r.settings["epilogue"] = h.at("epilogue");
    r.settings["epilogue_detail"] = h.value("epilogue_detail", std::string());
  }
  RoundStats s = summarize(r.costs);
  r.median = s.median;
  r.spread = s.spread;
  if (h.value("fatal", false)) {
    // The context is lost (sticky error): the next config gets a fresh worker.
    spdlog::debug("measurement worker lost its context: {}", r.message);
    worker_.stop();
    task_key_.clear();
  }
  return finish();
}

std::unique_ptr<Runner> make_runner(const std::string& device, const target::Target& target,
                                    const MeasureOptions& options, int ordinal) {
  if (device == "sim") return std::make_unique<SimRunner>(target, options);
  if (device == "cuda") return std::make_unique<CudaRunner>(ordinal, options);
  if (device == "auto") {
    std::string why;
    if (gpu_available(&why)) return std::make_unique<CudaRunner>(ordinal, options);
    spdlog::warn("{}; measuring on the sim device", why);
    return std::make_unique<SimRunner>(target, options);
  }
  throw Error("unknown device '" + device + "' (cuda, sim or auto)");
}

namespace {
class TurnTakingRunner : public Runner {
public:
  TurnTakingRunner(std::unique_ptr<Runner> inner, std::shared_ptr<std::mutex> turn)
      : inner_(std::move(inner)), turn_(std::move(turn)) {}
  std::string device_name() const override { return inner_->device_name(); }
  bool simulated() const override { return inner_->simulated(); }
  std::string fingerprint() const override { return inner_->fingerprint(); }
  MeasureResult run(const task::Conv2dWorkload& wl, const BuildResult& build) override {
    std::lock_guard<std::mutex> lock(*turn_);
    return inner_->run(wl, build);
  }
  std::string cannot_hold(const task::Conv2dWorkload& wl) const override {
    return inner_->cannot_hold(wl);
  }
  std::string cannot_measure(const codegen::Template& t,
                             const task::Conv2dWorkload& wl) const override {
    return inner_->cannot_measure(t, wl);
  }
  space::ConfigSpace measurable_space(const codegen::Template& t,
                                      const task::Conv2dWorkload& wl) const override {
    return inner_->measurable_space(t, wl);
  }
  int charged_compile_jobs() const override { return inner_->charged_compile_jobs(); }

private:
  std::unique_ptr<Runner> inner_;
  std::shared_ptr<std::mutex> turn_;
};
} // namespace

std::unique_ptr<Runner> take_turns(std::unique_ptr<Runner> inner,
                                   std::shared_ptr<std::mutex> turn) {
  return std::make_unique<TurnTakingRunner>(std::move(inner), std::move(turn));
}

std::string runner_fingerprint(const std::string& device, const target::Target& target,
                               int ordinal) {
  if (device == "sim") return SimRunner(target, {}).fingerprint();
  return device_fingerprint(cuda::query_device(ordinal));
}

bool gpu_available(std::string* why) {
  const cuda::DriverApi* api = cuda::try_driver(why);
  if (api == nullptr) return false;
  int count = 0;
  if (api->cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0) {
    if (why) *why = "the CUDA driver sees no GPU";
    return false;
  }
  return true;
}

} // namespace chameleon::measure
