#pragma once

#include "chameleon/space/config_space.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace chameleon::explore {

// A config the explorer proposes, with the cost model's score (higher is better).
struct Candidate {
  space::Config config;
  float score = 0;
};

// What an explorer may use. `predict` scores a batch of configs with the cost model; `valid` is the
// static check (invalid configs are never proposed).
struct ExploreContext {
  const space::ConfigSpace& space;
  std::function<std::vector<float>(const std::vector<space::Config>&)> predict;
  std::function<bool(const space::Config&)> valid;
  const std::unordered_set<int64_t>& visited;
  std::mt19937_64& rng;
  int plan_size = 64;                    // candidates wanted
  std::vector<space::Config> best_known; // measured configs, best first (starting points)
};

// Walks the design space guided by the cost model and returns statically valid candidates, best
// predicted first, unique. Whether measured configs may be among them is the explorer's choice
// (samplers never pick a measured config).
class Explorer {
public:
  virtual ~Explorer() = default;
  virtual std::string name() const = 0;
  // Called when tuning moves to another task (another space): state tied to the old space goes.
  virtual void begin_task(const space::ConfigSpace& space) = 0;
  virtual std::vector<Candidate> explore(ExploreContext& ctx) = 0;
  virtual nlohmann::json settings() const = 0;
};

} // namespace chameleon::explore
