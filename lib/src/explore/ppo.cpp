// The only translation unit that includes LibTorch (it takes ~30 s to compile).
#include "chameleon/explore/ppo.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace chameleon::explore {

nlohmann::json to_json(const PpoOptions& o) {
  return {{"episodes", o.episodes},
          {"steps", o.steps},
          {"lr", o.lr},
          {"gamma", o.gamma},
          {"lambda", o.lambda},
          {"epochs", o.epochs},
          {"clip", o.clip},
          {"value_coef", o.value_coef},
          {"entropy_coef", o.entropy_coef},
          {"hidden", o.hidden},
          {"minibatch", o.minibatch},
          {"minibatches", o.minibatches},
          {"stay_fraction", o.stay_fraction},
          {"best_starts", o.best_starts},
          {"candidates", o.candidates},
          {"unmeasured", o.unmeasured},
          {"keep_agent", o.keep_agent}};
}

namespace {

// Policy and value heads over one shared first layer.
struct ActorCriticImpl : torch::nn::Module {
  ActorCriticImpl(int knobs, int hidden)
      : knobs_(knobs), shared_(register_module("shared", torch::nn::Linear(knobs, hidden))),
        policy_hidden_(register_module("policy_hidden", torch::nn::Linear(hidden, hidden))),
        policy_out_(register_module("policy_out", torch::nn::Linear(hidden, 3 * knobs))),
        value_hidden_(register_module("value_hidden", torch::nn::Linear(hidden, hidden))),
        value_out_(register_module("value_out", torch::nn::Linear(hidden, 1))) {}

  // Logits [batch, knobs, 3] (decrement, stay, increment) and values [batch].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& obs) {
    auto h = torch::tanh(shared_->forward(obs));
    auto logits =
        policy_out_->forward(torch::tanh(policy_hidden_->forward(h))).view({-1, knobs_, 3});
    auto value = value_out_->forward(torch::tanh(value_hidden_->forward(h))).squeeze(-1);
    return {logits, value};
  }

  int knobs_;
  torch::nn::Linear shared_, policy_hidden_, policy_out_, value_hidden_, value_out_;
};
TORCH_MODULE(ActorCritic);

} // namespace

struct PpoExplorer::Agent {
  Agent(int knobs, const PpoOptions& o)
      : knobs(knobs), net(knobs, o.hidden),
        optimizer(net->parameters(), torch::optim::AdamOptions(o.lr).eps(1e-5)) {}
  int knobs;
  ActorCritic net;
  torch::optim::Adam optimizer;
};

PpoExplorer::PpoExplorer(PpoOptions options) : options_(options) {
  // The networks are tiny: more intra-op threads only add overhead.
  torch::set_num_threads(1);
}

struct PpoExplorer::Batch {
  torch::Tensor obs, actions, old_logp, adv, ret;
  int64_t episodes = 0;
};

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
} // namespace

PpoExplorer::~PpoExplorer() {
  try {
    finish_training();
  } catch (...) {
    // Nothing to report to from a destructor; the agent is discarded with it.
  }
}

void PpoExplorer::finish_training() const {
  if (training_.valid()) training_.get(); // rethrows what the training threw
}

const PpoStats& PpoExplorer::last_stats() const {
  finish_training();
  return stats_;
}

void PpoExplorer::begin_task(const space::ConfigSpace& space) {
  finish_training();
  if (!options_.keep_agent || (agent_ && agent_->knobs != int(space.knobs().size())))
    agent_.reset();
}

namespace {

// One step of the rollout: the rows of the episodes still running, what they saw and did.
struct Step {
  std::vector<int> rows;
  torch::Tensor obs, actions, logp, value;
  std::vector<float> reward;
  std::vector<bool> done;
};

// An exploration's transitions with their GAE advantages and returns, last step first (the
// tensors are collected in the same order, so their rows line up with adv and ret).
struct Transitions {
  std::vector<torch::Tensor> obs, actions, logp;
  std::vector<float> adv, ret;
  double reward_sum = 0;
};

Transitions advantages(const std::vector<Step>& steps, int episodes, double gamma, double lambda) {
  Transitions out;
  std::vector<float> next_value(static_cast<size_t>(episodes), 0.0f);
  std::vector<float> next_adv(static_cast<size_t>(episodes), 0.0f);
  for (size_t t = steps.size(); t-- > 0;) {
    const Step& s = steps[t];
    auto value = s.value.accessor<float, 1>();
    for (size_t i = 0; i < s.rows.size(); ++i) {
      const size_t e = size_t(s.rows[i]);
      const float v = value[int64_t(i)];
      const float bootstrap = s.done[i] ? 0.0f : next_value[e];
      const float carry = s.done[i] ? 0.0f : next_adv[e];
      const float delta = s.reward[i] + float(gamma) * bootstrap - v;
      const float adv = delta + float(gamma * lambda) * carry;
      next_value[e] = v;
      next_adv[e] = adv;
      out.adv.push_back(adv);
      out.ret.push_back(adv + v);
      out.reward_sum += s.reward[i];
    }
    out.obs.push_back(s.obs);
    out.actions.push_back(s.actions);
    out.logp.push_back(s.logp);
  }
  return out;
}

// The candidate set: the explored configs (without those in `leave_out`, when given), best
// predicted first (ties: by index), at most `count`.
std::vector<Candidate> best_candidates(std::unordered_map<int64_t, Candidate> explored,
                                       const std::unordered_set<int64_t>* leave_out, int count) {
  std::vector<Candidate> out;
  out.reserve(explored.size());
  for (auto& [index, cand] : explored) {
    if (leave_out == nullptr || !leave_out->count(index)) out.push_back(std::move(cand));
  }
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.config.index < b.config.index;
  });
  if (int(out.size()) > count) out.resize(size_t(count));
  return out;
}

} // namespace

std::vector<Candidate> PpoExplorer::explore(ExploreContext& ctx) {
  finish_training();
  const auto start = std::chrono::steady_clock::now();
  const auto& space = ctx.space;
  const int knobs = int(space.knobs().size());
  // Seeded first: a new agent's weights are drawn from the same generator.
  torch::manual_seed(ctx.rng());
  if (!agent_) agent_ = std::make_unique<Agent>(knobs, options_);
  ActorCritic& net = agent_->net;
  const int episodes = std::max(1, options_.episodes);

  // Starting points: the best measured configs, then random ones.
  std::vector<space::Config> state;
  const int from_best =
      std::min<int>(int(ctx.best_known.size()), int(options_.best_starts * episodes));
  for (int e = 0; e < episodes; ++e) {
    state.push_back(e < from_best ? ctx.best_known[size_t(e)] : space.random(ctx.rng));
  }
  auto observe = [&](const std::vector<space::Config>& configs) {
    auto obs = torch::zeros({int64_t(configs.size()), knobs});
    auto acc = obs.accessor<float, 2>();
    for (size_t e = 0; e < configs.size(); ++e) {
      for (int k = 0; k < knobs; ++k) {
        const int64_t n = space.knobs()[size_t(k)].size();
        acc[int64_t(e)][k] = n > 1 ? float(configs[e].choice[size_t(k)]) / float(n - 1) : 0.0f;
      }
    }
    return obs;
  };
  // Scores of everything the episodes visit: the candidates.
  std::unordered_map<int64_t, Candidate> explored;
  auto reward_of = [&](const std::vector<space::Config>& configs) {
    std::vector<float> scores = ctx.predict(configs);
    for (size_t i = 0; i < configs.size(); ++i) {
      if (!ctx.valid(configs[i])) {
        scores[i] = 0.0f;
        continue;
      }
      explored.emplace(configs[i].index, Candidate{configs[i], scores[i]});
    }
    return scores;
  };
  reward_of(state);

  // Roll out all episodes together.
  std::vector<Step> steps;
  std::vector<int> alive(static_cast<size_t>(episodes));
  for (int e = 0; e < episodes; ++e) alive[size_t(e)] = e;
  std::vector<float> final_score(static_cast<size_t>(episodes), 0.0f);
  for (int t = 0; t < options_.steps && !alive.empty(); ++t) {
    std::vector<space::Config> current;
    for (int e : alive) current.push_back(state[size_t(e)]);
    Step s;
    s.rows = alive;
    s.obs = observe(current);
    {
      torch::NoGradGuard no_grad;
      auto [logits, value] = net->forward(s.obs);
      auto probs = torch::softmax(logits, -1).view({-1, 3});
      s.actions = torch::multinomial(probs, 1).view({-1, knobs});
      s.logp = torch::log_softmax(logits, -1).gather(2, s.actions.unsqueeze(-1)).squeeze(-1);
      s.value = value;
    }
    auto act = s.actions.accessor<int64_t, 2>();
    std::vector<space::Config> next;
    std::vector<int> stays;
    for (size_t i = 0; i < current.size(); ++i) {
      std::vector<int> deltas(static_cast<size_t>(knobs));
      int stay = 0;
      for (int k = 0; k < knobs; ++k) {
        deltas[size_t(k)] = int(act[int64_t(i)][k]) - 1;
        stay += deltas[size_t(k)] == 0;
      }
      stays.push_back(stay);
      next.push_back(space.step(current[i], deltas));
    }
    s.reward = reward_of(next);
    std::vector<int> still;
    for (size_t i = 0; i < next.size(); ++i) {
      const int e = alive[i];
      const bool stalled = next[i].index == current[i].index;
      const bool mostly_stays = stays[i] >= int(std::ceil(options_.stay_fraction * knobs));
      const bool done = stalled || mostly_stays || t + 1 == options_.steps;
      s.done.push_back(done);
      state[size_t(e)] = next[i];
      final_score[size_t(e)] = s.reward[i];
      if (!done) still.push_back(e);
    }
    steps.push_back(std::move(s));
    alive = std::move(still);
  }

  const Transitions tr = advantages(steps, episodes, options_.gamma, options_.lambda);
  const auto& adv_all = tr.adv;
  stats_ = PpoStats{};
  stats_.transitions = int64_t(adv_all.size());
  stats_.mean_reward = adv_all.empty() ? 0 : tr.reward_sum / double(adv_all.size());
  double final_sum = 0;
  for (float f : final_score) final_sum += f;
  stats_.mean_final_score = final_sum / episodes;
  stats_.rollout_seconds = seconds_since(start);

  if (!adv_all.empty()) {
    auto batch = std::make_shared<Batch>();
    batch->obs = torch::cat(tr.obs);
    batch->actions = torch::cat(tr.actions);
    batch->old_logp = torch::cat(tr.logp);
    batch->ret = torch::tensor(tr.ret);
    auto adv = torch::tensor(adv_all);
    auto centered = adv - adv.mean();
    batch->adv = centered / (torch::sqrt((centered * centered).mean()) + 1e-8);
    batch->episodes = episodes;
    training_ = std::async(std::launch::async, [this, batch] { train(*batch); });
  }

  return best_candidates(std::move(explored), options_.unmeasured ? &ctx.visited : nullptr,
                         options_.candidates);
}

void PpoExplorer::train(const Batch& b) {
  // OpenMP settings are per thread: this one, too, runs the tiny networks on one thread.
  torch::set_num_threads(1);
  const auto start = std::chrono::steady_clock::now();
  ActorCritic& net = agent_->net;
  const int64_t n = b.obs.size(0);
  const int64_t mb = std::max<int64_t>(1, options_.minibatch);
  // Chameleon's code updates after every trajectory, one minibatch drawn with replacement per
  // epoch: per exploration, as many minibatches per epoch as there are episodes.
  const int64_t steps = options_.minibatches > 0 ? options_.minibatches : b.episodes;
  for (int epoch = 0; epoch < options_.epochs; ++epoch) {
    for (int64_t step = 0; step < steps; ++step) {
      auto idx = torch::randint(n, {mb}, torch::kLong);
      auto [logits, value] = net->forward(b.obs.index_select(0, idx));
      auto log_probs = torch::log_softmax(logits, -1);
      auto a = b.actions.index_select(0, idx);
      auto logp = log_probs.gather(2, a.unsqueeze(-1)).squeeze(-1);    // [b, knobs]
      auto ratio = torch::exp(logp - b.old_logp.index_select(0, idx)); // per knob
      auto advantage = b.adv.index_select(0, idx).unsqueeze(-1);
      auto surrogate = torch::min(
          ratio * advantage, torch::clamp(ratio, 1 - options_.clip, 1 + options_.clip) * advantage);
      auto entropy = -(log_probs.exp() * log_probs).sum(-1); // [b, knobs]
      auto policy_loss = -surrogate.sum(-1).mean();
      auto value_loss = torch::mse_loss(value, b.ret.index_select(0, idx));
      auto entropy_term = entropy.sum(-1).mean();
      auto loss =
          policy_loss + options_.value_coef * value_loss - options_.entropy_coef * entropy_term;
      agent_->optimizer.zero_grad();
      loss.backward();
      agent_->optimizer.step();
      stats_.policy_loss = policy_loss.item<double>();
      stats_.value_loss = value_loss.item<double>();
      stats_.entropy = entropy_term.item<double>();
    }
  }
  stats_.train_seconds = seconds_since(start);
  spdlog::debug(
      "PPO: {} transitions, rollout {:.3f} s, update {:.3f} s ({} x {} minibatches of {})",
      stats_.transitions, stats_.rollout_seconds, stats_.train_seconds, options_.epochs, steps, mb);
}

} // namespace chameleon::explore
