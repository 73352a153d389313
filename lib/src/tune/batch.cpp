#include "batch.hpp"

#include "chameleon/cuda/nvrtc.hpp"
#include "clock.hpp"

#include "chameleon/util/error.hpp"

#include <algorithm>
#include <future>

namespace chameleon::tune {

namespace {

// A finished build not taken yet, the lowest index first; waits while none is ready.
size_t next_ready(std::vector<std::future<measure::BuildResult>>& builds,
                  std::vector<char>& taken) {
  for (;;) {
    size_t first_pending = builds.size();
    for (size_t i = 0; i < builds.size(); ++i) {
      if (taken[i]) continue;
      if (first_pending == builds.size()) first_pending = i;
      if (builds[i].wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        taken[i] = 1;
        return i;
      }
    }
    if (first_pending == builds.size()) throw Error("internal: no build left to measure");
    builds[first_pending].wait_for(std::chrono::milliseconds(2));
  }
}

} // namespace

Record make_record(const task::Task& t, const codegen::Template& tmpl,
                   const space::ConfigSpace& space, const space::Config& c,
                   measure::MeasureResult result, const TuneEnv& env, const std::string& tuner,
                   int iteration) {
  Record r;
  r.result = std::move(result);
  r.workload = t.workload;
  r.template_name = tmpl.name();
  r.template_fingerprint = tmpl.fingerprint();
  r.target = env.target.name;
  r.arch = env.builder.arch();
  r.nvrtc = cuda::nvrtc_version(cuda::arch_sm(r.arch));
  r.index = space.full_index(c); // a slice's configs are logged by their index in the whole space
  r.entity = space.entity_json(c);
  r.device = env.runner.device_name();
  r.device_fingerprint = env.runner.fingerprint();
  r.tuner = tuner;
  r.iteration = iteration;
  r.network = env.network;
  r.task_index = t.index;
  r.layer_count = t.count;
  return r;
}

std::vector<Record> measure_batch(const BatchContext& ctx, const std::vector<space::Config>& batch,
                                  BatchCost& cost) {
  TuneEnv& env = ctx.env;
  const int charged_jobs = env.runner.charged_compile_jobs();
  std::vector<std::future<measure::BuildResult>> builds;
  for (const auto& c : batch)
    builds.push_back(env.builder.submit({&ctx.tmpl, ctx.task.workload, &ctx.space, c}));
  std::vector<char> taken(batch.size(), 0);
  std::vector<Record> measured(batch.size());
  auto finish = [&](Record& r, double elapsed_s) {
    r.result.settings["tune"] = ctx.tune_settings;
    r.result.settings["tune"]["elapsed_s"] = elapsed_s;
    env.log.append(r);
  };
  for (size_t n = 0; n < batch.size(); ++n) {
    auto wait_start = Clock::now();
    const size_t i = next_ready(builds, taken);
    measure::BuildResult b = builds[i].get();
    cost.build_wait_s += since(wait_start);
    auto run_start = Clock::now();
    measure::MeasureResult result = env.runner.run(ctx.task.workload, b);
    cost.measure_s += since(run_start);
    // A recorded result keeps the compile time it was recorded with.
    if (charged_jobs == 0) result.all_cost = b.compile_seconds + result.run_seconds;
    measured[i] = make_record(ctx.task, ctx.tmpl, ctx.space, batch[i], std::move(result), env,
                              ctx.tuner, ctx.iteration);
    if (charged_jobs == 0) finish(measured[i], ctx.clock_offset_s + since(ctx.started));
  }
  if (charged_jobs > 0) {
    std::vector<double> compile_s, run_s;
    for (const Record& r : measured) {
      compile_s.push_back(r.result.compile_seconds);
      run_s.push_back(r.result.run_seconds);
    }
    const std::vector<double> done = measure::pipeline_finish_times(compile_s, run_s, charged_jobs);
    std::vector<size_t> order(batch.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return done[a] < done[b]; });
    for (size_t i : order) finish(measured[i], ctx.charged_s + done[i]);
    cost.charged_s = done.empty() ? 0.0 : *std::max_element(done.begin(), done.end());
  }
  return measured;
}

} // namespace chameleon::tune
