#include "chameleon/sample/sampler.hpp"

#include <algorithm>
#include <numeric>

namespace chameleon::sample {

std::vector<space::Config> random_unvisited(int count, SampleContext& ctx,
                                            std::unordered_set<int64_t>& taken) {
  std::vector<space::Config> out;
  auto take = [&](space::Config c) {
    if (taken.count(c.index) || ctx.visited.count(c.index) || !ctx.valid(c)) return;
    taken.insert(c.index);
    out.push_back(std::move(c));
  };
  // Rejection sampling; a space whose valid configs are nearly all measured gives up after a
  // bounded number of draws rather than looping forever.
  const int64_t max_draws = 2000 + 200LL * count;
  for (int64_t draw = 0; draw < max_draws && int(out.size()) < count; ++draw)
    take(ctx.space.random(ctx.rng));
  // Too few in a space small enough to walk: its valid configs may be rare rather than used up
  // (a depthwise layer's GEMM keeps 45 of 186,624), so walk all of it, from a random start with a
  // random stride coprime to its size (a random order, each config once), until enough are found.
  const int64_t n = ctx.space.size();
  if (int(out.size()) < count && n > 1 && n <= kWalkLimit) {
    int64_t step = 1 + int64_t(ctx.rng() % uint64_t(n - 1));
    while (std::gcd(step, n) != 1) step = step % (n - 1) + 1;
    int64_t index = int64_t(ctx.rng() % uint64_t(n));
    for (int64_t i = 0; i < n && int(out.size()) < count; ++i, index = (index + step) % n) {
      take(ctx.space.get(index));
    }
  }
  return out;
}

std::vector<space::Config> GreedySampler::sample(const std::vector<explore::Candidate>& candidates,
                                                 int max_batch, SampleContext& ctx) {
  std::vector<space::Config> out;
  std::unordered_set<int64_t> taken;
  const int randoms =
      candidates.empty() ? max_batch : std::min(max_batch, int(epsilon_ * max_batch));
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
