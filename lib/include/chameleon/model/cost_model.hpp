#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::model {

// AutoTVM's XGBoost cost model settings (xgboost_cost_model.py), every one a flag.
struct ModelOptions {
  std::string loss = "reg"; // "reg" (regression on normalized throughput) or "rank" (pairwise)
  int max_depth = 3;
  double eta = 0.3;
  double gamma = 1e-4;
  double min_child_weight = 1;
  double subsample = 1.0;
  int max_rounds = 8000;
  int early_stopping = 20; // rounds without a better top-k recall on the training set
  int recall_k = 64;       // k of the a-recall@k early-stopping metric (AutoTVM: plan_size)
  // Threads of a fit. One by default: the training sets are small (a task's records), and an
  // OpenMP team's threads spin between XGBoost's many short parallel loops; on cores busy with
  // NVRTC (a GPU host tuning) that made fits several times slower
  // (docs/benchmark-history.md). 0: one per core.
  int threads = 1;
  uint64_t seed = 0;
};
nlohmann::json to_json(const ModelOptions& o);

// Gradient-boosted trees (XGBoost C API) predicting a config's normalized throughput.
class CostModel {
public:
  explicit CostModel(ModelOptions options);
  ~CostModel();
  CostModel(const CostModel&) = delete;
  CostModel& operator=(const CostModel&) = delete;

  // Row-major x (rows x cols), labels y in [0, 1], optional per-row weights (transfer records
  // weigh less). Trains until the top-k recall stops improving; keeps the best round.
  void fit(const std::vector<float>& x, int rows, int cols, const std::vector<float>& y,
           const std::vector<float>& weights = {});
  // One score per row, higher is better; zeros before the first fit.
  std::vector<float> predict(const std::vector<float>& x, int rows, int cols) const;

  bool trained() const { return booster_ != nullptr; }
  int rounds() const { return best_rounds_; }
  const ModelOptions& options() const { return options_; }

private:
  ModelOptions options_;
  void* booster_ = nullptr;
  int best_rounds_ = 0;
};

// AutoTVM's a-recall@k: the mean over i <= k of the share of the top-i predicted rows whose true
// rank is within i.
double average_recall(const std::vector<float>& pred, const std::vector<float>& label, int k);

} // namespace chameleon::model
