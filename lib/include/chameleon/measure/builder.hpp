#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/result.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/workload.hpp"
#include "chameleon/util/worker_process.hpp"

#include <future>
#include <memory>
#include <string>

namespace chameleon::measure {

struct BuildOptions {
  int jobs = 0;          // parallel compiles; 0 = one per core
  double timeout_s = 60; // a compile that takes longer is error 6
  std::string cache_dir; // on-disk compile cache; empty = memory only
  bool isolate = true;   // compile in worker processes (killable on timeout)
  // false: skip NVRTC and estimate the resources from the template's prediction (fast tuner
  // studies on the sim device; no cubin, so a real GPU cannot run the result).
  bool compile = true;
  // false: build what the template's static checks rule out (error 1), to look into such a
  // config (`measure --no-static-checks`); the GPU still rejects what it cannot launch.
  bool static_checks = true;
};

// One config to build. The space must outlive the build.
struct BuildRequest {
  const codegen::Template* tmpl = nullptr;
  task::Conv2dWorkload workload;
  const space::ConfigSpace* space = nullptr;
  space::Config config;
};

// Turns configs into cubins on a pool of compile workers: the static check first (error 1, no
// compile), then the compile cache, then NVRTC (error 3 on a compile error, 6 on a timeout), then
// the check of the compiled resources against the target (error 1).
class Builder {
public:
  Builder(target::Target target, std::string arch, BuildOptions options);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  std::future<BuildResult> submit(BuildRequest request);
  BuildResult build(BuildRequest request) { return submit(std::move(request)).get(); }
  // One source compiled for `arch` (sm_XY: a cubin; compute_XY: PTX, in the cubin field) on the
  // same workers and through the same cache, without the static checks (what replay compiles).
  // A compile error, a timeout or a crash: ok false, and why in the log.
  std::future<CompiledKernel> compile_source(std::string source, std::string entry,
                                             std::string arch);
  // Whether the compile cache holds this source's kernel for `arch`.
  bool cached(const std::string& source, const std::string& arch) const;

  const std::string& arch() const;
  const target::Target& target() const;
  int jobs() const;
  CompileCache::Stats cache_stats() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The arch to compile for a target. A real device needs its own arch (chameleon::Error naming
// the toolkit needed otherwise); a simulated target NVRTC cannot compile for is compiled for the
// nearest arch it can, and `warning` says so.
std::string compile_arch_for(const target::Target& t, bool simulated, std::string* warning);

// The compile-free estimate of a kernel's resources: the template's predicted registers, capped
// as __launch_bounds__ caps them (the excess becomes spills), and its static shared memory.
target::Resources estimate_resources(const target::Target& t, const codegen::KernelFeatures& f);

// Compiles one kernel in this process (what a compile worker does).
CompiledKernel compile_kernel(const std::string& source, const std::string& entry,
                              const std::string& arch);

// Compiles one kernel in a compile worker (`__chameleon_worker compile`, NVRTC in a process of its
// own, killed after `timeout_s`). The worker's outcome, and its kernel when it answered.
struct WorkerCompile {
  util::WorkerProcess::Outcome outcome = util::WorkerProcess::Outcome::Ok;
  std::string detail; // why there is no kernel
  CompiledKernel kernel;
};
WorkerCompile compile_in_worker(util::WorkerProcess& worker, const std::string& source,
                                const std::string& entry, const std::string& arch,
                                double timeout_s);

} // namespace chameleon::measure
