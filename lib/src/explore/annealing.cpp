#include "chameleon/explore/annealing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace chameleon::explore {

nlohmann::json to_json(const AnnealingOptions& o) {
  return {{"parallel", o.parallel},     {"steps", o.steps},       {"early_stop", o.early_stop},
          {"temp_start", o.temp_start}, {"temp_end", o.temp_end}, {"persistent", o.persistent}};
}

namespace {

// The plan_size best points seen, unique, unvisited and valid, ordered by score.
class TopSet {
public:
  explicit TopSet(size_t capacity) : capacity_(capacity) {}
  // True when the set changed.
  bool offer(const space::Config& c, float score, ExploreContext& ctx) {
    if (members_.count(c.index)) return false;
    if (items_.size() >= capacity_ && score <= items_.begin()->first) return false;
    if (ctx.visited.count(c.index) || !ctx.valid(c)) return false;
    items_.emplace(score, c);
    members_.insert(c.index);
    if (items_.size() > capacity_) {
      members_.erase(items_.begin()->second.index);
      items_.erase(items_.begin());
    }
    return true;
  }
  std::vector<Candidate> best_first() const {
    std::vector<Candidate> out;
    for (auto it = items_.rbegin(); it != items_.rend(); ++it)
      out.push_back({it->second, it->first});
    return out;
  }

private:
  size_t capacity_;
  std::multimap<float, space::Config> items_;
  std::unordered_set<int64_t> members_;
};

} // namespace

std::vector<Candidate> SimulatedAnnealing::explore(ExploreContext& ctx) {
  const size_t chains =
      size_t(std::max<int64_t>(1, std::min<int64_t>(options_.parallel, ctx.space.size())));
  if (!options_.persistent || chains_.size() != chains) {
    chains_.clear();
    for (size_t i = 0; i < chains; ++i) chains_.push_back(ctx.space.random(ctx.rng));
  }
  std::vector<float> scores = ctx.predict(chains_);
  TopSet top(size_t(std::max(1, ctx.plan_size)));
  for (size_t i = 0; i < chains; ++i) top.offer(chains_[i], scores[i], ctx);

  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double t = options_.temp_start;
  const double cool = (options_.temp_start - options_.temp_end) / double(options_.steps + 1);
  int last_change = 0;
  for (int step = 0; step < options_.steps && step < last_change + options_.early_stop; ++step) {
    std::vector<space::Config> next;
    next.reserve(chains);
    for (const auto& c : chains_) next.push_back(ctx.space.random_walk(c, ctx.rng));
    std::vector<float> next_scores = ctx.predict(next);
    for (size_t i = 0; i < chains; ++i) {
      double p = std::exp(std::min((double(next_scores[i]) - scores[i]) / (t + 1e-5), 1.0));
      if (unit(ctx.rng) < p) {
        chains_[i] = next[i];
        scores[i] = next_scores[i];
      }
      if (top.offer(next[i], next_scores[i], ctx)) last_change = step;
    }
    t -= cool;
  }
  return top.best_first();
}

} // namespace chameleon::explore
