#pragma once

#include "chameleon/explore/explorer.hpp"

namespace chameleon::explore {

// AutoTVM v0.6's SimulatedAnnealingOptimizer, every setting a flag.
struct AnnealingOptions {
  int parallel = 128;  // chains
  int steps = 500;     // at most, per exploration
  int early_stop = 50; // steps without a change of the kept top set
  double temp_start = 1.0;
  double temp_end = 0.0;
  bool persistent = true; // chains continue from where the last exploration left them
};
nlohmann::json to_json(const AnnealingOptions& o);

// Parallel chains of random single-knob changes, accepted with probability
// exp(min((new - old) / T, 1)), T cooling linearly; a heap keeps the plan_size best unvisited,
// valid points seen.
class SimulatedAnnealing final : public Explorer {
public:
  explicit SimulatedAnnealing(AnnealingOptions options) : options_(options) {}
  std::string name() const override { return "annealing"; }
  void begin_task(const space::ConfigSpace&) override { chains_.clear(); }
  std::vector<Candidate> explore(ExploreContext& ctx) override;
  nlohmann::json settings() const override { return to_json(options_); }

private:
  AnnealingOptions options_;
  std::vector<space::Config> chains_;
};

} // namespace chameleon::explore
