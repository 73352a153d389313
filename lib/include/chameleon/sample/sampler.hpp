#pragma once

#include "chameleon/explore/explorer.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace chameleon::sample {

struct SampleContext {
  const space::ConfigSpace& space;
  std::function<bool(const space::Config&)> valid;
  const std::unordered_set<int64_t>& visited;
  std::mt19937_64& rng;
};

// Chooses the configs to measure next from the explorer's candidates (best first): unvisited,
// statically valid, no duplicates, at most max_batch of them. Fewer only when the valid space is
// exhausted.
class Sampler {
public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;
  virtual std::vector<space::Config> sample(const std::vector<explore::Candidate>& candidates,
                                            int max_batch, SampleContext& ctx) = 0;
  virtual nlohmann::json settings() const = 0;
};

// Spaces up to this size are walked whole when random draws find too few valid configs.
constexpr int64_t kWalkLimit = int64_t(1) << 20;
// Up to `count` random configs that are valid, unvisited and not in `taken` (which grows); fewer
// only when the space has no more (for spaces above kWalkLimit: when random draws find no more).
std::vector<space::Config> random_unvisited(int count, SampleContext& ctx,
                                            std::unordered_set<int64_t>& taken);

// AutoTVM's greedy batch: the best predicted unvisited candidates, with an epsilon share of
// uniformly random configs (AutoTVM: the last 5% of each plan); all random when there are no
// candidates (the first batch, before any model).
class GreedySampler final : public Sampler {
public:
  explicit GreedySampler(double epsilon = 0.05) : epsilon_(epsilon) {}
  std::string name() const override { return "greedy"; }
  std::vector<space::Config> sample(const std::vector<explore::Candidate>& candidates,
                                    int max_batch, SampleContext& ctx) override;
  nlohmann::json settings() const override { return {{"epsilon", epsilon_}}; }

private:
  double epsilon_;
};

} // namespace chameleon::sample
