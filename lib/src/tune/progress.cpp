#include "chameleon/tune/progress.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <mutex>

namespace chameleon::tune {

std::string TaskOutcome::stop_text() const {
  if (template_stops.empty()) return to_text(stop);
  std::vector<std::string> parts;
  for (const auto& [name, s] : template_stops) parts.push_back(name + ": " + to_text(s));
  return util::join(parts, "; ");
}

bool TaskOutcome::interrupted() const {
  if (stop == StopReason::Interrupted) return true;
  for (const auto& ts : template_stops) {
    if (ts.second == StopReason::Interrupted) return true;
  }
  return false;
}

namespace {

std::string duration(double s) {
  if (s < 90) return util::fixed(s, 0) + " s";
  if (s < 5400) return util::fixed(s / 60, 1) + " min";
  return util::fixed(s / 3600, 1) + " h";
}

// One fprintf per line: stdio locks the stream, so lines from several threads do not mix.
class TextProgress final : public ProgressSink {
public:
  void task_start(const task::Task& t, const std::string& tmpl, int position, int count,
                  int resumed) override {
    std::fprintf(stderr, "[task %d/%d] #%d %s (x%d), %s%s\n", position, count, t.index,
                 t.workload.str().c_str(), t.count, tmpl.c_str(),
                 resumed > 0 ? (", resuming from " + std::to_string(resumed) + " records").c_str()
                             : "");
  }
  void iteration(const Progress& p) override {
    std::string best = p.best_seconds > 0 ? util::fixed(p.best_seconds * 1e6, 2) + " us (" +
                                                util::fixed(p.best_gflops, 0) + " GFLOPS)"
                                          : "none yet";
    std::fprintf(
        stderr,
        "[task %d/%d] iter %d: %d/%d trials, best %s, %d invalid, %d failed, %s elapsed, ~%s "
        "left; explore %.2f s, fit %.2f s\n",
        p.position, p.count, p.iteration, p.trials, p.target_trials, best.c_str(), p.invalid,
        p.failed, duration(p.elapsed_s).c_str(), duration(p.task_left_s).c_str(), p.explore_s,
        p.fit_s);
  }
  void task_end(const TaskOutcome& o, int position, int count) override {
    if (!o.skipped.empty()) {
      std::fprintf(stderr, "[task %d/%d] #%d skipped: %s\n", position, count, o.task.index,
                   o.skipped.c_str());
      return;
    }
    // A task tuned over several templates ends one line per template's turn: name it.
    std::fprintf(stderr, "[task %d/%d] %s done: %d trials (%d new), %s in %s%s\n", position, count,
                 o.template_name.c_str(), o.trials, o.new_trials, o.stop_text().c_str(),
                 duration(o.wall_s).c_str(),
                 o.charged ? (" (" + duration(o.modelled_s) + " charged as recorded)").c_str()
                           : "");
  }
  void run_progress(const RunProgress& r) override {
    if (r.done >= r.count) return; // the summary follows
    std::fprintf(stderr, "[run] %d/%d tasks done, %s elapsed%s\n", r.done, r.count,
                 duration(r.elapsed_s).c_str(),
                 r.left_s >= 0 ? (", ~" + duration(r.left_s) + " left").c_str() : "");
  }
};

class JsonProgress final : public ProgressSink {
public:
  void task_start(const task::Task& t, const std::string& tmpl, int position, int count,
                  int resumed) override {
    emit({{"event", "task_start"},
          {"position", position},
          {"count", count},
          {"task", t.index},
          {"template", tmpl},
          {"workload", t.workload.str()},
          {"resumed", resumed}});
  }
  void iteration(const Progress& p) override {
    emit({{"event", "iteration"},
          {"position", p.position},
          {"count", p.count},
          {"task", p.task_index},
          {"iteration", p.iteration},
          {"batch", p.batch},
          {"trials", p.trials},
          {"target_trials", p.target_trials},
          {"best_seconds", p.best_seconds},
          {"best_gflops", p.best_gflops},
          {"invalid", p.invalid},
          {"failed", p.failed},
          {"elapsed_s", p.elapsed_s},
          {"task_left_s", p.task_left_s},
          {"explore_s", p.explore_s},
          {"fit_s", p.fit_s},
          {"sample_s", p.sample_s}});
  }
  void task_end(const TaskOutcome& o, int position, int count) override {
    nlohmann::json j = {{"event", "task_end"},  {"position", position},
                        {"count", count},       {"task", o.task.index},
                        {"trials", o.trials},   {"new_trials", o.new_trials},
                        {"skipped", o.skipped}, {"stop_reason", o.stop_text()},
                        {"wall_s", o.wall_s},   {"modelled_s", o.modelled_s}};
    if (o.best) j["best_seconds"] = o.best->seconds();
    emit(j);
  }
  void run_progress(const RunProgress& r) override {
    nlohmann::json j = {
        {"event", "run"}, {"done", r.done}, {"count", r.count}, {"elapsed_s", r.elapsed_s}};
    j["left_s"] = r.left_s >= 0 ? nlohmann::json(r.left_s) : nlohmann::json();
    emit(j);
  }

private:
  // Tasks tuned on several GPUs report from several threads: one line at a time.
  void emit(const nlohmann::json& j) {
    std::lock_guard<std::mutex> lock(mu_);
    std::cout << j.dump() << std::endl;
  }
  std::mutex mu_;
};

class NoProgress final : public ProgressSink {
public:
  void task_start(const task::Task&, const std::string&, int, int, int) override {}
  void iteration(const Progress&) override {}
  void task_end(const TaskOutcome&, int, int) override {}
};

} // namespace

std::unique_ptr<ProgressSink> make_progress(const std::string& mode) {
  if (mode == "text") return std::make_unique<TextProgress>();
  if (mode == "json") return std::make_unique<JsonProgress>();
  if (mode == "none") return std::make_unique<NoProgress>();
  throw Error("unknown progress mode '" + mode + "' (text, json or none)");
}

} // namespace chameleon::tune
