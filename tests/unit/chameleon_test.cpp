// The Chameleon method: k-means adaptive sampling, sample synthesis, PPO exploration.
#include <catch2/catch.hpp>

#include "chameleon/explore/ppo.hpp"
#include "chameleon/sample/adaptive.hpp"
#include "chameleon/sample/kmeans.hpp"

#include <functional>
#include <set>

using namespace chameleon;

namespace {

// A toy space: four knobs of 20 ordered values each; the score peaks at one config.
space::ConfigSpace toy_space() {
  std::vector<int> values(20);
  for (int i = 0; i < 20; ++i) values[size_t(i)] = i;
  return space::ConfigSpace({space::other_knob("a", values), space::other_knob("b", values),
                             space::other_knob("c", values), space::other_knob("d", values)});
}

float toy_score(const space::Config& c, const std::vector<int>& goal) {
  float d = 0;
  for (size_t k = 0; k < goal.size(); ++k) d += float(std::abs(c.choice[k] - goal[k]));
  return 1.0f - d / 76.0f; // 1 at the goal, 0 at the farthest corner
}

// The cost model of the toy space: toy_score for a batch of configs.
std::function<std::vector<float>(const std::vector<space::Config>&)>
toy_model(std::vector<int> goal) {
  return [goal](const std::vector<space::Config>& cs) {
    std::vector<float> out;
    for (const auto& c : cs) out.push_back(toy_score(c, goal));
    return out;
  };
}

} // namespace

TEST_CASE("k-means recovers well-separated blobs", "[chameleon][kmeans]") {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0, 0.02);
  const double centers[4][2] = {{0.1, 0.1}, {0.9, 0.1}, {0.1, 0.9}, {0.9, 0.9}};
  Eigen::MatrixXd points(200, 2);
  for (int i = 0; i < 200; ++i) {
    points(i, 0) = centers[i % 4][0] + noise(rng);
    points(i, 1) = centers[i % 4][1] + noise(rng);
  }
  auto cl = sample::kmeans(points, 4, rng);
  REQUIRE(cl.centroids.rows() == 4);
  for (const auto& c : centers) {
    double best = 1e9;
    for (int r = 0; r < 4; ++r)
      best = std::min(best, std::hypot(cl.centroids(r, 0) - c[0], cl.centroids(r, 1) - c[1]));
    CHECK(best < 0.02);
  }
  for (int i = 0; i < 200; ++i) CHECK(cl.assignment[size_t(i)] == cl.assignment[size_t(i % 4)]);
  CHECK(cl.loss < 200 * 2 * 0.02 * 0.02 * 2);
  // Deterministic under a seed.
  std::mt19937_64 a(9), b(9);
  CHECK(sample::kmeans(points, 6, a).loss == sample::kmeans(points, 6, b).loss);
  // k is clamped to the number of points.
  CHECK(sample::kmeans(points.topRows(3), 8, rng).centroids.rows() == 3);
}

TEST_CASE("the meta-search stops at the knee of the loss curve", "[chameleon][kmeans]") {
  // Losses for k = 8, 16, 24, 32: big drops until 24, then flat.
  CHECK(sample::knee({100, 30, 9, 8}, 2.5) == 3);
  CHECK(sample::knee({100, 60, 9, 8}, 2.5) == 1);   // 2.5 x 60 >= 100: stop at k = 16
  CHECK(sample::knee({100, 10, 1, 0.1}, 2.5) == 3); // never flat: the largest k
  CHECK(sample::knee({5}, 2.5) == 0);
}

TEST_CASE("synthesis never returns a measured config", "[chameleon][sample]") {
  auto sp = toy_space();
  std::mt19937_64 rng(1);
  std::vector<space::Config> configs;
  for (int i = 0; i < 50; ++i) {
    // Mostly a = 3, b = 7: the mode.
    auto c = sp.random(rng);
    c.choice[0] = i % 5 == 0 ? 4 : 3;
    c.choice[1] = i % 7 == 0 ? 8 : 7;
    configs.push_back(sp.from_choices(c.choice));
  }
  std::unordered_set<int64_t> visited;
  auto valid = [](const space::Config&) { return true; };
  sample::SampleContext ctx{sp, valid, visited, rng};
  auto first = sample::synthesize(configs, ctx, {});
  REQUIRE(first);
  CHECK(first->choice[0] == 3);
  CHECK(first->choice[1] == 7);
  // Measure it, and the next ones: every synthesis is new.
  for (int i = 0; i < 30; ++i) {
    auto s = sample::synthesize(configs, ctx, {});
    REQUIRE(s);
    CHECK(visited.count(s->index) == 0);
    visited.insert(s->index);
  }
}

TEST_CASE(
    "random sampling finds rare valid configs in a small space and says when there are no more",
    "[chameleon][sample]") {
  auto sp = toy_space(); // 160,000 configs, 8 of them valid: random draws alone would miss them
  std::mt19937_64 rng(3);
  std::unordered_set<int64_t> visited = {20000 + 123, 100000 + 123, 140000 + 123};
  auto valid = [](const space::Config& c) { return c.index % 20000 == 123; };
  sample::SampleContext ctx{sp, valid, visited, rng};
  std::unordered_set<int64_t> taken;
  auto first = sample::random_unvisited(4, ctx, taken);
  CHECK(first.size() == 4);
  auto rest = sample::random_unvisited(8, ctx, taken); // one left: 8 valid, 3 visited, 4 taken
  REQUIRE(rest.size() == 1);
  std::set<int64_t> seen;
  for (const auto* batch : {&first, &rest}) {
    for (const auto& c : *batch) {
      CHECK(valid(c));
      CHECK(visited.count(c.index) == 0);
      seen.insert(c.index);
    }
  }
  CHECK(seen.size() == 5);
  CHECK(sample::random_unvisited(8, ctx, taken).empty());
}

TEST_CASE("adaptive sampling: 8 to 64 unique, unmeasured configs", "[chameleon][sample]") {
  auto sp = toy_space();
  std::mt19937_64 rng(2);
  std::unordered_set<int64_t> visited;
  auto valid = [](const space::Config&) { return true; };
  sample::SampleContext ctx{sp, valid, visited, rng};
  sample::AdaptiveSampler sampler;
  // Candidates in three tight groups, some of them measured.
  std::vector<explore::Candidate> cands;
  for (int g = 0; g < 3; ++g) {
    for (int i = 0; i < 60; ++i) {
      std::vector<int> ch = {g * 8 + i % 3, g * 8 + (i / 3) % 3, g * 6, 19 - g * 6};
      auto c = sp.from_choices(ch);
      if (std::none_of(cands.begin(), cands.end(),
                       [&](const auto& x) { return x.config.index == c.index; })) {
        cands.push_back({c, 1.0f});
      }
    }
  }
  for (size_t i = 0; i < cands.size(); i += 2) visited.insert(cands[i].config.index);
  auto batch = sampler.sample(cands, 64, ctx);
  CHECK(batch.size() >= 8);
  CHECK(batch.size() <= 64);
  CHECK(sampler.last_k() >= 8);
  std::set<int64_t> unique;
  for (const auto& c : batch) {
    CHECK(visited.count(c.index) == 0);
    unique.insert(c.index);
  }
  CHECK(unique.size() == batch.size());
  // No candidates yet: a random first batch of the requested size.
  CHECK(sampler.sample({}, 64, ctx).size() == 64);
  // The budget caps the batch.
  CHECK(sampler.sample(cands, 5, ctx).size() <= 5);
}

TEST_CASE("adaptive sampling's 'best' pick takes each cluster's best-scored unmeasured config",
          "[chameleon][sample]") {
  auto sp = toy_space();
  std::mt19937_64 rng(3);
  std::unordered_set<int64_t> visited;
  auto valid = [](const space::Config&) { return true; };
  sample::SampleContext ctx{sp, valid, visited, rng};
  sample::AdaptiveOptions o;
  o.pick = "best";
  o.k_min = o.k_max = o.k_step = 2; // two clusters, far apart
  sample::AdaptiveSampler sampler(o);
  // Two groups of 10; in each, the score rises with knob c; the group's top config is measured.
  std::vector<explore::Candidate> cands;
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 10; ++i) {
      auto c = sp.from_choices({g * 19, g * 19, i, g * 19});
      cands.push_back({c, float(g) + 0.05f * float(i)});
    }
    visited.insert(cands.back().config.index);
  }
  auto batch = sampler.sample(cands, 2, ctx);
  REQUIRE(batch.size() == 2);
  std::set<std::vector<int>> picked;
  for (const auto& c : batch) picked.insert(c.choice);
  // Each group's second best (its best is measured), not whatever is nearest the centroid.
  CHECK(picked == std::set<std::vector<int>>{{0, 0, 8, 0}, {19, 19, 8, 19}});

  // Clustering on the two widest knobs, and a random share: still unique and unmeasured.
  o.cluster_knobs = 2;
  o.epsilon = 0.25;
  o.k_min = 2;
  o.k_max = 8;
  sample::AdaptiveSampler mixed(o);
  auto more = mixed.sample(cands, 8, ctx);
  CHECK(more.size() >= 2);
  CHECK(more.size() <= 8);
  std::set<int64_t> unique;
  for (const auto& c : more) {
    CHECK(visited.count(c.index) == 0);
    unique.insert(c.index);
  }
  CHECK(unique.size() == more.size());
  sample::AdaptiveOptions bad;
  bad.pick = "median";
  CHECK_THROWS_WITH(sample::AdaptiveSampler(bad), Catch::Contains("'nearest' or 'best'"));
}

TEST_CASE("PPO's candidate set leaves out measured configs when asked", "[chameleon][ppo]") {
  auto sp = toy_space();
  const std::vector<int> goal = {15, 4, 12, 17};
  std::mt19937_64 rng(6);
  std::unordered_set<int64_t> visited;
  auto predict = toy_model(goal);
  auto valid = [](const space::Config&) { return true; };
  // Measured: the goal and its neighbours, where the episodes that start from it stay.
  std::vector<space::Config> best;
  for (int d = 0; d < 4; ++d) {
    auto ch = goal;
    ch[size_t(d)] += 1;
    best.push_back(sp.from_choices(ch));
  }
  best.insert(best.begin(), sp.from_choices(goal));
  for (const auto& c : best) visited.insert(c.index);
  for (bool unmeasured : {false, true}) {
    explore::PpoOptions opts;
    opts.episodes = 32;
    opts.steps = 30;
    opts.best_starts = 1.0;
    opts.unmeasured = unmeasured;
    explore::PpoExplorer ppo(opts);
    ppo.begin_task(sp);
    explore::ExploreContext ctx{sp, predict, valid, visited, rng, 64, best};
    auto cands = ppo.explore(ctx);
    REQUIRE(!cands.empty());
    const auto measured = std::count_if(cands.begin(), cands.end(), [&](const auto& c) {
      return visited.count(c.config.index) > 0;
    });
    if (unmeasured)
      CHECK(measured == 0);
    else
      CHECK(measured > 0); // the episodes start on them
  }
}

TEST_CASE("the PPO agent moves its episodes toward the optimum", "[chameleon][ppo]") {
  auto sp = toy_space();
  const std::vector<int> goal = {15, 4, 12, 17};
  std::mt19937_64 rng(5);
  std::unordered_set<int64_t> visited;
  auto predict = toy_model(goal);
  auto valid = [](const space::Config&) { return true; };
  explore::PpoOptions opts;
  opts.episodes = 64;
  opts.steps = 60;
  explore::PpoExplorer ppo(opts);
  ppo.begin_task(sp);
  explore::ExploreContext ctx{sp, predict, valid, visited, rng, 64, {}};
  ppo.explore(ctx);
  const double first = ppo.last_stats().mean_reward;
  std::vector<explore::Candidate> cands;
  for (int i = 0; i < 6; ++i) cands = ppo.explore(ctx);
  const double later = ppo.last_stats().mean_reward;
  INFO("mean reward " << first << " -> " << later);
  CHECK(later > first + 0.05);
  CHECK(ppo.last_stats().transitions > 0);
  REQUIRE(!cands.empty());
  CHECK(cands.front().score > 0.9f); // within a few steps of the goal
  for (size_t i = 1; i < cands.size(); ++i) CHECK(cands[i - 1].score >= cands[i].score);
}
