#include "chameleon/tune/collect.hpp"

#include "batch.hpp"
#include "clock.hpp"
#include "search.hpp"

#include "chameleon/tune/provenance.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <unordered_map>

namespace chameleon::tune {

namespace {

constexpr double kProgressEveryS = 10;

// The slice's records in the log for this device and template version, by config (the last
// record of a config wins).
std::unordered_map<std::string, Record>
recorded_configs(const Slice& s, const space::ConfigSpace& space, const TuneEnv& env) {
  std::unordered_map<std::string, Record> out;
  const codegen::Template& tmpl = s.tmpl();
  const std::string fingerprint = env.runner.fingerprint();
  for (Record& r : env.log.snapshot()) {
    if (r.workload != s.workload || !is_current(r, tmpl, env.target.name, fingerprint)) continue;
    try {
      const std::string key = space.str(space.from_entity(r.entity));
      out[key] = std::move(r);
    } catch (const Error&) {
      // A config outside the slice: the log also holds other measurements of the task.
    }
  }
  return out;
}

void count(CollectOutcome& out, const Record& r) {
  if (r.ok()) {
    ++out.ok;
    if (!out.best || r.seconds() < out.best->seconds()) out.best = r;
  } else if (r.result.error == measure::ErrorNo::Instantiation) {
    ++out.invalid;
  } else {
    ++out.failed;
  }
}

} // namespace

CollectOutcome collect_slice(const Slice& s, const CollectOptions& o, TuneEnv& env) {
  const auto start = Clock::now();
  const codegen::Template& tmpl = s.tmpl();
  const space::ConfigSpace space = s.space();
  CollectOutcome out;
  out.size = space.size();
  const std::vector<space::Config> configs = tunable_configs(s, space, env.target);
  out.tunable = int(configs.size());
  const auto done = recorded_configs(s, space, env);
  std::vector<space::Config> todo;
  for (const space::Config& c : configs) {
    auto it = done.find(space.str(c));
    if (it == done.end()) {
      todo.push_back(c);
    } else {
      ++out.before;
      count(out, it->second);
    }
  }
  std::mt19937_64 rng(o.seed ^ std::hash<std::string>{}(s.name));
  std::shuffle(todo.begin(), todo.end(), rng);
  if (o.limit > 0 && int(todo.size()) > o.limit) todo.resize(size_t(o.limit));
  spdlog::info("slice {}: {} configs, {} that tuning measures, {} recorded, {} to measure now",
               s.name, util::with_commas(out.size), util::with_commas(out.tunable),
               util::with_commas(out.before), util::with_commas(int64_t(todo.size())));
  out.stop = {StopReason::Complete};
  if (todo.empty()) {
    if (!out.complete()) out.stop = {StopReason::CollectLimit};
    return out;
  }

  const std::string run = run_id("collect");
  const nlohmann::json header = {
      {"run", run},
      {"collect", to_json(s)},
      {"settings", {{"seed", o.seed}, {"limit", o.limit}, {"time_limit_s", o.time_limit_s}}},
      {"provenance", run_provenance(env.runner, env.builder, env.target)}};
  env.log.append_comment("chameleon-run " + header.dump());

  const task::Task task{s.task > 0 ? s.task : 1, s.workload, 1, {}, {}};
  const size_t per_batch = size_t(o.batch > 0 ? o.batch : std::max(16, 4 * env.builder.jobs()));
  const nlohmann::json tune_settings = {{"tuner", "collect"}, {"run", run}, {"slice", s.name}};
  auto last_report = start;
  int iteration = 0;
  for (size_t next = 0; next < todo.size();) {
    if (util::interrupt_requested()) {
      out.stop = {StopReason::Interrupted};
      break;
    }
    if (o.time_limit_s > 0 && since(start) >= o.time_limit_s) {
      out.stop = {StopReason::TimeLimit};
      break;
    }
    const size_t end = std::min(todo.size(), next + per_batch);
    std::vector<space::Config> batch(todo.begin() + long(next), todo.begin() + long(end));
    next = end;
    BatchContext ctx{task,        tmpl,          space, env, "collect",
                     ++iteration, tune_settings, start, 0.0, 0.0};
    BatchCost cost;
    for (const Record& r : measure_batch(ctx, batch, cost)) {
      ++out.measured;
      count(out, r);
    }
    if (since(last_report) >= kProgressEveryS || next == todo.size()) {
      last_report = Clock::now();
      const double rate = out.measured / std::max(1e-9, since(start));
      spdlog::info(
          "[collect] {}: {}/{} configs recorded, {:.1f} configs/s, ~{:.1f} min left; best {}",
          s.name, util::with_commas(out.recorded()), util::with_commas(out.tunable), rate,
          double(todo.size() - next) / std::max(rate, 1e-9) / 60.0,
          out.best ? util::fixed(out.best->seconds() * 1e6, 3) + " us" : std::string("none yet"));
    }
  }
  if (out.stop == StopReason::Complete && !out.complete()) out.stop = {StopReason::CollectLimit};
  out.wall_s = since(start);
  return out;
}

} // namespace chameleon::tune
