#include "chameleon/sample/adaptive.hpp"

#include "chameleon/util/error.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <queue>
#include <set>

namespace chameleon::sample {

nlohmann::json to_json(const AdaptiveOptions& o) {
  return {{"k_min", o.k_min},         {"k_max", o.k_max}, {"k_step", o.k_step},
          {"threshold", o.threshold}, {"pick", o.pick},   {"cluster_knobs", o.cluster_knobs},
          {"epsilon", o.epsilon}};
}

AdaptiveSampler::AdaptiveSampler(AdaptiveOptions options) : options_(options) {
  if (options_.k_min < 1 || options_.k_max < options_.k_min || options_.k_step < 1) {
    throw Error("adaptive sampling needs 1 <= k_min <= k_max and k_step >= 1, got k_min " +
                std::to_string(options_.k_min) + ", k_max " + std::to_string(options_.k_max) +
                ", k_step " + std::to_string(options_.k_step));
  }
  if (options_.pick != "nearest" && options_.pick != "best") {
    throw Error("adaptive sampling picks 'nearest' or 'best', got '" + options_.pick + "'");
  }
  if (options_.cluster_knobs < 0)
    throw Error("adaptive sampling needs cluster_knobs >= 0 (0: all knobs)");
  if (options_.epsilon < 0 || options_.epsilon > 1)
    throw Error("adaptive sampling needs 0 <= epsilon <= 1");
}

namespace {
// Combinations tried by synthesis before it gives up.
constexpr int kMaxSynthesisTries = 5000;

// The knobs clustered: all (widest == 0), or the `widest` with the most values (ties: the first).
std::vector<size_t> clustered_knobs(const space::ConfigSpace& sp, int widest) {
  std::vector<size_t> knobs(sp.knobs().size());
  std::iota(knobs.begin(), knobs.end(), size_t(0));
  if (widest <= 0 || size_t(widest) >= knobs.size()) return knobs;
  std::stable_sort(knobs.begin(), knobs.end(),
                   [&](size_t a, size_t b) { return sp.knobs()[a].size() > sp.knobs()[b].size(); });
  knobs.resize(size_t(widest));
  return knobs;
}

Eigen::MatrixXd normalized(const space::ConfigSpace& sp,
                           const std::vector<explore::Candidate>& cands,
                           const std::vector<size_t>& knobs) {
  Eigen::MatrixXd m(Eigen::Index(cands.size()), Eigen::Index(knobs.size()));
  for (size_t i = 0; i < cands.size(); ++i) {
    for (size_t j = 0; j < knobs.size(); ++j) {
      const int64_t n = sp.knobs()[knobs[j]].size();
      m(Eigen::Index(i), Eigen::Index(j)) =
          n > 1 ? double(cands[i].config.choice[knobs[j]]) / double(n - 1) : 0.0;
    }
  }
  return m;
}
} // namespace

std::optional<space::Config> synthesize(const std::vector<space::Config>& configs,
                                        SampleContext& ctx,
                                        const std::unordered_set<int64_t>& taken) {
  if (configs.empty()) return std::nullopt;
  const size_t knobs = ctx.space.knobs().size();
  // Per knob, its observed choices from most to least frequent (ties: lower choice first).
  std::vector<std::vector<int>> ranked(knobs);
  for (size_t k = 0; k < knobs; ++k) {
    std::map<int, int> freq;
    for (const auto& c : configs) ++freq[c.choice[k]];
    for (const auto& [choice, n] : freq) ranked[k].push_back(choice);
    std::stable_sort(ranked[k].begin(), ranked[k].end(),
                     [&](int a, int b) { return freq[a] > freq[b]; });
  }
  // Best-first over rank vectors ordered by rank sum: the mode first, then the combinations that
  // give up the least frequency.
  using Entry = std::pair<int, std::vector<int>>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> frontier;
  std::set<std::vector<int>> seen;
  frontier.push({0, std::vector<int>(knobs, 0)});
  seen.insert(frontier.top().second);
  for (int tries = 0; tries < kMaxSynthesisTries && !frontier.empty(); ++tries) {
    auto [sum, ranks] = frontier.top();
    frontier.pop();
    std::vector<int> choice(knobs);
    for (size_t k = 0; k < knobs; ++k) choice[k] = ranked[k][size_t(ranks[k])];
    space::Config c = ctx.space.from_choices(choice);
    if (!taken.count(c.index) && !ctx.visited.count(c.index) && ctx.valid(c)) return c;
    for (size_t k = 0; k < knobs; ++k) {
      if (size_t(ranks[k]) + 1 >= ranked[k].size()) continue;
      auto next = ranks;
      ++next[k];
      if (seen.insert(next).second) frontier.push({sum + 1, next});
    }
  }
  return std::nullopt;
}

std::vector<space::Config>
AdaptiveSampler::sample(const std::vector<explore::Candidate>& candidates, int max_batch,
                        SampleContext& ctx) {
  std::unordered_set<int64_t> taken;
  if (candidates.empty()) {
    last_k_ = 0;
    return random_unvisited(max_batch, ctx, taken);
  }
  // The meta-search over k.
  const Eigen::MatrixXd points =
      normalized(ctx.space, candidates, clustered_knobs(ctx.space, options_.cluster_knobs));
  const int n = int(candidates.size());
  std::vector<int> ks;
  for (int k = options_.k_min; k <= options_.k_max && k <= n; k += options_.k_step) ks.push_back(k);
  if (ks.empty()) ks.push_back(n);
  std::vector<Clustering> clusterings;
  std::vector<double> losses;
  for (int k : ks) {
    clusterings.push_back(kmeans(points, k, ctx.rng));
    losses.push_back(clusterings.back().loss);
    if (losses.size() > 1 && options_.threshold * losses.back() >= losses[losses.size() - 2]) break;
  }
  const size_t chosen = knee(losses, options_.threshold);
  const Clustering& cl = clusterings[chosen];
  last_k_ = int(cl.centroids.rows());

  // Largest clusters first, so that a batch cut short by the trial budget keeps the big ones.
  std::vector<int> sizes(size_t(cl.centroids.rows()), 0);
  for (int a : cl.assignment) ++sizes[size_t(a)];
  std::vector<int> order(sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return sizes[size_t(a)] > sizes[size_t(b)]; });

  std::vector<space::Config> all;
  for (const auto& c : candidates) all.push_back(c.config);
  // The cluster's best-scored candidate that can be measured (-1: none).
  auto best_of = [&](int cluster) {
    int best = -1;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto& c = candidates[i];
      if (cl.assignment[i] != cluster || taken.count(c.config.index) ||
          ctx.visited.count(c.config.index))
        continue;
      if (best >= 0 && c.score <= candidates[size_t(best)].score) continue;
      if (ctx.valid(c.config)) best = int(i);
    }
    return best;
  };
  const int randoms = int(options_.epsilon * max_batch);
  const int modelled = max_batch - randoms;
  std::vector<space::Config> out;
  for (int c : order) {
    if (int(out.size()) >= modelled) break;
    if (sizes[size_t(c)] == 0) continue;
    Eigen::Index nearest = 0;
    if (options_.pick == "best") {
      const int best = best_of(c);
      if (best < 0) continue; // every member measured or taken: another cluster's turn
      nearest = best;
    } else {
      (points.rowwise() - cl.centroids.row(c)).rowwise().squaredNorm().minCoeff(&nearest);
    }
    space::Config pick = candidates[size_t(nearest)].config;
    if (taken.count(pick.index)) continue; // two centroids, one config
    if (ctx.visited.count(pick.index) || !ctx.valid(pick)) {
      auto synthesized = synthesize(all, ctx, taken);
      if (!synthesized) continue;
      pick = *synthesized;
    }
    taken.insert(pick.index);
    out.push_back(std::move(pick));
  }
  if (randoms > 0) {
    auto extra = random_unvisited(std::min(randoms, max_batch - int(out.size())), ctx, taken);
    out.insert(out.end(), extra.begin(), extra.end());
  }
  // Never fewer than k_min when the budget allows: the best unvisited candidates, then random.
  const int floor = std::min(max_batch, options_.k_min);
  for (const auto& c : candidates) {
    if (int(out.size()) >= floor) break;
    if (taken.count(c.config.index) || ctx.visited.count(c.config.index) || !ctx.valid(c.config))
      continue;
    taken.insert(c.config.index);
    out.push_back(c.config);
  }
  if (int(out.size()) < floor) {
    auto extra = random_unvisited(floor - int(out.size()), ctx, taken);
    out.insert(out.end(), extra.begin(), extra.end());
  }
  return out;
}

} // namespace chameleon::sample
