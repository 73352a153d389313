// The tuner's settings and parts: options, run ids, and the explorer and sampler of each tuner.
// The tuning itself is in parts a reader can take one at a time:
//   budget.cpp    a task: its trials shared out over the templates that can run it
//   loop.cpp      one template's turn on a task: explore, sample, build and measure, refit
//   search.cpp    the state of that search: resume and transfer intake, the cost model
//   batch.cpp     one batch built and measured, in order
//   schedule.cpp  the tasks over devices and lanes, the time limit, --history
#include "chameleon/tune/tuner.hpp"

#include "chameleon/util/error.hpp"

namespace chameleon::tune {

bool is_current(const Record& r, const codegen::Template& tmpl, const std::string& target,
                const std::string& device_fingerprint) {
  return !r.foreign && r.template_name == tmpl.name() &&
         r.template_fingerprint == tmpl.fingerprint() && r.target == target &&
         r.device_fingerprint == device_fingerprint;
}

std::string run_id(const std::string& what) {
  // One per process and kind of run: what runs (the tuner, "collect") and the first call's time.
  static const auto started = std::chrono::system_clock::now().time_since_epoch().count();
  return what + "-" + std::to_string(started);
}

std::string run_id(const TuneOptions& o) {
  return run_id(o.tuner);
}

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
          {"transfer_trust", transfer_trust(o)},
          {"compile_aware", o.compile_aware},
          {"neighbors", o.neighbors},
          {"sim_prior", o.sim_prior},
          {"sim_feature", o.sim_feature},
          {"time_limit_s", o.time_limit_s},
          {"model", model::to_json(o.model)},
          {"annealing", explore::to_json(o.annealing)},
          {"ppo", explore::to_json(o.ppo)},
          {"adaptive", sample::to_json(o.adaptive)}};
}

const std::vector<std::string>& tuner_names() {
  static const std::vector<std::string> names = {"chameleon", "chameleon-paper", "ae",
                                                 "sa-as",     "autotvm",         "random"};
  return names;
}

int plan_size(const TuneOptions& o) {
  if (o.batch > 0) return o.batch;
  return o.tuner == "autotvm" || o.tuner == "random" || o.tuner == "chameleon-paper" ? 64 : 16;
}

bool transfer_trust(const TuneOptions& o) {
  if (o.transfer_trust >= 0) return o.transfer_trust > 0;
  return o.tuner == "chameleon" || o.tuner == "ae" || o.tuner == "sa-as";
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

} // namespace chameleon::tune
