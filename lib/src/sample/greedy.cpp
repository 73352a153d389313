#include "chameleon/sample/sampler.hpp"

#include <algorithm>

namespace chameleon::sample {

std::vector<space::Config> random_unvisited(int count, SampleContext& ctx,
                                            std::unordered_set<int64_t>& taken) {
  std::vector<space::Config> out;
  // Rejection sampling; a space whose valid configs are nearly all measured gives up after a
  // bounded number of draws rather than looping forever.
  const int64_t max_draws = 2000 + 200LL * count;
  for (int64_t draw = 0; draw < max_draws && int(out.size()) < count; ++draw) {
    space::Config c = ctx.space.random(ctx.rng);
    if (taken.count(c.index) || ctx.visited.count(c.index) || !ctx.valid(c)) continue;
    taken.insert(c.index);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<space::Config> GreedySampler::sample(const std::vector<explore::Candidate>& candidates,
                                                 int max_batch, SampleContext& ctx) {
  std::vector<space::Config> out;
  std::unordered_set<int64_t> taken;
  const int randoms = candidates.empty() ? max_batch : std::min(max_batch, int(epsilon_ * max_batch));
  for (const auto& cand : candidates) {
    if (int(out.size()) >= max_batch - randoms) break;
    const auto& c = cand.config;
    if (taken.count(c.index) || ctx.visited.count(c.index) || !ctx.valid(c)) continue;
    taken.insert(c.index);
    out.push_back(c);
  }
  auto extra = random_unvisited(max_batch - int(out.size()), ctx, taken);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

} // namespace chameleon::sample
