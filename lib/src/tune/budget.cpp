// A task's trials shared out over the templates that can run it.
#include "chameleon/tune/tuner.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"

#include "clock.hpp"
#include "search.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

namespace chameleon::tune {

TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, int position,
                      int count) {
  TunerParts parts = make_tuner(o);
  return tune_task(t, o, env, parts, position, count);
}

namespace {

// The templates that take the task on this device; none: why, in `skipped`.
std::vector<const codegen::Template*> runnable_templates(const task::Task& t, const TuneOptions& o,
                                                         const TuneEnv& env, std::string& skipped) {
  const auto wanted =
      codegen::templates_for(t.workload, o.templates, o.allow_tf32, env.target.sm());
  std::vector<const codegen::Template*> tmpls;
  std::vector<std::string> declined; // by the device (a recorded one measures only its slices)
  for (const codegen::Template* tmpl : wanted) {
    const std::string why = env.runner.cannot_measure(*tmpl, t.workload);
    if (why.empty())
      tmpls.push_back(tmpl);
    else
      declined.push_back(why);
  }
  const std::string cannot_hold = env.runner.cannot_hold(t.workload);
  if (!cannot_hold.empty()) {
    skipped = cannot_hold;
    return {};
  }
  if (tmpls.empty()) {
    skipped = !declined.empty()
                  ? util::join(declined, "; ")
                  : codegen::no_template_reason(t.workload, o.templates, env.target.sm());
  }
  return tmpls;
}

// A template's turn added to the task's times (its counts include its earlier turns: see
// add_counts).
void add_times(TaskOutcome& total, const TaskOutcome& part) {
  total.new_trials += part.new_trials;
  total.wall_s += part.wall_s;
  total.modelled_s += part.modelled_s;
  total.charged = part.charged;
  total.build_wait_s += part.build_wait_s;
  total.measure_s += part.measure_s;
  total.explore_s += part.explore_s;
  total.fit_s += part.fit_s;
  total.sample_s += part.sample_s;
}

// Each template's last turn added to the task's counts, best kernel and stop reasons.
void add_counts(TaskOutcome& total, const std::vector<TaskOutcome>& latest) {
  for (const TaskOutcome& part : latest) {
    total.trials += part.trials;
    total.invalid += part.invalid;
    total.failed += part.failed;
    if (part.best && (!total.best || part.best->seconds() < total.best->seconds())) {
      total.best = part.best;
      total.best_trial = part.best_trial; // counted within its template's turns
      total.template_name = part.template_name;
    }
    if (total.template_name.empty()) total.template_name = part.template_name;
    if (latest.size() > 1) total.template_stops.emplace_back(part.template_name, part.stop);
  }
  if (latest.size() == 1) total.stop = latest[0].stop;
}

} // namespace

TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, TunerParts& parts,
                      int position, int count) {
  std::string skipped;
  const std::vector<const codegen::Template*> tmpls = runnable_templates(t, o, env, skipped);
  if (tmpls.empty()) {
    TaskOutcome out;
    out.task = t;
    out.skipped = skipped;
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
    TaskOutcome part =
        tune_template(t, *tmpls[i], part_options, env, parts, position, count, &measured[i]);
    measured[i].insert(measured[i].end(), std::make_move_iterator(part.new_records.begin()),
                       std::make_move_iterator(part.new_records.end()));
    part.new_records.clear();
    // Counts of a later call include the earlier ones (resumed); times and new trials add up.
    add_times(total, part);
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
        latest[i].stop = {util::interrupt_requested() ? StopReason::Interrupted : StopReason::Goal};
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
      const Stop why = latest[i].stop;
      if (why != StopReason::TrialBudget && why != StopReason::TimeLimit) continue;
      if ((o.deadline && Clock::now() >= *o.deadline) || util::interrupt_requested() ||
          task_goal_met())
        break;
      run(i, latest[i].trials + left);
    }
  }
  add_counts(total, latest);
  return total;
}

} // namespace chameleon::tune
