// One template's turn on a task: the Chameleon loop (explore, sample, build and measure, refit)
// until a stop condition holds.
#include "chameleon/tune/tuner.hpp"

#include "chameleon/tune/status.hpp"

#include "batch.hpp"
#include "clock.hpp"
#include "search.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace chameleon::tune {

namespace {

// The progress line of an iteration.
Progress iteration_progress(const TaskOutcome& out, const TuneOptions& o, int position, int count,
                            int iteration, int batch, double elapsed_s) {
  Progress p;
  p.position = position;
  p.count = count;
  p.task_index = out.task.index;
  p.workload = out.task.workload.str();
  p.iteration = iteration;
  p.batch = batch;
  p.trials = out.trials;
  p.target_trials = o.trials;
  p.new_trials = out.new_trials;
  if (out.best) {
    p.best_seconds = out.best->seconds();
    p.best_gflops = double(out.task.workload.flops()) / p.best_seconds / 1e9;
  }
  p.invalid = out.invalid;
  p.failed = out.failed;
  p.elapsed_s = elapsed_s;
  p.task_left_s = p.elapsed_s / std::max(1, out.new_trials) * (o.trials - out.trials);
  return p;
}

} // namespace

TaskOutcome tune_template(const task::Task& t, const codegen::Template& tmpl, const TuneOptions& o,
                          TuneEnv& env, TunerParts& parts, int position, int count,
                          const std::vector<Record>* earlier) {
  const auto start = Clock::now();
  TemplateSearch search(t, tmpl, o, env, parts);
  TaskOutcome& out = search.outcome();
  // A task that starts afresh first measures what was fastest on similar tasks. Tasks tuned side
  // by side (lanes, devices) may find none at the start: the first iterations look again.
  constexpr int kSeedIterations = 4;
  std::vector<space::Config> seeds;
  int resumed = 0;
  {
    const std::vector<Record> snapshot = env.log.snapshot(); // a copy of the whole log: not kept
    resumed = search.resume(snapshot, earlier);
    if (search.seeds_pending()) seeds = search.find_seeds(snapshot);
  }
  env.progress.task_start(t, tmpl.name(), position, count, resumed);
  double fit_s = search.refit();
  out.fit_s += fit_s;
  // On a recorded device the task's clock is charged: the tuner's own work as it took here, and
  // each batch's compiles and measurements as the recording host spent them.
  const bool charged = env.runner.charged_compile_jobs() > 0;
  double charged_s = o.clock_offset_s + fit_s;
  auto task_clock = [&] { return charged ? charged_s : o.clock_offset_s + since(start); };

  // Every record names its run; the run's header line in the log holds all hyperparameters.
  const nlohmann::json tune_settings = {{"tuner", o.tuner}, {"run", run_id(o)}};
  for (int iteration = 1;; ++iteration) {
    if (out.stop = search.stop_reason(); out.stop.stopped()) break;
    const int want = std::min(plan_size(o), o.trials - out.trials);
    auto explore_start = Clock::now();
    const std::vector<explore::Candidate> candidates = search.explore();
    const double explore_s = since(explore_start);
    auto sample_start = Clock::now();
    if (search.seeds_pending() && iteration > 1 && iteration <= kSeedIterations) {
      seeds = search.find_seeds(env.log.snapshot());
    }
    const size_t seeded = std::min(seeds.size(), size_t(want));
    // Coordinate descent around the best configs, after any transfer seeds.
    const std::vector<space::Config> around =
        search.neighbors(std::min(o.neighbors, want - int(seeded)), seeds);
    seeds.insert(seeds.end(), around.begin(), around.end());
    const std::vector<space::Config> batch = search.sample(candidates, want, std::move(seeds));
    seeds.clear();
    const double sample_s = since(sample_start);
    if (batch.empty()) {
      out.stop = {StopReason::SpaceExhausted};
      break;
    }

    // Records go to the log as they are measured; the tuner takes them in batch order, so that
    // the search does not depend on compile timing.
    charged_s += explore_s + sample_s;
    BatchContext bctx{t,
                      tmpl,
                      search.space(),
                      env,
                      o.tuner,
                      iteration,
                      tune_settings,
                      start,
                      o.clock_offset_s,
                      charged_s};
    BatchCost cost;
    search.take(measure_batch(bctx, batch, cost), batch);
    out.build_wait_s += cost.build_wait_s;
    out.measure_s += cost.measure_s;
    charged_s += cost.charged_s;
    fit_s = search.refit();
    charged_s += fit_s;
    nlohmann::json comment = {{"run", run_id(o)},
                              {"task", t.index},
                              {"workload", t.workload.key()},
                              {"iteration", iteration},
                              {"batch", batch.size()},
                              {"seeded", seeded},
                              {"neighbors", around.size()},
                              {"explore_s", explore_s},
                              {"sample_s", sample_s},
                              {"fit_s", fit_s},
                              {"elapsed_s", task_clock()}};
    if (auto trust = search.transfer_trust()) comment["transfer_trust"] = *trust;
    env.log.append_comment("chameleon-iteration " + comment.dump());
    out.explore_s += explore_s;
    out.sample_s += sample_s;
    out.fit_s += fit_s;
    Progress p = iteration_progress(out, o, position, count, iteration, int(batch.size()),
                                    task_clock() - o.clock_offset_s);
    p.explore_s = explore_s;
    p.fit_s = fit_s;
    p.sample_s = sample_s;
    env.progress.iteration(p);
  }
  out.wall_s = since(start);
  out.modelled_s = task_clock() - o.clock_offset_s;
  out.charged = charged;
  // How this template's turn ended, for status: an interrupted task is unfinished.
  env.log.append_comment(task_end_comment(run_id(o), t, tmpl.name(), env.runner.fingerprint(),
                                          out.trials, out.new_trials, out.stop));
  env.progress.task_end(out, position, count);
  return std::move(out);
}

} // namespace chameleon::tune
