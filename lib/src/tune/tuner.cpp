#include "chameleon/tune/tuner.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/model/features.hpp"

#include "batch.hpp"
#include "search.hpp"
#include "chameleon/tune/provenance.hpp"
#include "chameleon/tune/status.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace chameleon::tune {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The point `fraction` (at most 1) of the way from now to `deadline`; the deadline once it is past.
Clock::time_point share_of(Clock::time_point deadline, double fraction) {
  const auto now = Clock::now();
  if (now >= deadline || fraction >= 1) return deadline;
  return now + std::chrono::duration_cast<Clock::duration>((deadline - now) * fraction);
}

} // namespace

bool is_current(const Record& r, const codegen::Template& tmpl, const std::string& target,
                const std::string& device_fingerprint) {
  return !r.foreign && r.template_name == tmpl.name() && r.template_fingerprint == tmpl.fingerprint() &&
         r.target == target && r.device_fingerprint == device_fingerprint;
}

std::string run_id(const std::string& what) {
  // One per process and kind of run: what runs (the tuner, "collect") and the first call's time.
  static const auto started = std::chrono::system_clock::now().time_since_epoch().count();
  return what + "-" + std::to_string(started);
}

std::string run_id(const TuneOptions& o) { return run_id(o.tuner); }

nlohmann::json to_json(const TuneOptions& o) {
  return {{"tuner", o.tuner},
          {"templates", o.templates},
          {"allow_tf32", o.allow_tf32},
          {"trials", o.trials},
          {"early_stopping", o.early_stopping},
          {"goal_s", o.goal_s},
          {"batch", plan_size(o)},
          {"seed", o.seed},
          {"epsilon", o.epsilon},
          {"resume", o.resume},
          {"transfer", o.transfer},
          {"transfer_seeds", o.transfer_seeds},
          {"transfer_rows", o.transfer_rows},
          {"time_limit_s", o.time_limit_s},
          {"model", model::to_json(o.model)},
          {"annealing", explore::to_json(o.annealing)},
          {"ppo", explore::to_json(o.ppo)},
          {"adaptive", sample::to_json(o.adaptive)}};
}

const std::vector<std::string>& tuner_names() {
  static const std::vector<std::string> names = {"chameleon", "chameleon-paper", "ae", "sa-as", "autotvm",
                                                  "random"};
  return names;
}

int plan_size(const TuneOptions& o) {
  if (o.batch > 0) return o.batch;
  return o.tuner == "autotvm" || o.tuner == "random" || o.tuner == "chameleon-paper" ? 64 : 16;
}

TunerParts make_tuner(const TuneOptions& o) {
  TunerParts parts;
  if (o.tuner == "chameleon") {
    parts.explorer = std::make_unique<explore::PpoExplorer>(o.ppo);
    parts.sampler = std::make_unique<sample::AdaptiveSampler>(o.adaptive);
  } else if (o.tuner == "chameleon-paper") {
    explore::PpoOptions ppo = o.ppo;
    ppo.unmeasured = false;
    sample::AdaptiveOptions adaptive = o.adaptive;
    adaptive.pick = "nearest";
    adaptive.cluster_knobs = 0;
    parts.explorer = std::make_unique<explore::PpoExplorer>(ppo);
    parts.sampler = std::make_unique<sample::AdaptiveSampler>(adaptive);
  } else if (o.tuner == "ae") {
    parts.explorer = std::make_unique<explore::PpoExplorer>(o.ppo);
    parts.sampler = std::make_unique<sample::GreedySampler>(o.epsilon);
  } else if (o.tuner == "sa-as") {
    parts.explorer = std::make_unique<explore::SimulatedAnnealing>(o.annealing);
    parts.sampler = std::make_unique<sample::AdaptiveSampler>(o.adaptive);
  } else if (o.tuner == "autotvm") {
    parts.explorer = std::make_unique<explore::SimulatedAnnealing>(o.annealing);
    parts.sampler = std::make_unique<sample::GreedySampler>(o.epsilon);
  } else if (o.tuner == "random") {
    parts.sampler = std::make_unique<sample::GreedySampler>(o.epsilon);
  } else {
    std::string known;
    for (const auto& n : tuner_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown tuner '" + o.tuner + "' (known: " + known + ")");
  }
  return parts;
}

TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, int position, int count) {
  TunerParts parts = make_tuner(o);
  return tune_task(t, o, env, parts, position, count);
}

TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, TunerParts& parts,
                      int position, int count) {
  const auto wanted = codegen::templates_for(t.workload, o.templates, o.allow_tf32, env.target.sm());
  std::vector<const codegen::Template*> tmpls;
  std::vector<std::string> declined; // by the device (a recorded one measures only its slices)
  for (const codegen::Template* tmpl : wanted) {
    const std::string why = env.runner.cannot_measure(*tmpl, t.workload);
    if (why.empty()) tmpls.push_back(tmpl);
    else declined.push_back(why);
  }
  const std::string cannot_hold = env.runner.cannot_hold(t.workload);
  if (tmpls.empty() || !cannot_hold.empty()) {
    TaskOutcome out;
    out.task = t;
    out.skipped = !cannot_hold.empty()  ? cannot_hold
                  : !declined.empty() ? util::join(declined, "; ")
                                      : codegen::no_template_reason(t.workload, o.templates);
    spdlog::warn("task {} ({}) skipped: {}", t.index, t.workload.str(), out.skipped);
    env.progress.task_end(out, position, count);
    return out;
  }
  // The trial budget goes where it pays: first every template gets half of an even share (at
  // least one trial), then the rest goes to the template with the fastest kernel so far; what it
  // cannot use (space exhausted, early stop) goes to the next fastest.
  const size_t n = tmpls.size();
  std::vector<TaskOutcome> latest(n); // each template's outcome, counts as of its last call
  TaskOutcome total;
  total.task = t;
  std::vector<std::vector<Record>> measured(n); // this tune's records per template
  auto used = [&] {
    int sum = 0;
    for (const TaskOutcome& part : latest) sum += part.trials; // 0 for a template not run yet
    return sum;
  };
  // With a deadline, a part gets the share of the task's remaining time that its new trials are
  // of the task's remaining trials (the last part: all of it).
  auto run = [&](size_t i, int share) {
    TuneOptions part_options = o;
    part_options.trials = share;
    part_options.clock_offset_s = total.modelled_s;
    if (o.deadline) {
      const int left = std::max(1, o.trials - used());
      const int adds = std::max(0, share - latest[i].trials);
      part_options.deadline = share_of(*o.deadline, double(adds) / double(left));
    }
    TaskOutcome part = tune_template(t, *tmpls[i], part_options, env, parts, position, count, &measured[i]);
    measured[i].insert(measured[i].end(), std::make_move_iterator(part.new_records.begin()),
                       std::make_move_iterator(part.new_records.end()));
    part.new_records.clear();
    // Counts of a later call include the earlier ones (resumed); times and new trials add up.
    total.new_trials += part.new_trials;
    total.wall_s += part.wall_s;
    total.modelled_s += part.modelled_s;
    total.charged = part.charged;
    total.build_wait_s += part.build_wait_s;
    total.measure_s += part.measure_s;
    total.explore_s += part.explore_s;
    total.fit_s += part.fit_s;
    total.sample_s += part.sample_s;
    latest[i] = std::move(part);
  };
  if (n == 1) {
    run(0, o.trials);
  } else {
    const int first = std::max(1, o.trials / int(2 * n));
    auto task_goal_met = [&] {
      for (const TaskOutcome& part : latest) {
        if (goal_met(o, part.best)) return true;
      }
      return false;
    };
    for (size_t i = 0; i < n; ++i) {
      if (util::interrupt_requested() || task_goal_met()) {
        latest[i].template_name = tmpls[i]->name();
        latest[i].stop_reason = util::interrupt_requested() ? kInterrupted : kGoalReached;
        continue;
      }
      run(i, first);
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto& x = latest[a].best;
      const auto& y = latest[b].best;
      if (x && y) return x->seconds() < y->seconds();
      return bool(x) && !y;
    });
    for (size_t i : order) {
      const int left = o.trials - used();
      if (left <= 0) break;
      // Exhausted or stopped early: the next. A first share cut short by its part of a time
      // limit goes on, with the task's time left.
      const std::string& why = latest[i].stop_reason;
      if (why != kBudgetReached && why != kTimeLimitReached) continue;
      if ((o.deadline && Clock::now() >= *o.deadline) || util::interrupt_requested() || task_goal_met()) break;
      run(i, latest[i].trials + left);
    }
  }
  std::vector<std::string> reasons;
  for (size_t i = 0; i < n; ++i) {
    const TaskOutcome& part = latest[i];
    total.trials += part.trials;
    total.invalid += part.invalid;
    total.failed += part.failed;
    if (part.best && (!total.best || part.best->seconds() < total.best->seconds())) {
      total.best = part.best;
      total.best_trial = part.best_trial; // counted within its template's turns
      total.template_name = part.template_name;
    }
    if (total.template_name.empty()) total.template_name = part.template_name;
    reasons.push_back(n > 1 ? part.template_name + ": " + part.stop_reason : part.stop_reason);
  }
  total.stop_reason = util::join(reasons, "; ");
  return total;
}

namespace {

// The progress line of an iteration.
Progress iteration_progress(const TaskOutcome& out, const TuneOptions& o, int position, int count, int iteration,
                            int batch, double elapsed_s) {
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
    if (out.stop_reason = search.stop_reason(); !out.stop_reason.empty()) break;
    const int want = std::min(plan_size(o), o.trials - out.trials);
    auto explore_start = Clock::now();
    const std::vector<explore::Candidate> candidates = search.explore();
    const double explore_s = since(explore_start);
    auto sample_start = Clock::now();
    if (search.seeds_pending() && iteration > 1 && iteration <= kSeedIterations) {
      seeds = search.find_seeds(env.log.snapshot());
    }
    const size_t seeded = std::min(seeds.size(), size_t(want));
    const std::vector<space::Config> batch = search.sample(candidates, want, std::move(seeds));
    seeds.clear();
    const double sample_s = since(sample_start);
    if (batch.empty()) {
      out.stop_reason = kSpaceExhausted;
      break;
    }

    // Records go to the log as they are measured; the tuner takes them in batch order, so that
    // the search does not depend on compile timing.
    charged_s += explore_s + sample_s;
    BatchContext bctx{t, tmpl, search.space(), env, o.tuner, iteration, tune_settings, start, o.clock_offset_s, charged_s};
    BatchCost cost;
    search.take(measure_batch(bctx, batch, cost), batch);
    out.build_wait_s += cost.build_wait_s;
    out.measure_s += cost.measure_s;
    charged_s += cost.charged_s;
    fit_s = search.refit();
    charged_s += fit_s;
    env.log.append_comment("chameleon-iteration " +
                           nlohmann::json({{"run", run_id(o)}, {"task", t.index},
                                           {"workload", t.workload.key()}, {"iteration", iteration},
                                           {"batch", batch.size()}, {"seeded", seeded},
                                           {"explore_s", explore_s},
                                           {"sample_s", sample_s}, {"fit_s", fit_s},
                                           {"elapsed_s", task_clock()}})
                               .dump());
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
  env.log.append_comment(task_end_comment(run_id(o), t, tmpl.name(), env.runner.fingerprint(), out.trials,
                                          out.new_trials, out.stop_reason));
  env.progress.task_end(out, position, count);
  return std::move(out);
}

int auto_lanes(size_t cores, uint64_t gpu_memory, size_t tasks) {
  const size_t per_cores = std::max<size_t>(1, cores / 2);
  const size_t per_memory = gpu_memory == 0 ? 8 : std::max<size_t>(1, size_t(gpu_memory >> 32));
  return int(std::max<size_t>(1, std::min({per_cores, per_memory, tasks, size_t(8)})));
}

std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    TuneEnv& env) {
  std::vector<TuneEnv*> envs = {&env};
  return tune_tasks(tasks, o, envs);
}

std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    const std::vector<TuneEnv*>& envs) {
  if (envs.empty()) throw Error("tune_tasks needs at least one device");
  {
    TunerParts parts = make_tuner(o);
    const TuneEnv& first = *envs.front();
    nlohmann::json header = {{"run", run_id(o)}, {"settings", to_json(o)}, {"devices", envs.size()},
                             {"provenance", run_provenance(first.runner, first.builder, first.target)}};
    header["settings"]["explorer"] = parts.explorer ? parts.explorer->settings() : nlohmann::json();
    header["settings"]["sampler"] = parts.sampler->settings();
    envs.front()->log.append_comment("chameleon-run " + header.dump());
  }
  std::vector<TaskOutcome> out(tasks.size());
  std::vector<char> started(tasks.size(), 0);
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  // A time limit: a task that starts with T seconds left and R tasks not started yet (itself
  // included), W loops side by side, gets T * W / R of them (at most T).
  const std::optional<Clock::time_point> run_deadline =
      o.time_limit_s > 0 ? std::optional<Clock::time_point>(
                               Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(o.time_limit_s)))
                         : std::nullopt;
  auto options_for = [&](size_t i) {
    TuneOptions task_options = o;
    if (run_deadline) task_options.deadline = share_of(*run_deadline, double(envs.size()) / double(tasks.size() - i));
    return task_options;
  };
  // After each task, where the run stands: the tasks left at the mean time of the ended ones
  // that measured (a resumed task ends at once), shared by the loops, within the time limit.
  const auto run_start = Clock::now();
  std::mutex run_mu;
  int ended = 0, measured_tasks = 0;
  double measured_wall = 0;
  auto task_ended = [&](const TaskOutcome& outcome, TuneEnv& env) {
    std::lock_guard<std::mutex> lock(run_mu);
    ++ended;
    if (outcome.new_trials > 0) {
      ++measured_tasks;
      measured_wall += outcome.wall_s;
    }
    RunProgress p;
    p.done = ended;
    p.count = int(tasks.size());
    p.elapsed_s = since(run_start);
    if (measured_tasks > 0 && !util::interrupt_requested()) { // interrupted: nothing more is coming
      p.left_s = double(p.count - ended) * measured_wall / measured_tasks / double(envs.size());
      if (run_deadline) {
        p.left_s = std::min(p.left_s, std::max(0.0, std::chrono::duration<double>(*run_deadline - Clock::now()).count()));
      }
    }
    env.progress.run_progress(p);
  };
  // One worker per device: each takes the next task, with its own explorer and sampler (a PPO
  // agent carries over between the tasks one device tunes).
  auto work = [&](TuneEnv* env) {
    try {
      TunerParts parts = make_tuner(o);
      for (size_t i = next++; i < tasks.size() && !util::interrupt_requested(); i = next++) {
        started[i] = 1;
        out[i] = tune_task(tasks[i], options_for(i), *env, parts, int(i) + 1, int(tasks.size()));
        task_ended(out[i], *env);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = tasks.size();
    }
  };
  if (envs.size() == 1) {
    work(envs.front());
  } else {
    std::vector<std::thread> threads;
    for (TuneEnv* env : envs) threads.emplace_back(work, env);
    for (auto& th : threads) th.join();
  }
  if (error) std::rethrow_exception(error);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (started[i]) continue;
    out[i].task = tasks[i];
    out[i].skipped = "not started: interrupted";
    out[i].stop_reason = kInterrupted;
  }
  return out;
}

} // namespace chameleon::tune
