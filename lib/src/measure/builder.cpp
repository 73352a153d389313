#include "chameleon/measure/builder.hpp"

#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/worker_process.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

namespace chameleon::measure {

namespace {

// NVRTC logs of heavily unrolled kernels can be long; a record keeps the start.
constexpr size_t kMaxLogChars = 4000;

std::string clip(const std::string& log) {
  return log.size() <= kMaxLogChars ? log : log.substr(0, kMaxLogChars) + "\n[... log truncated]";
}

// What a compile thread does next: a config's build, or a source's compile (its promise inside).
using Job = std::function<void(util::WorkerProcess* worker)>;

} // namespace

CompiledKernel compile_kernel(const std::string& source, const std::string& entry,
                              const std::string& arch) {
  CompiledKernel k;
  try {
    cuda::CompileOutput out = cuda::nvrtc_compile(source, entry, arch);
    k.ok = out.ok;
    k.log = out.log;
    // A compute_XY arch gives PTX, kept in the same field.
    k.cubin = out.cubin.empty() ? std::move(out.ptx) : std::move(out.cubin);
    k.resources = out.resources;
    k.seconds = out.seconds;
  } catch (const std::exception& e) {
    k.ok = false;
    k.log = e.what();
  }
  return k;
}

WorkerCompile compile_in_worker(util::WorkerProcess& worker, const std::string& source,
                                const std::string& entry, const std::string& arch,
                                double timeout_s) {
  WorkerCompile out;
  util::Message request{{{"op", "compile"}, {"entry", entry}, {"arch", arch}}, source};
  auto reply = worker.call(request, timeout_s);
  out.outcome = reply.outcome;
  out.detail = reply.detail;
  if (reply.outcome != util::WorkerProcess::Outcome::Ok) return out;
  const auto& h = reply.message.header;
  out.kernel.ok = h.at("ok").get<bool>();
  out.kernel.log = h.at("log").get<std::string>();
  out.kernel.resources = target::resources_from_json(h.at("resources"));
  out.kernel.seconds = h.at("seconds").get<double>();
  out.kernel.cubin = std::move(reply.message.blob);
  return out;
}

struct Builder::Impl {
  target::Target target;
  std::string arch;
  BuildOptions options;
  CompileCache cache;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool stopping = false;
  std::vector<std::thread> threads;

  Impl(target::Target t, std::string a, BuildOptions o)
      : target(std::move(t)), arch(std::move(a)), options(std::move(o)), cache(options.cache_dir) {}

  void loop() {
    std::unique_ptr<util::WorkerProcess> worker;
    if (options.isolate) worker = std::make_unique<util::WorkerProcess>("compile");
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;
        job = std::move(queue.front());
        queue.pop_front();
      }
      job(worker.get());
    }
  }

  void push(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(job));
    }
    cv.notify_one();
  }

  // Compiles through the worker when there is one; a timeout or a crash becomes the result.
  BuildResult compile_for(const std::string& source, const std::string& entry,
                          const std::string& for_arch, util::WorkerProcess* worker,
                          CompiledKernel& kernel) {
    BuildResult r;
    if (worker == nullptr) {
      kernel = compile_kernel(source, entry, for_arch);
      return r;
    }
    const auto start = std::chrono::steady_clock::now();
    WorkerCompile done = compile_in_worker(*worker, source, entry, for_arch, options.timeout_s);
    // A compile that hung or crashed cost the time until then: records keep it (the recorded
    // device charges it).
    r.compile_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done.outcome == util::WorkerProcess::Outcome::Timeout) {
      r.error = ErrorNo::BuildTimeout;
      r.message = "NVRTC took longer than the build timeout of " +
                  std::to_string(int(options.timeout_s)) + " s";
      return r;
    }
    if (done.outcome == util::WorkerProcess::Outcome::Died) {
      r.error = ErrorNo::CompileDevice;
      r.message = "NVRTC crashed: " + done.detail;
      return r;
    }
    kernel = std::move(done.kernel);
    return r;
  }

  BuildResult build_one(const BuildRequest& req, util::WorkerProcess* worker) {
    BuildResult r;
    r.template_name = req.tmpl->name();
    r.config = req.space->str(req.config);
    r.arch = arch;
    r.features = req.tmpl->features(req.workload, *req.space, req.config);
    codegen::Verdict verdict = codegen::check_static(target, r.features);
    if (!verdict.ok && options.static_checks) {
      r.error = ErrorNo::Instantiation;
      r.message = verdict.reason;
      return r;
    }
    if (!options.compile) {
      r.resources = estimate_resources(target, r.features);
      r.estimated = true;
      r.cache_key = std::to_string(req.config.index) + "@" + req.workload.key();
      return r;
    }
    codegen::KernelSource src = req.tmpl->render(req.workload, *req.space, req.config);
    r.entry = src.entry;
    // The record names the target's arch; an arch-specific kernel is compiled for its variant.
    const std::string kernel_arch = src.arch_specific ? cuda::arch_specific(arch) : arch;
    r.cache_key = compile_key(src.code, kernel_arch);
    CompiledKernel kernel;
    if (auto hit = cache.get(r.cache_key)) {
      kernel = std::move(*hit);
      r.cached = true;
    } else {
      BuildResult failed = compile_for(src.code, src.entry, kernel_arch, worker, kernel);
      if (!failed.ok()) {
        failed.template_name = r.template_name;
        failed.config = r.config;
        failed.arch = arch;
        failed.features = r.features;
        failed.entry = r.entry;
        failed.cache_key = r.cache_key;
        return failed;
      }
      cache.put(r.cache_key, kernel);
      r.compile_seconds = kernel.seconds;
    }
    r.resources = kernel.resources;
    if (!kernel.ok) {
      r.error = ErrorNo::CompileDevice;
      r.message = clip(kernel.log);
      return r;
    }
    r.cubin = std::move(kernel.cubin);
    verdict = codegen::check_compiled(target, r.features.geometry, r.resources.registers,
                                      r.resources.static_smem);
    if (!verdict.ok) {
      r.error = ErrorNo::Instantiation;
      r.message = verdict.reason;
    }
    return r;
  }
};

Builder::Builder(target::Target target, std::string arch, BuildOptions options)
    : impl_(std::make_unique<Impl>(std::move(target), std::move(arch), std::move(options))) {
  int jobs = impl_->options.jobs > 0 ? impl_->options.jobs
                                     : int(std::max(1u, std::thread::hardware_concurrency()));
  impl_->options.jobs = jobs;
  for (int i = 0; i < jobs; ++i) impl_->threads.emplace_back([this] { impl_->loop(); });
}

Builder::~Builder() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->threads) t.join();
}

std::future<BuildResult> Builder::submit(BuildRequest request) {
  if (request.tmpl == nullptr || request.space == nullptr) {
    throw Error("build request without a template or space");
  }
  auto promise = std::make_shared<std::promise<BuildResult>>();
  auto future = promise->get_future();
  impl_->push(
      [impl = impl_.get(), promise, request = std::move(request)](util::WorkerProcess* worker) {
        try {
          promise->set_value(impl->build_one(request, worker));
        } catch (...) {
          promise->set_exception(std::current_exception());
        }
      });
  return future;
}

std::future<CompiledKernel> Builder::compile_source(std::string source, std::string entry,
                                                    std::string arch) {
  auto promise = std::make_shared<std::promise<CompiledKernel>>();
  auto future = promise->get_future();
  impl_->push([impl = impl_.get(), promise, source = std::move(source), entry = std::move(entry),
               arch = std::move(arch)](util::WorkerProcess* worker) {
    try {
      const std::string key = compile_key(source, arch);
      CompiledKernel kernel;
      if (auto hit = impl->cache.get(key)) {
        promise->set_value(std::move(*hit));
        return;
      }
      const BuildResult failed = impl->compile_for(source, entry, arch, worker, kernel);
      if (!failed.ok()) {
        kernel.ok = false;
        kernel.log = failed.message;
      } else {
        impl->cache.put(key, kernel);
      }
      promise->set_value(std::move(kernel));
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  return future;
}

bool Builder::cached(const std::string& source, const std::string& arch) const {
  return impl_->cache.get(compile_key(source, arch)).has_value();
}

const std::string& Builder::arch() const {
  return impl_->arch;
}
const target::Target& Builder::target() const {
  return impl_->target;
}
int Builder::jobs() const {
  return impl_->options.jobs;
}
CompileCache::Stats Builder::cache_stats() const {
  return impl_->cache.stats();
}

target::Resources estimate_resources(const target::Target& t, const codegen::KernelFeatures& f) {
  const int cap = target::register_cap(t, f.geometry.threads());
  target::Resources r;
  r.registers = std::min(f.predicted_registers, cap);
  r.static_smem = int(f.static_smem);
  // About 8 bytes of spill code per register that does not fit (seen with ptxas on sm_90).
  r.spill_stores = r.spill_loads = std::max(0, f.predicted_registers - cap) * 8;
  return r;
}

std::string compile_arch_for(const target::Target& t, bool simulated, std::string* warning) {
  std::string problem = cuda::nvrtc_arch_problem(t.sm());
  if (problem.empty()) return t.arch();
  if (!simulated) throw Error("target " + t.name + ": " + problem);
  int nearest = cuda::nvrtc_nearest_arch(t.sm());
  if (warning != nullptr) {
    *warning = problem + "; simulating " + t.name + " with kernels compiled for sm_" +
               std::to_string(nearest) + " (registers may differ)";
  }
  return "sm_" + std::to_string(nearest);
}

} // namespace chameleon::measure
