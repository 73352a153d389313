#include "chameleon/tune/tuner.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/model/features.hpp"

#include "batch.hpp"
#include "training_set.hpp"
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

// Bound on the validity and score caches of one task.
constexpr size_t kMaxCached = 2'000'000;

// Whether `best` meets the goal (o.goal_s; a recorded optimum passed through text may be off by
// its last digit).
bool goal_met(const TuneOptions& o, const std::optional<Record>& best) {
  return o.goal_s > 0 && best && best->seconds() <= o.goal_s * (1 + 1e-9);
}
constexpr const char* kGoalReached = "goal reached";

double throughput(const Record& r) {
  return r.ok() && r.seconds() > 0 ? double(r.workload.flops()) / r.seconds() : 0.0;
}

} // namespace

bool is_current(const Record& r, const codegen::Template& tmpl, const std::string& target,
                const std::string& device_fingerprint) {
  return !r.foreign && r.template_name == tmpl.name() && r.template_fingerprint == tmpl.fingerprint() &&
         r.target == target && r.device_fingerprint == device_fingerprint;
}

namespace {

// The fastest configs, best first: where PPO episodes start.
std::vector<space::Config> best_first(std::vector<std::pair<double, space::Config>> measured, size_t count) {
  std::sort(measured.begin(), measured.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<space::Config> out;
  for (size_t i = 0; i < measured.size() && i < count; ++i) out.push_back(measured[i].second);
  return out;
}

} // namespace

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
          {"batch", o.batch},
          {"seed", o.seed},
          {"epsilon", o.epsilon},
          {"resume", o.resume},
          {"transfer", o.transfer},
          {"transfer_seeds", o.transfer_seeds},
          {"time_limit_s", o.time_limit_s},
          {"model", model::to_json(o.model)},
          {"annealing", explore::to_json(o.annealing)},
          {"ppo", explore::to_json(o.ppo)},
          {"adaptive", sample::to_json(o.adaptive)}};
}

const std::vector<std::string>& tuner_names() {
  static const std::vector<std::string> names = {"chameleon", "ae", "sa-as", "autotvm", "random"};
  return names;
}

TunerParts make_tuner(const TuneOptions& o) {
  TunerParts parts;
  if (o.tuner == "chameleon") {
    parts.explorer = std::make_unique<explore::PpoExplorer>(o.ppo);
    parts.sampler = std::make_unique<sample::AdaptiveSampler>(o.adaptive);
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
      if (why != "trial budget reached" && why != "time limit reached") continue;
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

TaskOutcome tune_template(const task::Task& t, const codegen::Template& tmpl_ref, const TuneOptions& o,
                          TuneEnv& env, TunerParts& parts, int position, int count,
                          const std::vector<Record>* earlier) {
  const auto start = Clock::now();
  TaskOutcome out;
  out.task = t;
  const codegen::Template* tmpl = &tmpl_ref;
  out.template_name = tmpl->name();
  const space::ConfigSpace space = env.runner.measurable_space(*tmpl, t.workload);
  const model::FeatureExtractor fx(*tmpl, t.workload, space, env.target);
  // Explorers ask about the same configs again and again: validity is cached for the task, scores
  // until the model is refitted.
  std::unordered_map<int64_t, bool> valid_cache;
  auto valid = [&](const space::Config& c) {
    auto it = valid_cache.find(c.index);
    if (it != valid_cache.end()) return it->second;
    if (valid_cache.size() > kMaxCached) valid_cache.clear();
    // A config that makes the same kernel as another (KernelFeatures::duplicate) is left to it.
    const bool ok = codegen::tunable(env.target, tmpl->features(t.workload, space, c));
    valid_cache.emplace(c.index, ok);
    return ok;
  };
  std::mt19937_64 rng(o.seed ^ std::hash<std::string>{}(t.workload.key()));
  if (parts.explorer) parts.explorer->begin_task(space);
  model::CostModel cost_model(o.model);
  TrainingSet training(fx.size());
  std::unordered_set<int64_t> visited;
  std::vector<float> row(size_t(fx.size()));

  std::vector<std::pair<double, space::Config>> measured_ok;
  auto consider = [&](const Record& r, const space::Config& c) {
    ++out.trials;
    if (r.ok()) measured_ok.emplace_back(r.seconds(), c);
    if (r.result.error == measure::ErrorNo::Instantiation) ++out.invalid;
    else if (!r.ok()) ++out.failed;
    if (r.ok() && (!out.best || r.seconds() < out.best->seconds())) {
      out.best = r;
      out.best_trial = out.trials;
    }
    fx.extract(c, &r.result.resources, row.data());
    training.add_own(row.data(), throughput(r));
  };

  // Resume: this task's records measured on this device are done; other records teach the model
  // (transfer): other tasks of the template, and this task on other devices or from AutoTVM.
  std::map<std::string, std::pair<space::ConfigSpace, std::unique_ptr<model::FeatureExtractor>>> others;
  auto transfer = [&](const Record& r) {
    if (!o.transfer || r.template_name != tmpl->name()) return;
    const std::string key = r.workload.key();
    auto it = others.find(key);
    if (it == others.end()) {
      it = others.emplace(key, std::make_pair(tmpl->make_space(r.workload), nullptr)).first;
      it->second.second =
          std::make_unique<model::FeatureExtractor>(*tmpl, r.workload, it->second.first, env.target);
    }
    try {
      space::Config c = it->second.first.from_entity(r.entity);
      std::vector<float> f(size_t(fx.size()));
      it->second.second->extract(c, r.foreign ? nullptr : &r.result.resources, f.data());
      // Labels are relative to the best of the same workload on the same device.
      training.add_transfer(key + "@" + r.device, std::move(f), throughput(r));
    } catch (const Error&) {
      // A record whose config does not fit this template's space teaches nothing.
    }
  };
  int resumed = 0;
  const std::string fingerprint = env.runner.fingerprint();
  std::vector<Record> snapshot = env.log.snapshot(); // released once the seeds are chosen
  for (const Record& r : snapshot) {
    // Records of this task made with this device, toolkit and template are done (unless --force);
    // every other record of the template seeds the cost model.
    const bool mine = r.workload == t.workload && is_current(r, *tmpl, env.target.name, fingerprint);
    if (!mine || !o.resume) {
      transfer(r);
      continue;
    }
    try {
      space::Config c = space.from_entity(r.entity);
      if (!visited.insert(c.index).second) continue;
      consider(r, c);
      ++resumed;
    } catch (const Error& e) {
      spdlog::warn("{}: ignoring a record of task {}: {}", env.log.path(), t.index, e.what());
    }
  }
  if (earlier != nullptr) {
    for (const Record& r : *earlier) {
      space::Config c = space.from_entity(r.entity);
      if (!visited.insert(c.index).second) continue; // resumed from the log already
      consider(r, c);
      ++resumed;
    }
  }
  for (const Record& r : env.history) transfer(r);
  // A task that starts afresh first measures what was fastest on similar tasks. Tasks tuned side
  // by side (lanes, devices) may find none at the start: the first iterations look again.
  constexpr int kSeedIterations = 4;
  bool seed_pending = o.transfer && o.transfer_seeds > 0 && out.trials == 0;
  auto find_seeds = [&](const std::vector<Record>& log_records) {
    std::vector<const Record*> pool;
    for (const Record& r : log_records) pool.push_back(&r);
    for (const Record& r : env.history) pool.push_back(&r);
    auto found = transfer_seeds(pool, *tmpl, t.workload, space, valid, visited, size_t(o.transfer_seeds));
    if (!found.empty()) {
      spdlog::debug("task {} {}: {} configs from similar tasks first", t.index, tmpl->name(), found.size());
      seed_pending = false;
    }
    return found;
  };
  std::vector<space::Config> seeds;
  if (seed_pending) seeds = find_seeds(snapshot);
  std::vector<Record>().swap(snapshot); // a copy of the whole log: not kept for the whole task
  env.progress.task_start(t, tmpl->name(), position, count, resumed);

  const double flops = double(t.workload.flops());
  std::unordered_map<int64_t, float> score_cache;
  auto predict = [&](const std::vector<space::Config>& configs) {
    if (score_cache.size() > kMaxCached) score_cache.clear();
    std::vector<space::Config> fresh;
    std::unordered_set<int64_t> queued;
    for (const auto& c : configs) {
      if (!score_cache.count(c.index) && queued.insert(c.index).second) fresh.push_back(c);
    }
    if (!fresh.empty()) {
      std::vector<float> scores = cost_model.predict(fx.matrix(fresh), int(fresh.size()), fx.size());
      for (size_t i = 0; i < fresh.size(); ++i) score_cache[fresh[i].index] = scores[i];
    }
    std::vector<float> out;
    out.reserve(configs.size());
    for (const auto& c : configs) out.push_back(score_cache.at(c.index));
    return out;
  };
  auto refit = [&]() {
    if (!parts.explorer) return 0.0;
    auto fit_start = Clock::now();
    training.fit(cost_model);
    score_cache.clear();
    return since(fit_start);
  };
  double fit_s = refit();
  out.fit_s += fit_s;
  // On a recorded device the task's clock is charged: the tuner's own work as it took here, and
  // each batch's compiles and measurements as the recording host spent them.
  const bool charged = env.runner.charged_compile_jobs() > 0;
  double charged_s = o.clock_offset_s + fit_s;
  auto task_clock = [&] { return charged ? charged_s : o.clock_offset_s + since(start); };

  // Every record names its run; the run's header line in the log holds all hyperparameters.
  const nlohmann::json tune_settings = {{"tuner", o.tuner}, {"run", run_id(o)}};
  int iteration = 0;
  out.stop_reason = "trial budget reached";
  while (out.trials < o.trials) {
    if (util::interrupt_requested()) {
      out.stop_reason = kInterrupted;
      break;
    }
    // Past the deadline, a template that has something for this task stops; one that has nothing
    // yet still measures one batch, so that every task gets kernels to choose from.
    if (o.deadline && out.trials > 0 && Clock::now() >= *o.deadline) {
      out.stop_reason = "time limit reached";
      break;
    }
    if (goal_met(o, out.best)) {
      out.stop_reason = kGoalReached;
      break;
    }
    if (o.early_stopping > 0 && out.best && out.trials - out.best_trial >= o.early_stopping) {
      out.stop_reason = "early stopping (" + std::to_string(o.early_stopping) + " trials without improvement)";
      break;
    }
    ++iteration;
    const int want = std::min(o.batch, o.trials - out.trials);

    auto explore_start = Clock::now();
    std::vector<explore::Candidate> candidates;
    if (parts.explorer && cost_model.trained()) {
      std::vector<space::Config> best_known = best_first(measured_ok, 32);
      explore::ExploreContext ctx{space, predict, valid, visited, rng, o.batch, best_known};
      candidates = parts.explorer->explore(ctx);
    }
    const double explore_s = since(explore_start);
    auto sample_start = Clock::now();
    sample::SampleContext sctx{space, valid, visited, rng};
    if (seed_pending && iteration > 1 && iteration <= kSeedIterations) seeds = find_seeds(env.log.snapshot());
    if (int(seeds.size()) > want) seeds.resize(size_t(want));
    for (const auto& c : seeds) visited.insert(c.index); // not sampled again
    const size_t seeded = seeds.size();
    std::vector<space::Config> batch;
    if (want > int(seeded)) batch = parts.sampler->sample(candidates, want - int(seeded), sctx);
    batch.insert(batch.begin(), seeds.begin(), seeds.end());
    seeds.clear();
    const double sample_s = since(sample_start);
    if (batch.empty()) {
      out.stop_reason = "design space exhausted";
      break;
    }

    // Records go to the log as they are measured; the tuner takes them in batch order, so that
    // the search does not depend on compile timing.
    charged_s += explore_s + sample_s;
    BatchContext bctx{t, *tmpl, space, env, o.tuner, iteration, tune_settings, start, o.clock_offset_s, charged_s};
    BatchCost cost;
    std::vector<Record> measured = measure_batch(bctx, batch, cost);
    out.build_wait_s += cost.build_wait_s;
    out.measure_s += cost.measure_s;
    charged_s += cost.charged_s;
    for (size_t i = 0; i < batch.size(); ++i) {
      visited.insert(batch[i].index);
      ++out.new_trials;
      consider(measured[i], batch[i]);
      out.new_records.push_back(std::move(measured[i]));
    }
    fit_s = refit();
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

    Progress p;
    p.position = position;
    p.count = count;
    p.task_index = t.index;
    p.workload = t.workload.str();
    p.iteration = iteration;
    p.batch = int(batch.size());
    p.trials = out.trials;
    p.target_trials = o.trials;
    p.new_trials = out.new_trials;
    if (out.best) {
      p.best_seconds = out.best->seconds();
      p.best_gflops = flops / p.best_seconds / 1e9;
    }
    p.invalid = out.invalid;
    p.failed = out.failed;
    p.elapsed_s = task_clock() - o.clock_offset_s;
    p.task_left_s = p.elapsed_s / std::max(1, out.new_trials) * (o.trials - out.trials);
    p.explore_s = explore_s;
    p.fit_s = fit_s;
    p.sample_s = sample_s;
    env.progress.iteration(p);
  }
  out.wall_s = since(start);
  out.modelled_s = task_clock() - o.clock_offset_s;
  out.charged = charged;
  // How this template's turn ended, for status: an interrupted task is unfinished.
  env.log.append_comment(task_end_comment(run_id(o), t, tmpl->name(), fingerprint, out.trials, out.new_trials,
                                          out.stop_reason));
  env.progress.task_end(out, position, count);
  return out;
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
