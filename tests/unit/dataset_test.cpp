// The measurement dataset's parts of the tune module: slices, their collection, recordings read
// back as the recorded device, tuning on it, and the sim's fidelity to a recording.
#include <catch2/catch.hpp>

#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/tune/collect.hpp"
#include "chameleon/tune/fidelity.hpp"
#include "chameleon/tune/provenance.hpp"
#include "chameleon/tune/recording.hpp"
#include "chameleon/tune/tuner.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace chameleon;

namespace {

namespace fs = std::filesystem;

struct Quiet : tune::ProgressSink {
  void task_start(const task::Task&, const std::string&, int, int, int) override {}
  void iteration(const tune::Progress&) override {}
  void task_end(const tune::TaskOutcome&, int, int) override {}
};

std::string temp_dir(const std::string& name) {
  auto dir =
      fs::temp_directory_path() / ("chameleon-dataset-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// A slice of ResNet-18 task 7 on the implicit GEMM: 48 configs, some of them not tunable.
nlohmann::json slice_json() {
  return nlohmann::json::parse(R"({
    "name": "unit-t7-gemm", "network": "resnet18", "task": 7, "template": "conv2d_implicit_gemm",
    "workload": {"N": 1, "C": 256, "H": 14, "W": 14, "K": 256, "R": 3, "S": 3, "stride": [1, 1],
                 "padding": [1, 1, 1, 1], "dilation": [1, 1], "groups": 1},
    "knobs": {"tile_k": [8, 16], "thread_m": [4], "thread_n": [4, 8], "lanes_n": [8], "warps_m": [1, 2],
              "warps_n": [2], "split_k": [1, 4, 8], "splitk_reduce": [0, 1], "stages": [2], "tap_major": [0]}})");
}

// Collection and tuning on the sim with estimated resources (no NVRTC: fast).
struct Rig {
  target::Target h100 = target::find_preset("h100");
  measure::Builder builder{h100, "sm_90", [] {
                             measure::BuildOptions b;
                             b.compile = false;
                             b.jobs = 2;
                             return b;
                           }()};
  measure::SimRunner sim{h100, {}};
  Quiet progress;
};

tune::CollectOutcome collect(Rig& rig, const tune::Slice& s, const std::string& log_path,
                             int limit = 0) {
  tune::TuningLog log(log_path);
  tune::TuneEnv env{rig.h100, rig.builder, rig.sim, log, {}, rig.progress, s.network};
  tune::CollectOptions o;
  o.limit = limit;
  o.batch = 8;
  return tune::collect_slice(s, o, env);
}

} // namespace

TEST_CASE("a slice file names a template that supports its workload and knob values it has",
          "[tune][slice]") {
  const tune::Slice s = tune::slice_from_json(slice_json(), "test");
  CHECK(s.name == "unit-t7-gemm");
  CHECK(s.space().size() == 48);
  CHECK(tune::slice_from_json(tune::to_json(s), "again").space().size() == 48);
  auto bad = slice_json();
  bad["knobs"]["tile_k"] = {12};
  CHECK_THROWS_WITH(tune::slice_from_json(bad, "f.json"),
                    Catch::Contains("f.json (slice 'unit-t7-gemm')") &&
                        Catch::Contains("knob 'tile_k': 12"));
  bad = slice_json();
  bad["template"] = "conv2d_winograd";
  bad["workload"]["R"] = bad["workload"]["S"] = 1;
  bad["workload"]["padding"] = {0, 0, 0, 0};
  bad.erase("knobs");
  CHECK_THROWS_WITH(tune::slice_from_json(bad, "f.json"), Catch::Contains("does not support"));
  bad = slice_json();
  bad.erase("workload");
  CHECK_THROWS_WITH(tune::slice_from_json(bad, "f.json"), Catch::Contains("needs a workload"));
  bad = slice_json();
  bad["template"] = "conv2d_nothing";
  CHECK_THROWS_WITH(tune::slice_from_json(bad, "f.json"), Catch::Contains("conv2d_nothing"));
  const std::string dir = temp_dir("slice-file");
  std::ofstream(dir + "/cut.json") << R"({"name": "x", "template": )";
  CHECK_THROWS_WITH(tune::load_slice(dir + "/cut.json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(tune::load_slice(dir + "/none.json"),
                    Catch::Contains("cannot open slice file"));
}

TEST_CASE(
    "collect measures every tunable config of a slice once, resumes, and records its provenance",
    "[tune][collect]") {
  Rig rig;
  const tune::Slice s = tune::slice_from_json(slice_json(), "test");
  const std::string dir = temp_dir("collect");
  const std::string path = dir + "/unit.jsonl";
  const space::ConfigSpace space = s.space();
  const auto tunable = tune::tunable_configs(s, space, rig.h100);
  REQUIRE(tunable.size() > 10);
  REQUIRE(tunable.size() < size_t(space.size())); // split 1 with a workspace repeats a kernel

  tune::CollectOutcome first = collect(rig, s, path, 10);
  CHECK(first.tunable == int(tunable.size()));
  CHECK(first.measured == 10);
  CHECK_FALSE(first.complete());
  CHECK(first.stop == tune::StopReason::CollectLimit);
  CHECK(to_text(first.stop) == "--limit reached");
  tune::CollectOutcome second = collect(rig, s, path);
  CHECK(second.before == 10);
  CHECK(second.measured == int(tunable.size()) - 10);
  CHECK(second.complete());
  CHECK(second.stop == tune::StopReason::Complete);
  REQUIRE(second.best);
  tune::CollectOutcome third = collect(rig, s, path);
  CHECK(third.measured == 0);
  CHECK(third.complete());

  tune::LogContents log = tune::read_log(path);
  CHECK(log.records.size() == tunable.size());
  std::set<std::string> seen;
  const space::ConfigSpace full = s.tmpl().make_space(s.workload);
  for (const tune::Record& r : log.records) {
    CHECK(seen.insert(space.str(space.from_entity(r.entity))).second); // each config once
    CHECK(full.entity_json(full.get(r.index)) == r.entity); // the index is the whole space's
    CHECK(r.tuner == "collect");
    CHECK(r.result.settings.at("tune").at("slice") == "unit-t7-gemm");
    CHECK(r.result.settings.at("tune").contains("elapsed_s"));
  }
  // Two runs measured: two run lines, each with the slice and the provenance.
  const auto headers = tune::read_run_headers(log.comments);
  REQUIRE(headers.size() == 2);
  for (const auto& h : headers) {
    CHECK(h.at("collect").at("name") == "unit-t7-gemm");
    const auto& p = h.at("provenance");
    CHECK(p.at("device") == "sim:h100");
    CHECK(p.at("compile_jobs") == 2);
    CHECK(p.at("target").at("name") == "h100");
    CHECK_FALSE(p.at("chameleon").get<std::string>().empty());
    CHECK(p.at("date").get<std::string>().size() == 20);
  }
}

TEST_CASE("a recording reads back as the recorded device, which tuning cannot leave",
          "[tune][recorded]") {
  Rig rig;
  const tune::Slice s = tune::slice_from_json(slice_json(), "test");
  const std::string dir = temp_dir("recorded");
  const std::string path = dir + "/unit.jsonl";
  collect(rig, s, path, 12);

  // Incomplete: read, but not a device.
  auto partial = tune::read_recording(path);
  REQUIRE(partial.size() == 1);
  CHECK_FALSE(partial[0].complete());
  CHECK(partial[0].records.size() == 12);
  CHECK_THROWS_WITH(tune::make_recorded_runner(path, partial),
                    Catch::Contains("holds no complete slice"));

  collect(rig, s, path);
  auto recording = tune::read_recording(dir); // a folder: its slice logs
  REQUIRE(recording.size() == 1);
  const tune::SliceRecording& rec = recording[0];
  CHECK(rec.complete());
  CHECK(rec.device == "sim:h100");
  CHECK(rec.target.name == "h100");
  CHECK(rec.provenance.at("compile_jobs") == 2);
  auto runner = tune::make_recorded_runner(dir, recording);
  CHECK(runner->charged_compile_jobs() == 2);

  // Tune on it: every measurement is the recorded one, every config is in the slice.
  const task::Task t{7, s.workload, 3, {}, {}};
  std::map<std::string, double> truth;
  for (const tune::Record& r : rec.records)
    truth[rec.slice.space().str(rec.slice.space().from_entity(r.entity))] = r.seconds();
  const std::string tuned = dir + "/tuned.jsonl.out";
  {
    tune::TuningLog log(tuned);
    tune::TuneEnv env{rec.target, rig.builder, *runner, log, {}, rig.progress, "test"};
    tune::TuneOptions o;
    o.tuner = "autotvm";
    o.trials = 40;
    o.batch = 16;
    o.templates = {"conv2d_implicit_gemm",
                   "conv2d_winograd"}; // the recording has no Winograd slice
    tune::TaskOutcome out = tune::tune_task(t, o, env, 1, 1);
    CHECK(out.new_trials == 40);
    CHECK(out.charged);
    CHECK(out.modelled_s > 0);
    CHECK(out.template_name == "conv2d_implicit_gemm");
  }
  tune::LogContents log = tune::read_log(tuned);
  REQUIRE(log.records.size() == 40);
  double last = 0;
  const space::ConfigSpace space = s.space();
  for (const tune::Record& r : log.records) {
    const std::string key = space.str(space.from_entity(r.entity)); // throws outside the slice
    CHECK(r.seconds() == truth.at(key));
    CHECK(r.device == "recorded:sim:h100");
    CHECK(r.result.simulated);
    const double elapsed = r.result.settings.at("tune").at("elapsed_s").get<double>();
    CHECK(elapsed >= last); // records are logged in the order the charged pipeline ends them
    last = elapsed;
  }
  CHECK(last > 0);
  // A task the recording does not cover is skipped, saying why.
  tune::TuningLog other(dir + "/other.jsonl.out");
  tune::TuneEnv env{rec.target, rig.builder, *runner, other, {}, rig.progress, "test"};
  tune::TuneOptions direct;
  direct.templates = {"conv2d_direct_splitk"};
  direct.trials = 4;
  tune::TaskOutcome skipped = tune::tune_task(t, direct, env, 1, 1);
  CHECK_THAT(skipped.skipped, Catch::Contains("no recorded slice of conv2d_direct_splitk"));
}

TEST_CASE("a folder with no slice, and a log in it that is no collection, are told apart",
          "[tune][recorded]") {
  const std::string dir = temp_dir("no-slice");
  CHECK_THROWS_WITH(tune::read_recording(dir), Catch::Contains("holds no recorded slice"));
  std::ofstream(dir + "/tune.jsonl") << "# chameleon-run {\"run\": \"x\"}\n";
  CHECK_THROWS_WITH(tune::read_recording(dir), Catch::Contains("holds no recorded slice"));
}

TEST_CASE("the sim ranks a slice it recorded itself almost exactly", "[tune][fidelity]") {
  CHECK(tune::spearman({1, 2, 3, 4}, {10, 20, 30, 40}) == Approx(1.0));
  CHECK(tune::spearman({1, 2, 3, 4}, {4, 3, 2, 1}) == Approx(-1.0));
  CHECK(tune::spearman({1, 1, 2}, {5, 5, 6}) == Approx(1.0)); // ties take their average rank
  CHECK(tune::spearman({1}, {2}) == 0.0);
  CHECK(tune::spearman({1, 1, 1}, {1, 2, 3}) == 0.0);
  Rig rig;
  const tune::Slice s = tune::slice_from_json(slice_json(), "test");
  const std::string path = temp_dir("fidelity") + "/unit.jsonl";
  collect(rig, s, path);
  const auto rec = tune::read_recording(path);
  const tune::SimFidelity f = tune::sim_fidelity(rec[0]);
  CHECK(f.compared == int(rec[0].records.size()));
  CHECK(f.spearman > 0.9);
  CHECK(f.top1 == 1);
  CHECK(f.top1_in_sim_top5 == 1.0);
  CHECK(f.sim_pick > 0.95);
}

TEST_CASE("fingerprint parts and provenance", "[tune][provenance]") {
  const std::string fp =
      "NVIDIA H100 80GB HBM3 | sm_90 | 132 SMs | 79.2 GiB | 1980 MHz | driver 13.0 | nvrtc 13.0";
  CHECK(tune::fingerprint_part(fp, "driver ") == "13.0");
  CHECK(tune::fingerprint_part(fp, "nvrtc ") == "13.0");
  CHECK(tune::fingerprint_part(fp, "NVIDIA ") == "H100 80GB HBM3");
  CHECK(tune::fingerprint_part(fp, "cuda ").empty());
  CHECK(tune::fingerprint_part("", "driver ").empty());
  Rig rig;
  const auto p = tune::run_provenance(rig.sim, rig.builder, rig.h100);
  CHECK(p.at("device_fingerprint") == rig.sim.fingerprint());
  CHECK(p.at("simulated") == true);
  CHECK_FALSE(p.contains("driver"));
  CHECK(target::target_from_json(p.at("target")).regs_per_block == rig.h100.regs_per_block);
  CHECK(target::target_from_json(p.at("target")).smem_reserved_per_block ==
        rig.h100.smem_reserved_per_block);
}

TEST_CASE("a goal stops a task at the batch that meets it, templates after it included",
          "[tune][goal]") {
  Rig rig;
  const tune::Slice s = tune::slice_from_json(slice_json(), "test");
  const std::string dir = temp_dir("goal");
  tune::TuningLog log(dir + "/goal.jsonl");
  tune::TuneEnv env{rig.h100, rig.builder, rig.sim, log, {}, rig.progress, "test"};
  tune::TuneOptions o;
  o.tuner = "random";
  o.trials = 64;
  o.batch = 8;
  o.templates = {"conv2d_implicit_gemm", "conv2d_direct_splitk"};
  o.goal_s = 1.0; // any kernel meets it
  const tune::TaskOutcome out = tune::tune_task(task::Task{7, s.workload, 3, {}, {}}, o, env, 1, 1);
  CHECK(out.new_trials == 8); // one batch of the first template, none of the second
  CHECK_THAT(out.stop_text(), Catch::Contains("conv2d_implicit_gemm: goal reached") &&
                                  Catch::Contains("conv2d_direct_splitk: goal reached"));
  o.goal_s = 1e-12; // none does: the budget is spent
  const tune::TaskOutcome all = tune::tune_task(task::Task{7, s.workload, 3, {}, {}}, o, env, 1, 1);
  CHECK(all.trials == 64);
}
