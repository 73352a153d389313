#pragma once

#include "chameleon/explore/annealing.hpp"
#include "chameleon/explore/explorer.hpp"
#include "chameleon/explore/ppo.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/model/cost_model.hpp"
#include "chameleon/sample/adaptive.hpp"
#include "chameleon/sample/sampler.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/tune/progress.hpp"
#include "chameleon/tune/tuning_log.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace chameleon::tune {

struct TuneOptions {
  std::string tuner = "chameleon";    // see tuner_names()
  std::vector<std::string> templates; // templates to tune over; empty: every one supporting a task
  bool allow_tf32 = false; // also tune the TF32 tensor-core templates (inputs rounded to TF32)
  int trials = 1000;       // per task, resumed records included
  int early_stopping = 0;  // stop a task after this many trials without improvement; 0: off
  double goal_s = 0;       // stop a task once a kernel this fast (seconds) is found; 0: off
  int batch = 0;           // configs per iteration (AutoTVM's plan_size); 0: the tuner's own,
                           // plan_size()
  uint64_t seed = 0;
  double epsilon = 0.05; // greedy sampling: share of random configs per batch
  bool resume = true;    // current records (this device, toolkit, template) are not measured again;
                         // false (--force): every task is tuned anew, old records seed the model
  bool transfer = true;  // records of other tasks (and --history) warm-start the cost model
  int transfer_seeds = 4; // with transfer: a new task first measures up to this many configs that
                          // were fastest on similar tasks of the same template (0: none)
  int transfer_rows = 0;  // transfer records weigh together at most as much as this many of the
                          // task's own (0: each as much as one, AutoTVM's way)
  // Check transfer against the task's own records: from its 16th record on, the transfer rows
  // weigh as much as a model of them alone ranks the task's records as they measured (Spearman,
  // clipped to [0, 1]). 1: on, 0: off, -1: the tuner's own (transfer_trust()).
  int transfer_trust = -1;
  // Cost-aware sampling: a second model learns each config's compile time from the records' NVRTC
  // seconds (own and transferred), and a candidate's score gains up to this share of the
  // candidates' score spread, the most for the quickest to compile among them: of configs
  // predicted about as fast, those that compile quickly go first. 0: off.
  double compile_aware = 0;
  // A prior from the analytical model: before the cost model has data, the first batch is sampled
  // from this many random valid configs ranked by the sim device's estimate for the target
  // (compile-free: predicted registers), instead of drawn at random. 0: off.
  int sim_prior = 0;
  // The sim device's estimate as a cost-model feature: its throughput for the config on the
  // target (compiled resources when known, predicted registers otherwise) over the target's FP32
  // peak, one more column after the derived figures.
  bool sim_feature = false;
  // Coordinate-descent exploitation (Droplet search's idea): once the cost model is trained, each
  // batch first measures up to this many unmeasured configs one step from one of the four best
  // measured configs along a single knob, those the model ranks highest. 0: off.
  int neighbors = 0;
  double time_limit_s = 0; // wall seconds for all the tasks of a tune_tasks call (0: none); each
                           // task gets its share of what is left when it starts (see tune_tasks)
  // Set by tune_tasks (and tune_task for each template's part): when this task or part stops
  // starting iterations. Unset: no limit.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Set by tune_task for each template's part: the task's time before this part, so that the
  // records' elapsed_s count from the task's start.
  double clock_offset_s = 0;
  model::ModelOptions model;
  explore::AnnealingOptions annealing;
  explore::PpoOptions ppo;
  sample::AdaptiveOptions adaptive;
};
nlohmann::json to_json(const TuneOptions& o);
// Names a tuning run: records carry it, and the run's "# chameleon-run {...}" header line in the
// log holds all its settings.
std::string run_id(const TuneOptions& o);
// The same for another kind of run ("collect"): what, then the process's start time.
std::string run_id(const std::string& what);

// An explorer and a sampler, chosen by the tuner's name:
//   chameleon       = PPO exploration + adaptive sampling (the default; docs/tuning.md says how it
//                     differs from the paper's)
//   chameleon-paper = the same with the paper's settings: PPO's candidates include measured
//                     configs, each cluster of all knobs gives its config nearest the centroid,
//                     batches of up to 64
//   ae              = PPO exploration + greedy sampling
//   sa-as           = simulated annealing + adaptive sampling
//   autotvm         = simulated annealing + greedy sampling (AutoTVM's XGBTuner)
//   random          = uniform random valid configs, no model
struct TunerParts {
  std::unique_ptr<explore::Explorer> explorer; // null: no model-guided exploration
  std::unique_ptr<sample::Sampler> sampler;
};
TunerParts make_tuner(const TuneOptions& o);
const std::vector<std::string>& tuner_names();
// Configs measured per iteration (the first batch is random unless transfer finds a model):
// o.batch, or the tuner's own: 16 for chameleon, ae and sa-as; AutoTVM's 64 for autotvm, random and
// chameleon-paper.
int plan_size(const TuneOptions& o);
// Whether the tune checks transfer against each task's own records: o.transfer_trust, or the
// tuner's own: on for chameleon, ae and sa-as; off for autotvm and chameleon-paper, which keep
// AutoTVM's transfer as published (and random, which has no model).
bool transfer_trust(const TuneOptions& o);

// Where tuning happens and where its results go.
struct TuneEnv {
  target::Target target;
  measure::Builder& builder;
  measure::Runner& runner;
  TuningLog& log;
  std::vector<Record> history; // extra records (--history logs) for transfer
  ProgressSink& progress;
  std::string network; // name written with every record
};

// A log record of config `c` of `space` (the template's space for task `t`, or a slice of it)
// measured with `result`, as a run in `env` writes it: by tuner `tuner`, in batch `iteration`.
Record make_record(const task::Task& t, const codegen::Template& tmpl,
                   const space::ConfigSpace& space, const space::Config& c,
                   measure::MeasureResult result, const TuneEnv& env, const std::string& tuner,
                   int iteration);

// Tunes one task (resuming from the log), appending every measurement to the log. The parts
// (explorer, sampler) carry over from task to task: the PPO agent keeps what it learned.
TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, TunerParts& parts,
                      int position, int count);
TaskOutcome tune_task(const task::Task& t, const TuneOptions& o, TuneEnv& env, int position,
                      int count);
// One template's share of a task (o.trials is the share). `earlier`: records of this template
// and task measured by an earlier call of the same tune, counted as done even with --force.
TaskOutcome tune_template(const task::Task& t, const codegen::Template& tmpl, const TuneOptions& o,
                          TuneEnv& env, TunerParts& parts, int position, int count,
                          const std::vector<Record>* earlier = nullptr);
// The configs that were fastest on other tasks of `tmpl` in `records` (per workload and device:
// the best and the second, the most similar workloads first), as configs of `space`, skipping
// those that do not fit it, fail `valid` or are in `skip`; at most `count`. A task that starts
// without records of its own measures them in its first batch: spaces whose knobs do not depend
// on the shape (the implicit GEMM, depthwise) carry a good config from layer to layer.
std::vector<space::Config> transfer_seeds(const std::vector<const Record*>& records,
                                          const codegen::Template& tmpl,
                                          const task::Conv2dWorkload& wl,
                                          const space::ConfigSpace& space,
                                          const std::function<bool(const space::Config&)>& valid,
                                          const std::unordered_set<int64_t>& skip, size_t count);
// True when a record was made for this target with this device fingerprint and this version of
// the template: such records are up to date; any other is stale (it only seeds the cost model).
bool is_current(const Record& r, const codegen::Template& tmpl, const std::string& target,
                const std::string& device_fingerprint);

} // namespace chameleon::tune
