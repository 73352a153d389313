#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/explore/annealing.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/model/cost_model.hpp"
#include "chameleon/model/features.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/sample/sampler.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/tune/record.hpp"
#include "chameleon/tune/schedule.hpp"
#include "chameleon/tune/status.hpp"
#include "chameleon/tune/tuner.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"

#include "../../lib/src/tune/training_set.hpp"

#include <filesystem>
#include <sstream>

#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

using namespace chameleon;

namespace {

const char* kTopHubV02 =
    R"({"input": ["cuda -model=1080ti", "conv2d_nchw.cuda", [["TENSOR", [1, 3, 224, 224], "float32"], )"
    R"(["TENSOR", [64, 3, 7, 7], "float32"], [2, 2], [3, 3, 3, 3], [1, 1], "float32"], {}], )"
    R"("config": {"index": 43253325, "code_hash": null, "entity": [["tile_f", "sp", [-1, 4, 8, 2]], )"
    R"(["tile_y", "sp", [-1, 1, 1, 1]], ["tile_x", "sp", [-1, 7, 16, 1]], ["tile_rc", "sp", [-1, 1]], )"
    R"(["tile_rx", "sp", [-1, 1]], ["tile_ry", "sp", [-1, 7]], ["auto_unroll_max_step", "ot", 0], )"
    R"(["unroll_explicit", "ot", 1]]}, "result": [[4.13e-05], 0, 1.39, 1535361338.13], )"
    R"("version": 0.2, "tvm_version": "0.7.dev0"})";

std::vector<task::Task> resnet18() {
  return task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json"));
}

std::string temp_path(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("chameleon-tune-" + name + "-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(p);
  return p.string();
}

tune::Record sample_record(int64_t index = 7) {
  tune::Record r;
  r.workload = resnet18()[3].workload;
  r.target = "h100";
  r.arch = "sm_90";
  r.index = index;
  auto sp = codegen::find_template("conv2d_direct").make_space(r.workload);
  r.entity = sp.entity_json(sp.get(index));
  r.device = "sim:h100";
  r.tuner = "autotvm";
  r.iteration = 2;
  r.result.costs = {2e-5, 2.1e-5, 1.9e-5};
  r.result.median = 2e-5;
  r.result.simulated = true;
  r.result.resources.registers = 64;
  return r;
}

struct NoProgress : tune::ProgressSink {
  void task_start(const task::Task&, const std::string&, int, int, int) override {}
  void iteration(const tune::Progress&) override {}
  void task_end(const tune::TaskOutcome&, int, int) override {}
};

} // namespace

TEST_CASE("an AutoTVM record's arch is its target's -arch, else its -model's GPU", "[tune][log]") {
  CHECK(tune::arch_of_autotvm_target("cuda -model=v100 -arch=sm_70") == "sm_70");
  CHECK(tune::arch_of_autotvm_target("cuda -model=1080ti") == "sm_61");
  CHECK(tune::arch_of_autotvm_target("cuda -model=T4") == "sm_75");
  CHECK(tune::arch_of_autotvm_target("cuda -model=h100") == "sm_90");
  CHECK(tune::arch_of_autotvm_target("cuda -model=unknown") == "");
  CHECK(tune::arch_of_autotvm_target("cuda") == "");
  CHECK(target::sm_of_model("titanxp") == 61);
  CHECK(target::sm_of_model("a100") == 80);
}

TEST_CASE("records round-trip and read AutoTVM v0.2 lines", "[tune][log]") {
  auto r = sample_record();
  auto back = tune::record_from_json(nlohmann::json::parse(tune::to_json(r).dump()));
  CHECK(back.workload == r.workload);
  CHECK(back.index == r.index);
  CHECK(back.entity == r.entity);
  CHECK(back.result.costs == r.result.costs);
  CHECK(back.result.median == r.result.median);
  CHECK(back.result.simulated);
  CHECK(back.result.resources.registers == 64);
  CHECK(back.device == "sim:h100");
  CHECK_FALSE(back.foreign);

  r.result.error = measure::ErrorNo::RunTimeout;
  auto failed = tune::to_json(r);
  CHECK(failed["result"][0] == nlohmann::ordered_json::array({1e9}));
  CHECK(failed["result"][1] == 7);

  auto foreign = tune::record_from_json(nlohmann::json::parse(kTopHubV02));
  CHECK(foreign.foreign);
  CHECK(foreign.workload.str() == "N1 C3 H224 W224 K64 R7 S7 s2 p3 d1");
  auto sp = codegen::find_template("conv2d_direct").make_space(foreign.workload);
  CHECK(sp.from_entity(foreign.entity).index == 43253325); // tile_rx/tile_ry in v0.2's order
  CHECK(foreign.result.median == Approx(4.13e-05));

  CHECK_THROWS_WITH(
      tune::record_from_json(nlohmann::json::parse(R"({"i": [], "r": [], "v": 0.1})")),
      Catch::Contains("v0.1"));

  // A measured record without a positive time (damaged or edited) would rank first: refused.
  for (double t : {0.0, -1.0}) {
    auto j = nlohmann::json::parse(tune::to_json(sample_record()).dump());
    j["chameleon"]["median"] = t;
    CHECK_THROWS_WITH(tune::record_from_json(j), Catch::Contains("needs a positive time, got"));
  }
  auto no_costs = nlohmann::json::parse(kTopHubV02);
  no_costs["result"][0] = nlohmann::json::array();
  CHECK_THROWS_WITH(tune::record_from_json(no_costs),
                    Catch::Contains("needs a positive time, got 0"));
  auto no_stride = nlohmann::json::parse(kTopHubV02);
  no_stride["input"][2][2] = nlohmann::json::array();
  CHECK_THROWS_WITH(tune::record_from_json(no_stride),
                    Catch::Contains("need 1 or 2 strides and dilations"));
}

TEST_CASE(
    "a log's snapshot holds each batch in config order, whatever order its compiles finished in",
    "[tune][log]") {
  const std::string path = temp_path("snapshot-order");
  tune::TuningLog log(path);
  auto at = [](int64_t index, int iteration) {
    tune::Record r = sample_record(index);
    r.iteration = iteration;
    return r;
  };
  // Iteration 1 finished 30, 10, 20; iteration 2 finished 5, 40; then iteration 1 of another task.
  tune::Record other = at(3, 1);
  other.task_index = 9;
  for (const tune::Record& r :
       {at(30, 1), at(10, 1), at(20, 1), at(5, 2), at(40, 2), other, at(1, 1)}) {
    log.append(r);
  }
  std::vector<int64_t> order;
  for (const tune::Record& r : log.snapshot()) order.push_back(r.index);
  // Batches stay where they are; within each, configs are in index order.
  CHECK(order == std::vector<int64_t>{10, 20, 30, 5, 40, 3, 1});
  std::filesystem::remove(path);
}

TEST_CASE("a log that a tune holds is neither opened by a second tune nor replaced by a merge",
          "[tune][log]") {
  const std::string path = temp_path("held"), other = temp_path("held-other");
  {
    tune::TuningLog log(path);
    log.append(sample_record(1));
    // The first tune is mid-way through a line: a second one must not "repair" it away.
    std::string full = tune::to_json(sample_record(2)).dump();
    std::ofstream(path, std::ios::app) << full.substr(0, 20);
    const auto size = std::filesystem::file_size(path);
    CHECK(tune::log_in_use(path));
    CHECK_THROWS_WITH(tune::TuningLog(path),
                      Catch::Contains("is being written by another tune that is still running") &&
                          Catch::Contains("another --log"));
    CHECK_THROWS_WITH(tune::check_log_free(path), Catch::Contains("another --log"));
    CHECK(std::filesystem::file_size(path) == size);
    CHECK_THROWS_WITH(tune::merge_logs({path}, path), Catch::Contains("merge into another --out"));
    // Reading it, and merging it into another file, are fine: what it holds now. The line being
    // written is no damage.
    std::ostringstream captured;
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured)));
    CHECK(tune::read_log(path).records.size() == 1);
    spdlog::set_default_logger(previous);
    INFO(captured.str());
    CHECK(captured.str().find("is being written by a running tune: read as it is now") !=
          std::string::npos);
    CHECK(captured.str().find("cut-off") == std::string::npos);
    CHECK(tune::merge_logs({path}, other).records == 1);
    CHECK(std::filesystem::file_size(path) == size);
  }
  // Once the tune ends (or dies: the kernel drops its lock), the log is free again.
  CHECK_FALSE(tune::log_in_use(path));
  CHECK_NOTHROW(tune::check_log_free(path));
  {
    tune::TuningLog log(path);
    CHECK(log.repaired());
    CHECK(log.size() == 1);
  }
  CHECK(tune::merge_logs({path, other}, path).records == 1);
  CHECK_FALSE(tune::log_in_use(temp_path("held-missing")));
  std::filesystem::remove(path);
  std::filesystem::remove(other);
}

TEST_CASE("the log survives a cut-off last line and skips a damaged one, naming it",
          "[tune][log]") {
  std::string path = temp_path("log");
  {
    tune::TuningLog log(path);
    log.append(sample_record(1));
    log.append(sample_record(2));
  }
  std::string full = tune::to_json(sample_record(3)).dump();
  std::ofstream(path, std::ios::app) << full.substr(0, full.size() / 2); // killed mid-write
  {
    tune::TuningLog log(path);
    CHECK(log.repaired());
    CHECK(log.size() == 2);
    log.append(sample_record(4));
  }
  auto contents = tune::read_log(path);
  CHECK_FALSE(contents.repaired);
  REQUIRE(contents.records.size() == 3);
  CHECK(contents.records[2].index == 4);

  // A complete last record without its newline is kept, and the next append starts a new line.
  std::ofstream(path, std::ios::app) << tune::to_json(sample_record(5)).dump();
  {
    tune::TuningLog log(path);
    CHECK(log.size() == 4);
    log.append(sample_record(6));
  }
  CHECK(tune::read_log(path).records.size() == 5);

  // A damaged line elsewhere (not JSON, or JSON but no record) is skipped and named; the records
  // around it are kept, and the file is left as it is.
  std::ofstream(path, std::ios::app) << "{not json}\n"
                                     << tune::to_json(sample_record(8)).dump() << "\n"
                                     << "{\"input\": 3}\n"
                                     << tune::to_json(sample_record(9)).dump() << "\n";
  const auto size_before = std::filesystem::file_size(path);
  {
    tune::TuningLog log(path);
    CHECK(log.size() == 7);
    CHECK_FALSE(log.repaired());
  }
  contents = tune::read_log(path);
  CHECK(contents.records.size() == 7);
  CHECK(contents.damaged == std::vector<int>{6, 8});
  CHECK(contents.records.back().index == 9);
  CHECK(std::filesystem::file_size(path) == size_before);

  // Merging leaves the damaged lines out.
  const std::string merged = path + ".merged";
  auto stats = tune::merge_logs({path}, merged);
  CHECK(stats.records == 7);
  CHECK(stats.damaged == 2);
  CHECK(tune::read_log(merged).damaged.empty());
  CHECK(tune::read_log(merged).records.size() == 7);
  std::filesystem::remove(merged);
  std::filesystem::remove(path);

  // A file without a single record is no tuning log: an error, never appended to.
  std::ofstream(path) << "{\n  \"name\": \"resnet18\",\n  \"layers\": []\n}\n";
  CHECK_THROWS_WITH(tune::read_log(path), Catch::Contains(":1: not a JSON record") &&
                                              Catch::Contains("not a tuning log"));
  CHECK_THROWS_AS(tune::TuningLog(path), Error);
  std::filesystem::remove(path);
}

TEST_CASE("stop reasons keep the log's text and read it back", "[tune][log]") {
  using tune::StopReason;
  for (StopReason r : {StopReason::TrialBudget, StopReason::TimeLimit, StopReason::Goal,
                       StopReason::SpaceExhausted, StopReason::Interrupted, StopReason::Complete,
                       StopReason::CollectLimit}) {
    const std::string text = to_text(tune::Stop{r, 0});
    INFO(text);
    CHECK_FALSE(text.empty());
    CHECK(tune::stop_from_text(text) == r);
  }
  // The texts the log has always held.
  CHECK(to_text(tune::Stop{StopReason::TrialBudget, 0}) == "trial budget reached");
  CHECK(to_text(tune::Stop{StopReason::Interrupted, 0}) == "interrupted");
  const tune::Stop early{StopReason::EarlyStopping, 20};
  CHECK(to_text(early) == "early stopping (20 trials without improvement)");
  CHECK(tune::stop_from_text(to_text(early)).early_stopping == 20);
  CHECK(to_text(tune::Stop{}).empty());
  CHECK_FALSE(tune::stop_from_text("").stopped());
  CHECK(tune::stop_from_text("something newer") == StopReason::Unknown);
  CHECK(tune::stop_from_text("early stopping (99999999999999 trials without improvement)") ==
        StopReason::Unknown);
  // A task over two templates says each one's.
  tune::TaskOutcome o;
  o.template_stops = {{"a", {StopReason::TrialBudget, 0}}, {"b", {StopReason::Interrupted, 0}}};
  CHECK(o.stop_text() == "a: trial budget reached; b: interrupted");
  CHECK(o.interrupted());
}

TEST_CASE("a-recall@k", "[tune][model]") {
  std::vector<float> label = {0.1f, 0.9f, 0.5f, 0.3f};
  CHECK(model::average_recall(label, label, 4) == Approx(1.0));
  std::vector<float> reversed = {0.9f, 0.1f, 0.3f, 0.5f};
  CHECK(model::average_recall(reversed, label, 2) < 0.3);
}

TEST_CASE("the cost model learns a ranking", "[tune][model]") {
  // y depends on two of five features; the model must rank held-out rows well.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  auto make = [&](int rows, std::vector<float>& x, std::vector<float>& y) {
    for (int i = 0; i < rows; ++i) {
      float f[5];
      for (float& v : f) v = u(rng);
      x.insert(x.end(), f, f + 5);
      y.push_back(std::max(0.0f, 1.0f - std::abs(f[0] - 0.7f) - 0.5f * std::abs(f[3] - 0.2f)));
    }
  };
  std::vector<float> x, y, tx, ty;
  make(400, x, y);
  make(200, tx, ty);
  for (const char* loss : {"reg", "rank"}) {
    model::ModelOptions opts;
    opts.loss = loss;
    model::CostModel m(opts);
    CHECK_FALSE(m.trained());
    m.fit(x, 400, 5, y);
    CHECK(m.trained());
    CHECK(m.rounds() > 0);
    auto pred = m.predict(tx, 200, 5);
    INFO(loss);
    CHECK(model::average_recall(pred, ty, 20) > 0.5);
  }
  CHECK_THROWS_AS(model::CostModel({"hinge"}), Error);
}

TEST_CASE("annealing proposes unvisited valid configs, best first", "[tune][explore]") {
  auto wl = resnet18()[6].workload;
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto sp = tmpl.make_space(wl);
  auto h100 = target::find_preset("h100");
  std::mt19937_64 rng(1);
  auto goal = sp.random(rng);
  // Score: closeness to a goal config, so the walk has somewhere to go.
  auto predict = [&](const std::vector<space::Config>& cs) {
    std::vector<float> out;
    for (const auto& c : cs) {
      float d = 0;
      for (size_t k = 0; k < c.choice.size(); ++k)
        d += float(std::abs(c.choice[k] - goal.choice[k]));
      out.push_back(-d);
    }
    return out;
  };
  auto valid = [&](const space::Config& c) {
    return codegen::check_static(h100, tmpl.features(wl, sp, c)).ok;
  };
  std::unordered_set<int64_t> visited = {goal.index};
  explore::ExploreContext ctx{sp, predict, valid, visited, rng, 64, {}};
  explore::SimulatedAnnealing sa({});
  auto cands = sa.explore(ctx);
  REQUIRE(cands.size() > 10);
  std::unordered_set<int64_t> seen;
  for (size_t i = 0; i < cands.size(); ++i) {
    CHECK(valid(cands[i].config));
    CHECK(visited.count(cands[i].config.index) == 0);
    CHECK(seen.insert(cands[i].config.index).second);
    if (i > 0) CHECK(cands[i - 1].score >= cands[i].score);
  }
  // Better than chance: the best candidate beats the best of as many random configs.
  float random_best = -1e9f;
  for (int i = 0; i < 64; ++i) random_best = std::max(random_best, predict({sp.random(rng)})[0]);
  CHECK(cands.front().score > random_best);
}

TEST_CASE("greedy sampling: best first, epsilon random, never visited", "[tune][sample]") {
  auto wl = resnet18()[6].workload;
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto sp = tmpl.make_space(wl);
  auto h100 = target::find_preset("h100");
  auto valid = [&](const space::Config& c) {
    return codegen::check_static(h100, tmpl.features(wl, sp, c)).ok;
  };
  std::mt19937_64 rng(2);
  std::vector<explore::Candidate> cands;
  std::unordered_set<int64_t> visited;
  while (cands.size() < 100) {
    auto c = sp.random(rng);
    if (valid(c)) cands.push_back({c, float(100 - cands.size())});
  }
  visited.insert(cands[0].config.index);
  sample::SampleContext ctx{sp, valid, visited, rng};
  sample::GreedySampler greedy(0.05);
  auto batch = greedy.sample(cands, 64, ctx);
  REQUIRE(batch.size() == 64);
  CHECK(batch[0].index == cands[1].config.index); // the best unvisited
  std::unordered_set<int64_t> from_cands;
  for (size_t i = 1; i < 62; ++i) from_cands.insert(cands[i].config.index);
  int random_picks = 0;
  for (const auto& c : batch) {
    CHECK(visited.count(c.index) == 0);
    random_picks += from_cands.count(c.index) == 0;
  }
  CHECK(random_picks == 3); // int(0.05 * 64)
  auto first = greedy.sample({}, 16, ctx);
  CHECK(first.size() == 16);
}

// The sim with estimated resources (no compiling: fast), for tune_task tests.
struct SimRig {
  target::Target h100 = target::find_preset("h100");
  measure::Builder builder{h100, "sm_90", [] {
                             measure::BuildOptions b;
                             b.compile = false;
                             return b;
                           }()};
  measure::SimRunner runner{h100, {}};
  NoProgress progress;
  tune::TuneEnv env(tune::TuningLog& log) {
    return {h100, builder, runner, log, {}, progress, "test"};
  }
  // Tunes t with o into a fresh log named after `name`, with `history` for transfer; the log as
  // read back (the file is removed).
  tune::LogContents tune(const task::Task& t, const tune::TuneOptions& o, const std::string& name,
                         std::vector<tune::Record> history = {}) {
    const std::string path = temp_path(name);
    {
      tune::TuningLog log(path);
      tune::TuneEnv e = env(log);
      e.history = std::move(history);
      tune::tune_task(t, o, e, 1, 1);
    }
    tune::LogContents read = tune::read_log(path);
    std::filesystem::remove(path);
    return read;
  }
};

TEST_CASE("the chameleon tuner is reproducible on the sim: the same configs in the same order",
          "[tune][ppo]") {
  // A new PPO agent's first weights come from the seeded generator too: they once came from
  // whatever state an earlier agent or process had left it in.
  auto t = resnet18()[3];
  SimRig rig;
  tune::TuneOptions o;
  o.tuner = "chameleon";
  o.trials = 24;
  o.batch = 8;
  std::vector<std::vector<int64_t>> runs;
  for (int run = 0; run < 2; ++run) {
    const std::string path = temp_path("reproducible-" + std::to_string(run));
    {
      tune::TuningLog log(path);
      tune::TuneEnv env = rig.env(log);
      tune::tune_task(t, o, env, 1, 1);
    }
    runs.emplace_back();
    for (const auto& r : tune::read_log(path).records) runs.back().push_back(r.index);
    std::filesystem::remove(path);
  }
  REQUIRE(runs[0].size() == 24);
  CHECK(runs[0] == runs[1]);
}

TEST_CASE("the sim feature: the sim model's estimate as the cost model's last column", "[tune]") {
  auto t = resnet18()[3];
  const target::Target h100 = target::find_preset("h100");
  const auto& tmpl = codegen::find_template("conv2d_implicit_gemm");
  const space::ConfigSpace sp = tmpl.make_space(t.workload);
  const model::FeatureExtractor plain(tmpl, t.workload, sp, h100);
  int calls = 0;
  const model::FeatureExtractor more(
      tmpl, t.workload, sp, h100,
      {"probe", [&calls](const task::Conv2dWorkload& wl, const codegen::KernelFeatures&,
                         const target::Resources* compiled) {
         ++calls;
         return compiled ? -1.0f : float(wl.k);
       }});
  REQUIRE(more.size() == plain.size() + 1);
  CHECK(more.names().back() == "probe");
  std::mt19937_64 rng(1);
  const space::Config c = sp.random(rng);
  std::vector<float> a(size_t(plain.size())), b(size_t(more.size()));
  plain.extract(c, nullptr, a.data());
  more.extract(c, nullptr, b.data());
  CHECK(std::equal(a.begin(), a.end(), b.begin())); // the same columns first
  CHECK(b.back() == float(t.workload.k));
  target::Resources res;
  res.registers = 64;
  more.extract(c, &res, b.data());
  CHECK(b.back() == -1.0f); // compiled resources reach it
  CHECK(calls == 2);

  // A tune with it on the sim: every column trained, the flag in the run header.
  SimRig rig;
  tune::TuneOptions o;
  o.templates = {"conv2d_implicit_gemm"};
  o.trials = 32;
  o.batch = 16;
  o.sim_feature = true;
  CHECK(rig.tune(t, o, "sim-feature").records.size() == 32);
  CHECK(tune::to_json(o).at("sim_feature") == true);
}

TEST_CASE("the sim prior draws the first batch from configs the sim model ranks first", "[tune]") {
  // On the sim device the prior ranks by the device's own model: the first batch must be faster
  // than a random one, and the same with every tuner that has a model (not the random tuner).
  auto t = resnet18()[3];
  SimRig rig;
  auto first_batch_mean = [&](const std::string& tuner, int prior) {
    tune::TuneOptions o;
    o.tuner = tuner;
    o.templates = {"conv2d_implicit_gemm"};
    o.trials = 16;
    o.batch = 16;
    o.seed = 3;
    o.sim_prior = prior;
    const auto read = rig.tune(t, o, "sim-prior-" + tuner + std::to_string(prior));
    REQUIRE(read.records.size() == 16);
    double sum = 0;
    for (const auto& r : read.records) sum += r.ok() ? r.seconds() : 1.0;
    return sum / 16;
  };
  for (const char* tuner : {"chameleon", "autotvm"}) {
    INFO(tuner);
    const double random_first = first_batch_mean(tuner, 0);
    const double ranked_first = first_batch_mean(tuner, 512);
    CHECK(ranked_first < 0.8 * random_first);
  }
  CHECK(first_batch_mean("random", 512) == first_batch_mean("random", 0));
  tune::TuneOptions o;
  o.sim_prior = 64;
  CHECK(tune::to_json(o).at("sim_prior") == 64);
}

TEST_CASE("coordinate descent: each batch after the first measures one-step neighbours of the "
          "best configs",
          "[tune]") {
  auto t = resnet18()[3];
  SimRig rig;
  tune::TuneOptions o;
  o.templates = {"conv2d_implicit_gemm"};
  o.trials = 64;
  o.batch = 16;
  o.seed = 5;
  o.neighbors = 4;
  const auto read = rig.tune(t, o, "neighbors");
  REQUIRE(read.records.size() == 64);
  const auto& tmpl = codegen::find_template("conv2d_implicit_gemm");
  const auto sp = tmpl.make_space(t.workload);
  // One knob moved by one choice.
  auto one_step = [&](int64_t a, int64_t b) {
    const auto ca = sp.get(a), cb = sp.get(b);
    int moved = 0;
    for (size_t k = 0; k < ca.choice.size(); ++k) {
      const int d = std::abs(ca.choice[k] - cb.choice[k]);
      if (d > 1) return false;
      moved += d;
    }
    return moved == 1;
  };
  for (int iteration = 2; iteration <= 4; ++iteration) {
    // The four best measured before this batch.
    std::vector<std::pair<double, int64_t>> before;
    for (const auto& r : read.records)
      if (r.iteration < iteration && r.ok()) before.emplace_back(r.seconds(), r.index);
    std::sort(before.begin(), before.end());
    before.resize(std::min<size_t>(before.size(), 4));
    int near = 0;
    for (const auto& r : read.records) {
      if (r.iteration != iteration) continue;
      bool is_near = false;
      for (const auto& b : before) is_near = is_near || one_step(r.index, b.second);
      near += is_near;
    }
    INFO("iteration " << iteration);
    CHECK(near >= 4);
  }
  CHECK(tune::to_json(o).at("neighbors") == 4);
}

TEST_CASE("transfer trust: misleading history loses its weight, a faithful one keeps it",
          "[tune]") {
  // History: 192 sim measurements of another ResNet-18 layer of the same template. Faithful as
  // measured, misleading with its times reversed (its slowest config labelled fastest).
  SimRig rig;
  tune::TuneOptions o;
  o.templates = {"conv2d_implicit_gemm"};
  o.trials = 192;
  o.batch = 16;
  o.seed = 5;
  const std::vector<tune::Record> history = rig.tune(resnet18()[2], o, "trust-history").records;
  REQUIRE(history.size() == 192);
  std::vector<tune::Record> reversed = history;
  {
    std::vector<double> times;
    for (const auto& r : history) times.push_back(r.ok() ? r.seconds() : 1.0);
    std::vector<size_t> order(times.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return times[a] < times[b]; });
    for (size_t i = 0; i < order.size(); ++i) {
      tune::Record& r = reversed[order[i]];
      r.result.error = measure::ErrorNo::None;
      r.result.costs = {times[order[order.size() - 1 - i]]};
      r.result.median = r.result.costs[0];
    }
  }
  struct Run {
    std::vector<double> trust; // per iteration comment that has one
  };
  auto tune_with = [&](const std::vector<tune::Record>& h, bool trust) {
    tune::TuneOptions t = o;
    t.trials = 64;
    t.transfer_seeds = 0;
    t.transfer_trust = trust ? 1 : 0;
    Run run;
    for (const auto& c :
         rig.tune(resnet18()[3], t, std::string("trust-") + (trust ? "on" : "off"), h).comments) {
      if (c.rfind("chameleon-iteration ", 0) != 0) continue;
      const auto j = nlohmann::json::parse(c.substr(20));
      if (j.contains("transfer_trust")) run.trust.push_back(j.at("transfer_trust").get<double>());
    }
    return run;
  };
  const Run faithful = tune_with(history, true);
  const Run misleading = tune_with(reversed, true);
  REQUIRE(!faithful.trust.empty());
  REQUIRE(!misleading.trust.empty());
  // Reversed, the rank correlation falls to negative, clipped to 0; faithful, it stays well above
  // (it varies: the task's records are the configs both models rank high).
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  };
  CHECK(mean(misleading.trust) < mean(faithful.trust) - 0.2);
  CHECK(misleading.trust.back() < 0.05);
  for (double v : faithful.trust) CHECK(v > 0.0);
  for (double v : misleading.trust) {
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }
  CHECK(tune_with(history, false).trust.empty()); // off: no check, no comment
  // The tuner's own: on for chameleon, ae and sa-as; AutoTVM's transfer for the published tuners.
  for (const char* tuner : {"chameleon", "ae", "sa-as", "autotvm", "chameleon-paper", "random"}) {
    tune::TuneOptions d;
    d.tuner = tuner;
    const bool own = std::string(tuner) == "chameleon" || std::string(tuner) == "ae" ||
                     std::string(tuner) == "sa-as";
    CHECK(tune::transfer_trust(d) == own);
    CHECK(tune::to_json(d).at("transfer_trust") == own);
    d.transfer_trust = 1 - int(own); // said on the command line
    CHECK(tune::transfer_trust(d) == !own);
  }

  // The training set: trust scales the transfer rows' weight; 0 drops them.
  tune::TrainingSet set(2, 0);
  for (int i = 0; i < 100; ++i) set.add_transfer("a@sim", {float(i), 0}, 1.0 + i);
  const float f[2] = {1, 1};
  set.add_own(f, 1.0);
  set.set_trust(0.5);
  auto rows = set.rows();
  REQUIRE(rows.w.size() == 101);
  CHECK(rows.w.back() == Approx(0.5 * std::pow(0.5, 1.0 / 64)));
  set.set_trust(0.0);
  CHECK(set.rows().w.size() == 1);
  // agreement: a model of the transfer rows ranks own rows of the same landscape as they measured,
  // and those of a reversed one the other way round.
  model::CostModel m{model::ModelOptions{}};
  REQUIRE(set.fit_transfer(m));
  tune::TrainingSet same(2, 0), opposite(2, 0);
  for (int i = 0; i < 20; ++i) {
    const float g[2] = {float(5 * i), 0};
    same.add_own(g, 1.0 + i);
    opposite.add_own(g, 100.0 - i);
  }
  CHECK(same.agreement(m) > 0.9);
  CHECK(opposite.agreement(m) < -0.9);
}

TEST_CASE("tune_task logs every trial, resumes without measuring again, stops early", "[tune]") {
  auto t = resnet18()[9]; // 512@7 3x3, a small space
  SimRig rig;
  std::string path = temp_path("task");
  tune::TuneOptions o;
  o.trials = 48;
  o.batch = 16;
  {
    tune::TuningLog log(path);
    tune::TuneEnv env = rig.env(log);
    auto out = tune::tune_task(t, o, env, 1, 1);
    CHECK(out.trials == 48);
    CHECK(out.new_trials == 48);
    REQUIRE(out.best.has_value());
    CHECK(log.size() == 48);
  }
  std::unordered_set<int64_t> indices;
  for (const auto& r : tune::read_log(path).records) indices.insert(r.index);
  CHECK(indices.size() == 48); // never the same config twice
  {
    tune::TuningLog log(path);
    tune::TuneEnv env = rig.env(log);
    auto again = tune::tune_task(t, o, env, 1, 1);
    CHECK(again.trials == 48);
    CHECK(again.new_trials == 0);
    o.trials = 64;
    auto more = tune::tune_task(t, o, env, 1, 1);
    CHECK(more.new_trials == 16);
  }
  {
    tune::TuningLog log(temp_path("early"));
    tune::TuneEnv env = rig.env(log);
    o.trials = 400;
    o.batch = 8;
    o.early_stopping = 8;
    auto early = tune::tune_task(t, o, env, 1, 1);
    CHECK(early.new_trials < 400);
    CHECK(early.stop_text().find("early stopping") != std::string::npos);
    std::filesystem::remove(log.path());
  }
  std::filesystem::remove(path);
}

TEST_CASE("a task's trials go first evenly to its templates, then to the fastest", "[tune]") {
  auto t = resnet18()[6]; // 256@14 3x3
  SimRig rig;
  tune::TuneOptions o;
  o.trials = 64;
  o.batch = 8;
  o.templates = {"conv2d_direct_splitk", "conv2d_implicit_gemm"};
  for (bool resume : {true, false}) { // --force too: this tune's own records count
    o.resume = resume;
    tune::TuningLog log(temp_path(resume ? "split" : "split-force"));
    tune::TuneEnv env = rig.env(log);
    auto out = tune::tune_task(t, o, env, 1, 1);
    CHECK(out.trials == 64);
    CHECK(out.new_trials == 64);
    std::map<std::string, int> per_template;
    std::map<std::string, double> best;
    for (const auto& r : tune::read_log(log.path()).records) {
      ++per_template[r.template_name];
      if (r.ok() && (!best.count(r.template_name) || r.seconds() < best[r.template_name])) {
        best[r.template_name] = r.seconds();
      }
    }
    REQUIRE(per_template.size() == 2);
    REQUIRE(out.best.has_value());
    const std::string winner = out.best->template_name;
    const std::string other =
        winner == "conv2d_implicit_gemm" ? "conv2d_direct_splitk" : "conv2d_implicit_gemm";
    CHECK(per_template[other] == 16);  // half of an even share
    CHECK(per_template[winner] == 48); // the rest
    CHECK(best[winner] <= best[other]);
    // No trial went to a config whose kernel another config makes (KernelFeatures::duplicate).
    for (const auto& r : tune::read_log(log.path()).records) {
      const auto& tmpl = codegen::find_template(r.template_name);
      const auto sp = tmpl.make_space(r.workload);
      INFO(r.template_name << " " << sp.str(sp.from_entity(r.entity)));
      CHECK(tmpl.features(r.workload, sp, sp.from_entity(r.entity)).duplicate.empty());
    }
    std::filesystem::remove(log.path());
  }
}

namespace {
// The sim, on a device with 1 GiB of memory.
class SmallDevice : public measure::Runner {
public:
  explicit SmallDevice(measure::Runner& inner) : inner_(inner) {}
  std::string device_name() const override { return inner_.device_name(); }
  bool simulated() const override { return true; }
  std::string fingerprint() const override { return inner_.fingerprint(); }
  measure::MeasureResult run(const task::Conv2dWorkload& wl,
                             const measure::BuildResult& b) override {
    return inner_.run(wl, b);
  }
  std::string cannot_hold(const task::Conv2dWorkload& wl) const override {
    return measure::memory_shortfall(wl, int64_t(1) << 30);
  }

private:
  measure::Runner& inner_;
};
} // namespace

TEST_CASE(
    "a task whose tensors the GPU cannot hold is skipped with the sizes, and the others are tuned",
    "[tune]") {
  SimRig rig;
  SmallDevice small(rig.runner);
  tune::TuningLog log(temp_path("small-device"));
  tune::TuneEnv env{rig.h100, rig.builder, small, log, {}, rig.progress, "test"};
  tune::TuneOptions o;
  o.trials = 8;
  o.batch = 8;
  task::Task big = resnet18()[9];
  big.workload.n = 256; // 512@7x7 at batch 256: 25 MiB in, 9 MiB weights, 2 x 25 MiB out: fits
  auto out = tune::tune_task(big, o, env, 1, 2);
  CHECK(out.skipped.empty());
  CHECK(out.trials == 8);
  big.workload.n = 8192; // 0.77 GiB in, 2 x 0.77 GiB out
  CHECK(measure::tensor_bytes(big.workload) == 4 * (8192LL * 512 * 49 * 3 + 512LL * 512 * 9));
  out = tune::tune_task(big, o, env, 2, 2);
  CHECK(out.skipped == "its tensors (input, weights, output and reference) need 2.3 GiB, more than "
                       "the GPU's 1.0 GiB");
  CHECK(out.trials == 0);
  CHECK(tune::read_log(log.path()).records.size() == 8); // nothing recorded for it, nothing lost
  std::filesystem::remove(log.path());
}

TEST_CASE("a time limit stops every task, each after its share, and keeps what was measured",
          "[tune]") {
  SimRig rig;
  tune::TuningLog log(temp_path("time-limit"));
  tune::TuneEnv env = rig.env(log);
  const auto all = resnet18();
  const std::vector<task::Task> tasks = {all[3], all[6], all[9]}; // three 3x3 layers
  tune::TuneOptions o;
  o.trials = 1000000; // never the reason to stop
  o.batch = 8;
  o.time_limit_s = 3;
  const auto outcomes = tune::tune_tasks(tasks, o, env);
  REQUIRE(outcomes.size() == 3);
  size_t measured = 0;
  for (const auto& out : outcomes) {
    INFO("task " << out.task.index << ": " << out.stop_text());
    CHECK(out.stop_text().find("time limit reached") != std::string::npos);
    CHECK(out.stop_text().find("trial budget") == std::string::npos);
    CHECK(out.trials > 0); // each task had its share, not only the first
    measured += size_t(out.new_trials);
  }
  CHECK(tune::read_log(log.path()).records.size() == measured);
  std::filesystem::remove(log.path());
}

TEST_CASE("an interrupt stops the task after its batch in flight, starts no other, and keeps what "
          "was measured",
          "[tune]") {
  // Ctrl-C during the first batch of the first task (its first template).
  struct InterruptAtFirstBatch : tune::ProgressSink {
    void task_start(const task::Task&, const std::string&, int, int, int) override {}
    void iteration(const tune::Progress&) override { util::set_interrupt_requested(true); }
    void task_end(const tune::TaskOutcome&, int, int) override {}
  } progress;
  SimRig rig;
  tune::TuningLog log(temp_path("interrupt"));
  tune::TuneEnv env{rig.h100, rig.builder, rig.runner, log, {}, progress, "test"};
  const auto all = resnet18();
  const std::vector<task::Task> tasks = {all[3], all[6],
                                         all[9]}; // tuned over several templates each
  tune::TuneOptions o;
  o.trials = 64;
  o.batch = 8;
  // The flag is the process's: lowered again whatever happens here, for the tests after this one.
  struct Lower {
    Lower() { util::set_interrupt_requested(false); }
    ~Lower() { util::set_interrupt_requested(false); }
  } lower;
  const auto outcomes = tune::tune_tasks(tasks, o, env);
  CHECK(util::interrupt_requested());
  REQUIRE(outcomes.size() == 3);
  // The first task kept its one batch, of its first template; the others were not started.
  CHECK(outcomes[0].new_trials == 8);
  CHECK(outcomes[0].interrupted());
  CHECK(outcomes[0].stop_text().find("interrupted") != std::string::npos);
  CHECK(outcomes[0].stop_text().find("trial budget") == std::string::npos);
  CHECK(outcomes[0].best);
  for (size_t i : {size_t(1), size_t(2)}) {
    INFO("task " << i);
    CHECK(outcomes[i].task.index == tasks[i].index);
    CHECK(outcomes[i].new_trials == 0);
    CHECK(outcomes[i].skipped == "not started: interrupted");
    CHECK(outcomes[i].stop == tune::StopReason::Interrupted);
  }
  const auto contents = tune::read_log(log.path());
  CHECK(contents.records.size() == 8);
  // The log says the task ended interrupted: status calls it unfinished, not up to date.
  const auto status =
      tune::task_status({tasks[0]}, contents.records, rig.h100.name, rig.runner.fingerprint(),
                        {outcomes[0].template_name}, false, 0, contents.comments);
  CHECK(status[0].state == tune::TaskState::Unfinished);
  std::filesystem::remove(log.path());
}

TEST_CASE("after each task, the run's progress: tasks done, elapsed, and the time left at the mean "
          "task time",
          "[tune]") {
  struct RunEvents : tune::ProgressSink {
    void task_start(const task::Task&, const std::string&, int, int, int) override {}
    void iteration(const tune::Progress&) override {}
    void task_end(const tune::TaskOutcome&, int, int) override {}
    void run_progress(const tune::RunProgress& r) override { events.push_back(r); }
    std::vector<tune::RunProgress> events;
  } progress;
  SimRig rig;
  tune::TuningLog log(temp_path("run-progress"));
  tune::TuneEnv env{rig.h100, rig.builder, rig.runner, log, {}, progress, "test"};
  const auto all = resnet18();
  const std::vector<task::Task> tasks = {all[4], all[7], all[10]}; // three 1x1 layers
  tune::TuneOptions o;
  o.trials = 16;
  o.batch = 8;
  const auto outcomes = tune::tune_tasks(tasks, o, env);
  REQUIRE(progress.events.size() == 3);
  double elapsed = 0, mean = 0;
  for (size_t i = 0; i < 3; ++i) {
    const auto& r = progress.events[i];
    INFO("event " << i);
    CHECK(r.done == int(i) + 1);
    CHECK(r.count == 3);
    CHECK(r.elapsed_s >= elapsed);
    elapsed = r.elapsed_s;
    mean = (mean * double(i) + outcomes[i].wall_s) / double(i + 1);
    CHECK(r.left_s == Approx(double(2 - i) * mean));
  }
  CHECK(progress.events.back().left_s == 0);

  // A resumed run measures nothing: no estimate until a task measures.
  progress.events.clear();
  tune::tune_tasks(tasks, o, env);
  REQUIRE(progress.events.size() == 3);
  for (const auto& r : progress.events) CHECK(r.left_s < 0);
  std::filesystem::remove(log.path());
}

TEST_CASE("depthwise convolutions are tuned by the depthwise template and the implicit GEMM, and a "
          "task no template takes is skipped with a reason",
          "[tune]") {
  auto tasks = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/mobilenet_v2.json"));
  auto grouped =
      std::find_if(tasks.begin(), tasks.end(), [](const auto& t) { return t.workload.groups > 1; });
  REQUIRE(grouped != tasks.end());
  SimRig rig;
  tune::TuningLog log(temp_path("grouped"));
  tune::TuneEnv env = rig.env(log);
  tune::TuneOptions o;
  o.trials = 16;
  o.batch = 8;
  auto out = tune::tune_task(*grouped, o, env, 1, 1);
  CHECK(out.skipped.empty());
  CHECK(out.trials == 16);
  REQUIRE(out.best.has_value());
  std::set<std::string> tuned;
  for (const auto& r : tune::read_log(log.path()).records) tuned.insert(r.template_name);
  CHECK(tuned == std::set<std::string>{"conv2d_depthwise", "conv2d_implicit_gemm"});
  CHECK(tuned.count(out.best->template_name) == 1);
  // Grouped (no direct schedule) and beyond the GEMM's 32-bit indexing: nothing takes it.
  task::Task huge = *grouped;
  huge.workload.c = huge.workload.k = huge.workload.groups = 2;
  huge.workload.h = huge.workload.w = 33000;
  out = tune::tune_task(huge, o, env, 1, 1);
  CHECK(out.skipped.find("no template") != std::string::npos);
  CHECK(out.trials == 0);
  std::filesystem::remove(log.path());
  CHECK_THROWS_WITH(tune::make_tuner([] {
                      tune::TuneOptions o;
                      o.tuner = "bogus";
                      return o;
                    }()),
                    Catch::Contains("unknown tuner"));
}

TEST_CASE("transfer seeds: the fastest configs of similar tasks, that fit and are new", "[tune]") {
  const auto tasks = resnet18();
  const auto& gemm = codegen::find_template("conv2d_implicit_gemm");
  const auto& wl = tasks[6].workload; // 256@14 3x3
  const auto space = gemm.make_space(wl);
  auto record = [&](size_t task, int64_t index, double seconds,
                    const std::string& tmpl = "conv2d_implicit_gemm") {
    tune::Record r;
    r.workload = tasks[task].workload;
    r.template_name = tmpl;
    r.template_fingerprint = codegen::find_template(tmpl).fingerprint();
    r.device = "sim:h100";
    r.index = index;
    r.entity = space.entity_json(space.get(index));
    r.result.median = seconds;
    r.result.error = measure::ErrorNo::None;
    return r;
  };
  std::vector<tune::Record> log = {
      record(3, 100, 3e-5),
      record(3, 101, 2e-5),
      record(3, 102, 9e-5), // 128@28 3x3: 101, 100
      record(0, 200, 1e-5),
      record(0, 201, 5e-5),                              // the 7x7 stem: 200, 201
      record(9, 300, 4e-5),                              // 512@7 3x3: 300
      record(6, 400, 1e-6),                              // this task: not a seed
      record(3, 500, 1e-7, "conv2d_implicit_gemm_tf32"), // another template
  };
  log.push_back(record(9, 301, 1e-6));
  log.back().result.error = measure::ErrorNo::WrongAnswer; // failed: not a seed
  log.push_back(record(0, 600, 1e-7));
  log.back().template_fingerprint =
      "0123456789abcdef"; // an older version of the template: not a seed
  std::vector<const tune::Record*> pool;
  for (const auto& r : log) pool.push_back(&r);
  auto indices = [](const std::vector<space::Config>& configs) {
    std::vector<int64_t> out;
    for (const auto& c : configs) out.push_back(c.index);
    return out;
  };
  auto any = [](const space::Config&) { return true; };
  // Every other task's best first, the most similar (3x3, nearest sizes) first, then the seconds.
  CHECK(indices(tune::transfer_seeds(pool, gemm, wl, space, any, {}, 8)) ==
        std::vector<int64_t>{101, 300, 200, 100, 201});
  CHECK(indices(tune::transfer_seeds(pool, gemm, wl, space, any, {}, 2)) ==
        std::vector<int64_t>{101, 300});
  // Configs already measured, or that fail the static check, are skipped.
  CHECK(indices(tune::transfer_seeds(pool, gemm, wl, space, any, {300}, 2)) ==
        std::vector<int64_t>{101, 200});
  auto not_101 = [](const space::Config& c) { return c.index != 101; };
  CHECK(indices(tune::transfer_seeds(pool, gemm, wl, space, not_101, {}, 1)) ==
        std::vector<int64_t>{300});
  CHECK(tune::transfer_seeds(pool, gemm, wl, space, any, {}, 0).empty());
  // A record read from an AutoTVM log has no version to compare: it counts as today's.
  tune::Record autotvm = record(0, 700, 1e-8);
  autotvm.template_fingerprint.clear();
  autotvm.foreign = true;
  CHECK(indices(tune::transfer_seeds({&autotvm, &log[3]}, gemm, wl, space, any, {}, 1)) ==
        std::vector<int64_t>{700});
  // A config that does not fit the space (the direct schedule's splits are the shape's) is skipped.
  const auto& direct = codegen::find_template("conv2d_direct");
  tune::Record foreign = record(3, 0, 1e-5, "conv2d_direct");
  foreign.entity =
      direct.make_space(tasks[3].workload).entity_json(direct.make_space(tasks[3].workload).get(5));
  CHECK(tune::transfer_seeds({&foreign}, direct, tasks[9].workload,
                             direct.make_space(tasks[9].workload), any, {}, 4)
            .empty());
}

TEST_CASE("a new task measures the fastest configs of the tasks tuned before it first", "[tune]") {
  const auto tasks = resnet18();
  SimRig rig;
  for (int seeds : {4, 0}) {
    tune::TuningLog log(temp_path("seeds-" + std::to_string(seeds)));
    tune::TuneEnv env = rig.env(log);
    tune::TuneOptions o;
    o.trials = 32;
    o.batch = 16;
    o.templates = {"conv2d_implicit_gemm"};
    o.transfer_seeds = seeds;
    tune::tune_task(tasks[3], o, env, 1, 2);
    std::vector<std::pair<double, int64_t>> first;
    for (const auto& r : log.snapshot()) {
      if (r.ok()) first.emplace_back(r.seconds(), r.index);
    }
    std::sort(first.begin(), first.end());
    const size_t before = log.size();
    tune::tune_task(tasks[6], o, env, 2, 2);
    const auto records = log.snapshot();
    REQUIRE(records.size() == before + 32);
    // The first task's two fastest are in the second task's first batch.
    std::set<int64_t> first_batch;
    for (size_t i = before; i < records.size(); ++i) {
      if (records[i].iteration == 1) first_batch.insert(records[i].index);
    }
    const bool led = first_batch.count(first[0].second) && first_batch.count(first[1].second);
    CHECK(led == (seeds > 0));
    std::filesystem::remove(log.path());
  }
}

TEST_CASE("tune --lanes auto takes one lane per two cores and per task and per 4 GiB of GPU memory "
          "and at most 8",
          "[tune]") {
  const uint64_t gib = uint64_t(1) << 30;
  CHECK(tune::auto_lanes(16, 141 * gib, 11) == 8); // the H200 host: cores and the cap of 8
  CHECK(tune::auto_lanes(16, 80 * gib, 3) == 3);   // one per task
  CHECK(tune::auto_lanes(16, 16 * gib, 11) == 4);  // a 16 GiB card: 4 GiB per lane
  CHECK(tune::auto_lanes(64, 24 * gib, 20) == 6);
  CHECK(tune::auto_lanes(16, 6 * gib, 11) == 1); // less than two lanes' memory
  CHECK(tune::auto_lanes(2, 80 * gib, 11) == 1); // two cores
  CHECK(tune::auto_lanes(1, 80 * gib, 11) == 1);
  CHECK(tune::auto_lanes(0, 80 * gib, 11) == 1); // hardware_concurrency() unknown
  CHECK(tune::auto_lanes(12, 0, 11) == 6);       // memory unknown: no cap from it
  CHECK(tune::auto_lanes(16, 80 * gib, 0) == 1);
}

TEST_CASE("the training set discounts transfer rows, and caps their weight when asked", "[tune]") {
  auto sum = [](const std::vector<float>& w, size_t from) {
    double s = 0;
    for (size_t i = from; i < w.size(); ++i) s += w[i];
    return s;
  };
  const float f[2] = {1, 2};
  for (int cap : {0, 100}) {
    tune::TrainingSet set(2, cap);
    CHECK(set.rows().y.empty()); // nothing to learn from
    for (int i = 0; i < 1000; ++i)
      set.add_transfer(i % 2 ? "a@sim" : "b@sim", {1, float(i)}, 1.0 + i);
    auto r = set.rows();
    REQUIRE(r.y.size() == 1000);
    // Each group is labelled against its own best.
    CHECK(*std::max_element(r.y.begin(), r.y.end()) == 1.0f);
    CHECK(sum(r.w, 0) == Approx(cap ? 100.0 : 1000.0));
    for (int i = 0; i < 64; ++i) set.add_own(f, 10.0 + i);
    r = set.rows();
    REQUIRE(r.y.size() == 1064);
    CHECK(r.y[63] == 1.0f); // the task's own best
    CHECK(sum(r.w, 0) - sum(r.w, 64) == Approx(64.0));
    CHECK(sum(r.w, 64) == Approx((cap ? 100.0 : 1000.0) / 2)); // 1/2^(64/64)
    for (int i = 0; i < 256; ++i) set.add_own(f, 1.0);
    CHECK(set.rows().y.size() == 320); // 1/2^5 < 0.05: transfer rows dropped
  }
  // Only failed measurements of its own, none to transfer: nothing to learn.
  tune::TrainingSet failed(2, 0);
  failed.add_own(f, 0.0);
  CHECK(failed.rows().y.empty());
}
