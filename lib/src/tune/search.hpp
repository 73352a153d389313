#pragma once

#include "chameleon/model/features.hpp"
#include "chameleon/tune/tuner.hpp"

#include "training_set.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace chameleon::tune {

// The stop reasons a template's turn on a task ends with (the log's task-end line keeps the text).

// Whether `best` meets the goal (o.goal_s; a recorded optimum passed through text may be off in
// its last digit).
bool goal_met(const TuneOptions& o, const std::optional<Record>& best);

// One template's search on one task: what tune_template keeps between its steps (the space the
// device can measure, the validity and score caches, the cost model and its training data, the
// configs measured) and the steps themselves. The turn's outcome accumulates in outcome().
class TemplateSearch {
public:
  TemplateSearch(const task::Task& t, const codegen::Template& tmpl, const TuneOptions& o,
                 TuneEnv& env, TunerParts& parts);

  // Resume: this task's records in `snapshot` (the log) made with this device, toolkit and
  // template version are done (unless --force), and so are `earlier` ones (this tune's, from an
  // earlier turn); every other record of the template, and the history, teaches the cost model
  // (transfer). Returns how many were resumed.
  int resume(const std::vector<Record>& snapshot, const std::vector<Record>* earlier);
  // A task that starts afresh first measures what was fastest on similar tasks (transfer_seeds,
  // from `log_records` and the history); pending until some are found.
  bool seeds_pending() const { return seeds_pending_; }
  std::vector<space::Config> find_seeds(const std::vector<Record>& log_records);
  // Fits the cost model on everything considered so far (a tuner without an explorer has none);
  // the seconds it took. With transfer_trust(o), the transfer rows first weigh as much as a model
  // of them alone ranks the task's own records as they measured (check_transfer).
  double refit();
  // The transfer rows' trust (TrainingSet::trust) once checked; unset before, or without
  // transfer_trust(o) or transfer rows.
  std::optional<double> transfer_trust() const {
    return trust_checked_ ? std::optional<double>(training_.trust()) : std::nullopt;
  }
  // Why the turn ends before its next iteration, or "" to go on.
  Stop stop_reason() const;
  // Up to `count` unvisited valid configs one step (one knob, one choice) from one of the four
  // best measured configs, the cost model's highest first, none of them in `skip`; none before
  // the model is trained (TuneOptions::neighbors).
  std::vector<space::Config> neighbors(int count, const std::vector<space::Config>& skip);
  // The explorer's candidates (none before the model is trained).
  std::vector<explore::Candidate> explore();
  // The next batch: `seeds` first (at most `want`), then what the sampler picks from `candidates`.
  std::vector<space::Config> sample(const std::vector<explore::Candidate>& candidates, int want,
                                    std::vector<space::Config> seeds);
  // A measured batch, in batch order.
  void take(std::vector<Record> measured, const std::vector<space::Config>& batch);

  const space::ConfigSpace& space() const { return space_; }
  TaskOutcome& outcome() { return out_; }

private:
  bool valid(const space::Config& c);
  bool valid(const space::Config& c, const codegen::KernelFeatures& f); // c's features known
  std::vector<float> predict(const std::vector<space::Config>& configs);
  // Before the cost model has data: o.sim_prior random valid unvisited configs scored by the sim
  // model's estimate (throughput), best first (none when sim_prior is 0).
  std::vector<explore::Candidate> sim_ranked();
  // The candidates' scores with their predicted compile quickness added (compile_aware).
  std::vector<explore::Candidate> compile_aware(std::vector<explore::Candidate> candidates);
  void consider(const Record& r, const space::Config& c);
  void transfer(const Record& r);
  // transfer_trust: sets the transfer rows' trust from a model of them alone.
  void check_transfer();

  const task::Task& task_;
  const codegen::Template& tmpl_;
  const TuneOptions& o_;
  TuneEnv& env_;
  TunerParts& parts_;
  const space::ConfigSpace space_;
  const model::FeatureExtractor fx_;
  // Explorers ask about the same configs again and again: validity is cached for the task, scores
  // until the model is refitted.
  std::unordered_map<int64_t, bool> valid_cache_;
  std::unordered_map<int64_t, float> score_cache_;
  std::mt19937_64 rng_;
  model::CostModel cost_model_;
  TrainingSet training_;
  // Cost-aware sampling (TuneOptions::compile_aware): labels are quickness, 1 / NVRTC seconds.
  model::CostModel compile_model_;
  TrainingSet compile_training_;
  // transfer_trust: a model of the transfer rows alone (refitted when they have grown by a
  // quarter).
  model::CostModel transfer_model_;
  size_t transfer_model_rows_ = 0;
  bool trust_checked_ = false;
  std::unordered_set<int64_t> visited_;
  std::vector<float> row_;
  std::vector<std::pair<double, space::Config>> measured_ok_;
  // Other workloads' spaces and feature extractors, for transfer.
  std::map<std::string, std::pair<space::ConfigSpace, std::unique_ptr<model::FeatureExtractor>>>
      others_;
  bool seeds_pending_ = false;
  TaskOutcome out_;
};

} // namespace chameleon::tune
