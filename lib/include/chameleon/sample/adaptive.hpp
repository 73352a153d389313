#pragma once

#include "chameleon/sample/kmeans.hpp"
#include "chameleon/sample/sampler.hpp"

namespace chameleon::sample {

// Chameleon's adaptive sampling; k and the knee are the paper's values, pick and cluster_knobs
// what the replay benchmark chose (docs/tuning.md). Every field is a flag.
struct AdaptiveOptions {
  int k_min = 8, k_max = 64, k_step = 8; // k = 8, 16, ..., 64
  double threshold = 2.5;                // knee: threshold x loss(k) >= loss(previous k)
  // Which candidate stands for a cluster: "nearest" (to its centroid, the paper's rule) or "best"
  // (the cluster's best-scored unmeasured one: the cost model picks within the cluster).
  std::string pick = "best";
  // Knobs the clustering sees: 0 = all; N = the N knobs with the most values (Chameleon's code
  // clusters the two widest).
  int cluster_knobs = 2;
  // Share of each batch drawn at random (AutoTVM's epsilon), rounded down; 0: none.
  double epsilon = 0;
};
nlohmann::json to_json(const AdaptiveOptions& o);

// k-means over the candidates in normalized knob space for k = 8, 16, ..., 64, stopping at the
// knee of the loss curve; each centroid is snapped to the nearest candidate (duplicates dropped).
// Sample synthesis: a chosen config already measured is replaced by the configuration of each
// knob's most frequent value among the candidates, or, if that was measured too, the next most
// frequent combination. The batch adapts to how clustered the candidates are (8 to 64).
class AdaptiveSampler final : public Sampler {
public:
  // Throws chameleon::Error on options that cannot sample (k below 1, a step below 1).
  explicit AdaptiveSampler(AdaptiveOptions options = {});
  std::string name() const override { return "adaptive"; }
  std::vector<space::Config> sample(const std::vector<explore::Candidate>& candidates,
                                    int max_batch, SampleContext& ctx) override;
  nlohmann::json settings() const override { return to_json(options_); }
  int last_k() const { return last_k_; }

private:
  AdaptiveOptions options_;
  int last_k_ = 0;
};

// Sample synthesis: the most frequent combination of knob values among `configs` that is valid,
// unvisited and not in `taken`, trying combinations in order of their rank sum; nullopt when none
// is found within a bounded search.
std::optional<space::Config> synthesize(const std::vector<space::Config>& configs,
                                        SampleContext& ctx,
                                        const std::unordered_set<int64_t>& taken);

} // namespace chameleon::sample
