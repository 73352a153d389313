#pragma once

#include "chameleon/explore/explorer.hpp"

#include <future>
#include <memory>

namespace chameleon::explore {

// Chameleon's adaptive exploration; defaults are the paper's values. Every field is a flag.
struct PpoOptions {
  int episodes = 128;   // run together, one cost-model prediction per step for all
  int steps = 500;      // at most, per episode
  double lr = 1e-3;     // Adam
  double gamma = 0.9;   // discount
  double lambda = 0.99; // GAE parameter
  int epochs = 3;       // PPO epochs per exploration
  double clip = 0.3;    // clipped surrogate
  double value_coef = 1.0;
  double entropy_coef = 0.1;
  int hidden = 64;             // units of the shared layer and of each head
  int minibatch = 32;          // transitions per gradient step, drawn with replacement
  int minibatches = 0;         // gradient steps per epoch; 0: one per episode (Chameleon's code
                               // updates once per trajectory, one minibatch per epoch)
  double stay_fraction = 0.75; // an episode ends when at least this share of knobs stays
  double best_starts = 0.25;   // share of episodes starting from the best measured configs
  int candidates = 256;        // size of the candidate set S handed to the sampler
  bool unmeasured = true;      // S holds unmeasured configs only (Chameleon's code keeps the top 64
                               // unmeasured); false: measured ones too, as the paper's S
  bool keep_agent = true;      // the next task starts from this task's agent (same knob count)
};
nlohmann::json to_json(const PpoOptions& o);

// What one exploration did, for tests and progress.
struct PpoStats {
  int64_t transitions = 0;
  double mean_reward = 0;      // over all transitions
  double mean_final_score = 0; // score of the configs the episodes ended in
  double policy_loss = 0, value_loss = 0, entropy = 0;
  double rollout_seconds = 0; // the episodes, predictions included
  double train_seconds = 0;   // the PPO update (in the background)
};

// An actor-critic agent (LibTorch) whose first layer is shared by the policy and the value
// network. Its input is the configuration (knob positions normalized to [0, 1]); its policy moves
// every knob down, nowhere or up along the knob's ordered choices; the cost model's prediction
// of the new configuration is the reward (0 for a statically invalid one). Trained with PPO
// (clipped surrogate, GAE, value loss, entropy bonus) after every exploration, it keeps learning
// across the iterations of a task. The explored configurations, best predicted first, are the
// candidates (measured ones included: the sampler's synthesis replaces those).
class PpoExplorer final : public Explorer {
public:
  explicit PpoExplorer(PpoOptions options);
  ~PpoExplorer() override;
  std::string name() const override { return "ppo"; }
  void begin_task(const space::ConfigSpace& space) override;
  std::vector<Candidate> explore(ExploreContext& ctx) override;
  nlohmann::json settings() const override { return to_json(options_); }
  // Waits for the last exploration's training (below).
  const PpoStats& last_stats() const;

private:
  struct Agent;
  struct Batch; // one exploration's transitions (LibTorch tensors)
  void train(const Batch& batch);
  void finish_training() const;
  PpoOptions options_;
  std::unique_ptr<Agent> agent_;
  PpoStats stats_;
  // The PPO update that closes an exploration trains the agent for the next one; the candidates
  // do not depend on it. It runs in the background while the tuner compiles and measures the
  // batch, and the next exploration (or begin_task, last_stats, the destructor) waits for it: the
  // same computation in the same order, so the same results, with its time hidden.
  mutable std::future<void> training_;
};

} // namespace chameleon::explore
