#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/cudnn.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/recorded_runner.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/measure/stats.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/file_lock.hpp"
#include "chameleon/util/worker_process.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <thread>

using namespace chameleon;

namespace {

struct Fixture {
  const codegen::Template& tmpl = codegen::find_template("conv2d_direct");
  task::Conv2dWorkload wl;
  space::ConfigSpace space;
  target::Target h100 = target::find_preset("h100");

  explicit Fixture(int task_index = 4) {
    auto tasks = task::extract_tasks(
        network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json"));
    wl = tasks[size_t(task_index - 1)].workload;
    space = tmpl.make_space(wl);
  }
  std::vector<space::Config> valid(int count, uint64_t seed) const {
    std::mt19937_64 rng(seed);
    auto out = codegen::random_valid_configs(tmpl, wl, space, h100, count, rng);
    REQUIRE(int(out.size()) == count);
    return out;
  }
  space::Config invalid() const {
    std::mt19937_64 rng(1);
    for (;;) {
      auto c = space.random(rng);
      if (!codegen::check_static(h100, tmpl.features(wl, space, c)).ok) return c;
    }
  }
  measure::BuildRequest request(const space::Config& c) const { return {&tmpl, wl, &space, c}; }
};

std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("chameleon-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

} // namespace

TEST_CASE("round statistics", "[measure]") {
  auto s = measure::summarize({3.0, 1.0, 2.0});
  CHECK(s.median == 2.0);
  CHECK(s.spread == Approx(1.0));
  CHECK(measure::summarize({4.0, 1.0, 2.0, 3.0}).median == 2.5);
  CHECK(measure::summarize({}).median == 0);
  CHECK(measure::launches_per_round(0.01, 1.0, 10000) == 100);
  CHECK(measure::launches_per_round(5.0, 1.0, 10000) == 1);
  CHECK(measure::launches_per_round(1e-9, 1.0, 500) == 500);
  CHECK(measure::launches_per_round(0.0, 1.0, 7) == 7);
}

TEST_CASE("cuDNN's API binds by name, the epilogue's operators included", "[measure]") {
  // Loading binds symbols only (no GPU needed); bench's cuDNN runs on a GPU host. Where cuDNN is
  // not installed there is nothing to check here.
  std::string why;
  const cuda::Cudnn* dnn = cuda::load_cudnn(&why);
  if (dnn == nullptr) {
    WARN("cuDNN not loaded: " << why);
    return;
  }
  CHECK(dnn->epilogue_missing.empty());
  CHECK(dnn->cudnnConvolutionBiasActivationForward != nullptr);
  CHECK(dnn->cudnnAddTensor != nullptr);
  CHECK(dnn->cudnnActivationForward != nullptr);
  CHECK(dnn->cudnnSetActivationDescriptorSwishBeta != nullptr);
  CHECK(!cuda::cudnn_version(*dnn).empty());
  CHECK(cuda::cudnn_algo_name(cuda::Cudnn::kImplicitPrecompGemm) == "IMPLICIT_PRECOMP_GEMM");
}

TEST_CASE("error numbers and names follow AutoTVM", "[measure]") {
  CHECK(int(measure::ErrorNo::Instantiation) == 1);
  CHECK(int(measure::ErrorNo::CompileDevice) == 3);
  CHECK(int(measure::ErrorNo::RuntimeDevice) == 4);
  CHECK(int(measure::ErrorNo::WrongAnswer) == 5);
  CHECK(int(measure::ErrorNo::BuildTimeout) == 6);
  CHECK(int(measure::ErrorNo::RunTimeout) == 7);
  CHECK(std::string(measure::error_name(measure::ErrorNo::WrongAnswer)) == "WRONG_ANSWER");
  CHECK(std::string(measure::error_name(measure::ErrorNo::RunTimeout)) == "RUN_TIMEOUT");
}

TEST_CASE("an invalid config is error 1 and never compiled", "[measure][builder]") {
  Fixture fx;
  measure::BuildOptions opts;
  opts.isolate = false;
  measure::Builder builder(fx.h100, "sm_90", opts);
  auto r = builder.build(fx.request(fx.invalid()));
  CHECK(r.error == measure::ErrorNo::Instantiation);
  CHECK(!r.message.empty());
  CHECK(r.cubin.empty());
  CHECK(builder.cache_stats().misses == 0);
}

TEST_CASE("the compile cache: memory, disk, and never twice", "[measure][builder]") {
  Fixture fx;
  auto cfg = fx.valid(1, 5)[0];
  measure::BuildOptions opts;
  opts.isolate = false;
  opts.cache_dir = temp_dir("cache");
  {
    measure::Builder builder(fx.h100, "sm_90", opts);
    auto first = builder.build(fx.request(cfg));
    REQUIRE(first.ok());
    CHECK_FALSE(first.cached);
    CHECK(first.compile_seconds > 0);
    auto second = builder.build(fx.request(cfg));
    CHECK(second.cached);
    CHECK(second.compile_seconds == 0);
    CHECK(second.cubin == first.cubin);
    CHECK(builder.cache_stats().memory_hits == 1);
  }
  measure::Builder fresh(fx.h100, "sm_90", opts);
  auto third = fresh.build(fx.request(cfg));
  CHECK(third.cached);
  CHECK(fresh.cache_stats().disk_hits == 1);
  CHECK(third.resources.registers > 0);
  // Another arch is another kernel.
  measure::Builder other(target::find_preset("a100"), "sm_80", opts);
  CHECK_FALSE(other.build(fx.request(cfg)).cached);
  std::filesystem::remove_all(opts.cache_dir);
}

TEST_CASE("a damaged cache entry is a miss, not a failure", "[measure][builder]") {
  measure::CompileCache cache(temp_dir("damaged"));
  measure::CompiledKernel k;
  k.ok = true;
  k.cubin = std::string(1000, 'x');
  cache.put("abcdef", k);
  cache.put("abc123", k);
  cache.put("abc456", k);
  std::string path = cache.dir() + "/kernels/ab/abcdef.bin";
  std::filesystem::resize_file(path, 50);
  // One byte of a cubin changed, its length the same: it is not the kernel that was compiled.
  const std::string flipped = cache.dir() + "/kernels/ab/abc123.bin";
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('y');
  }
  // An entry written before entries had a checksum: a miss, but not damage.
  const std::string old = cache.dir() + "/kernels/ab/abc789.bin";
  std::ofstream(old, std::ios::binary)
      << R"({"ok":true,"log":"","resources":{},"seconds":0.1,"cubin_bytes":3})"
         "\nabc";

  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  measure::CompileCache reopened(cache.dir());
  CHECK_FALSE(reopened.get("abc789").has_value());
  const bool old_warned = captured.str().find("damaged") != std::string::npos;
  CHECK_FALSE(reopened.get("abcdef").has_value());
  CHECK_FALSE(reopened.get("abc123").has_value());
  REQUIRE(reopened.get("abc456").has_value());
  CHECK(reopened.get("abc456")->cubin == k.cubin);
  spdlog::set_default_logger(previous);
  const std::string text = captured.str();
  INFO(text);
  CHECK_FALSE(old_warned);
  CHECK(text.find("damaged entry " + path + " ignored, the kernel is compiled again") !=
        std::string::npos);
  CHECK(text.find("compile cache:", text.find("compile cache:") + 1) == std::string::npos); // once
  CHECK(reopened.stats().misses == 3);
  // The next put replaces a damaged entry.
  reopened.put("abc123", k);
  CHECK(measure::CompileCache(cache.dir()).get("abc123").has_value());
  std::filesystem::remove_all(cache.dir());
}

TEST_CASE("a cache folder that cannot be written warns once and keeps kernels in memory",
          "[measure][builder]") {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  measure::CompileCache cache("/proc/chameleon-no-such-folder");
  measure::CompiledKernel k;
  k.ok = true;
  k.cubin = "cubin";
  for (const char* key : {"aa0001", "bb0002", "cc0003"}) cache.put(key, k);
  spdlog::set_default_logger(previous);
  const std::string text = captured.str();
  INFO(text);
  CHECK(text.find("compiled kernels stay in memory only") != std::string::npos);
  CHECK(text.find("compile cache:", text.find("compile cache:") + 1) == std::string::npos); // once
  REQUIRE(cache.get("cc0003").has_value());
  CHECK(cache.get("cc0003")->cubin == "cubin");
}

TEST_CASE("parallel compile in worker processes", "[measure][builder]") {
  Fixture fx(7);
  measure::BuildOptions opts;
  opts.jobs = 2;
  opts.isolate = true;
  measure::Builder builder(fx.h100, "sm_90", opts);
  std::vector<std::future<measure::BuildResult>> futures;
  for (const auto& c : fx.valid(6, 11)) futures.push_back(builder.submit(fx.request(c)));
  for (auto& f : futures) {
    auto r = f.get();
    INFO(r.message);
    CHECK(r.ok());
    CHECK(!r.cubin.empty());
  }
}

TEST_CASE("a compile past the build timeout is error 6 and the builder goes on",
          "[measure][builder]") {
  Fixture fx;
  auto configs = fx.valid(2, 23);
  measure::BuildOptions opts;
  opts.jobs = 1;
  opts.timeout_s = 0.001;
  measure::Builder hasty(fx.h100, "sm_90", opts);
  auto r = hasty.build(fx.request(configs[0]));
  CHECK(r.error == measure::ErrorNo::BuildTimeout);
  CHECK(r.compile_seconds > 0); // the time it cost is kept (a recorded device charges it)
  opts.timeout_s = 120;
  measure::Builder patient(fx.h100, "sm_90", opts);
  CHECK(patient.build(fx.request(configs[1])).ok());
}

TEST_CASE("processes take turns on a GPU through its lock file", "[measure][turn]") {
  const std::string dir = temp_dir("turns");
  std::filesystem::create_directories(dir);
  ::setenv("CHAMELEON_LOCK_DIR", dir.c_str(), 1);
  const std::string path = measure::gpu_turn_path("0000:17:00");
  ::unsetenv("CHAMELEON_LOCK_DIR");
  CHECK(path == dir + "/chameleon-gpu-0000-17-00.lock");
  CHECK(measure::gpu_turn_path("0000:17:00") == "/tmp/chameleon-gpu-0000-17-00.lock");

  std::atomic<int> waits{0};
  util::FileLock mine(path), theirs(path, [&] { ++waits; });
  REQUIRE(mine.usable());
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_write) !=
        std::filesystem::perms::none); // anyone's process can take its turn
  theirs.lock();                       // free: no wait
  theirs.unlock();
  CHECK(waits == 0);
  mine.lock();
  std::atomic<bool> got{false};
  std::thread other([&] {
    std::lock_guard<util::FileLock> turn(theirs);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(got);
  mine.unlock();
  other.join();
  CHECK(got);
  CHECK(waits == 1);
  // A lock file that cannot be made is no lock at all, never an error.
  util::FileLock none("/proc/chameleon-no-such-folder/x.lock");
  CHECK_FALSE(none.usable());
  CHECK_NOTHROW(none.lock());
  CHECK_NOTHROW(none.unlock());
  std::filesystem::remove_all(dir);
}

TEST_CASE("a worker that dies is reported and replaced", "[measure][worker]") {
  util::WorkerProcess worker("compile");
  util::Message bad_source{{{"op", "compile"}, {"entry", "k"}, {"arch", "sm_90"}},
                           "this is not CUDA"};
  auto reply = worker.call(bad_source, 60);
  REQUIRE(reply.outcome == util::WorkerProcess::Outcome::Ok);
  CHECK_FALSE(reply.message.header.at("ok").get<bool>());
  CHECK(reply.message.header.at("log").get<std::string>().find("error") != std::string::npos);
  ::kill(worker.pid(), SIGKILL);
  auto dead = worker.call(bad_source, 60);
  CHECK(dead.outcome == util::WorkerProcess::Outcome::Died);
  CHECK(dead.detail.find("signal 9") != std::string::npos);
  auto again = worker.call(bad_source, 60);
  CHECK(again.outcome == util::WorkerProcess::Outcome::Ok);
  CHECK(worker.starts() == 2);
}

TEST_CASE("compile arch: a real device needs its own, the sim falls back", "[measure]") {
  auto titanxp = target::find_preset("titanxp");
  std::string warning;
  std::string arch = measure::compile_arch_for(titanxp, true, &warning);
  if (cuda::nvrtc_for(61) != nullptr) { // a CUDA 12 NVRTC is at hand: sm_61 for real
    CHECK(arch == "sm_61");
    CHECK(warning.empty());
  } else {
    CHECK(arch != "sm_61");
    CHECK(warning.find("simulating titanxp") != std::string::npos);
    CHECK_THROWS_WITH(measure::compile_arch_for(titanxp, false, nullptr),
                      Catch::Contains("needs NVRTC 12") &&
                          Catch::Contains("pip install nvidia-cuda-nvrtc-cu12"));
  }
  CHECK(measure::compile_arch_for(target::find_preset("h100"), false, nullptr) == "sm_90");
}

TEST_CASE("a GPU's name picks the preset of its architecture it names, else the first of it",
          "[measure]") {
  REQUIRE(target::closest_preset("NVIDIA H200", 90) != nullptr);
  CHECK(target::closest_preset("NVIDIA H200", 90)->name == "h200");
  CHECK(target::closest_preset("NVIDIA H100 80GB HBM3", 90)->name == "h100");
  // A name no preset of that architecture has: the first of the architecture.
  CHECK(target::closest_preset("NVIDIA Z9", 90)->name == target::closest_preset("", 90)->name);
  CHECK(target::closest_preset("NVIDIA H200", 80)->sm() == 80);
  CHECK(target::closest_preset("NVIDIA H200", 12) == nullptr);
}

TEST_CASE("the sim device is deterministic and marks its results", "[measure][sim]") {
  Fixture fx;
  measure::BuildOptions opts;
  opts.isolate = false;
  measure::Builder builder(fx.h100, "sm_90", opts);
  measure::SimRunner sim(fx.h100, {});
  auto configs = fx.valid(4, 3);
  std::vector<double> medians;
  for (const auto& c : configs) {
    auto b = builder.build(fx.request(c));
    REQUIRE(b.ok());
    auto r1 = sim.run(fx.wl, b);
    auto r2 = sim.run(fx.wl, b);
    REQUIRE(r1.ok());
    CHECK(r1.simulated);
    CHECK(r1.median == r2.median);
    CHECK(r1.costs == r2.costs);
    CHECK(r1.median > 1e-6);
    CHECK(r1.spread < 0.03);
    medians.push_back(r1.median);
  }
  std::sort(medians.begin(), medians.end());
  CHECK(medians.back() > 1.2 * medians.front()); // configs differ
  auto bad = builder.build(fx.request(fx.invalid()));
  CHECK(sim.run(fx.wl, bad).error == measure::ErrorNo::Instantiation);
}

TEST_CASE("the sim model is monotone where it must be", "[measure][sim]") {
  Fixture fx;
  for (const auto& c : fx.valid(30, 99)) {
    auto f = fx.tmpl.features(fx.wl, fx.space, c);
    target::Resources res;
    res.registers = std::min(255, f.predicted_registers);
    res.static_smem = int(f.static_smem);
    auto base = measure::simulate(fx.h100, fx.wl, f, res, 1);
    if (!base.launchable) continue;
    auto spilled = res;
    spilled.spill_stores = spilled.spill_loads = 64;
    CHECK(measure::simulate(fx.h100, fx.wl, f, spilled, 1).seconds >= base.seconds);
    auto smaller = fx.h100;
    smaller.sm_count = fx.h100.sm_count / 4;
    CHECK(measure::simulate(smaller, fx.wl, f, res, 1).seconds >= base.seconds);
    auto more_regs = res;
    more_regs.registers = 255;
    CHECK(measure::simulate(fx.h100, fx.wl, f, more_regs, 1).blocks_per_sm <= base.blocks_per_sm);
  }
}

TEST_CASE("the sim rejects launches the hardware would reject", "[measure][sim]") {
  Fixture fx;
  auto c = fx.valid(1, 8)[0];
  auto f = fx.tmpl.features(fx.wl, fx.space, c);
  f.geometry.block = {32, 32, 1}; // 1024 threads
  target::Resources res;
  res.registers = 128; // 128 x 1024 > 65536 registers per block
  auto e = measure::simulate(fx.h100, fx.wl, f, res, 1);
  CHECK_FALSE(e.launchable);
  CHECK(e.reason.find("too many resources") != std::string::npos);
}

TEST_CASE("without a GPU, the cuda device says so", "[measure]") {
  std::string why;
  if (measure::gpu_available(&why)) return; // a GPU machine tests the real path in [gpu] tests
  CHECK(!why.empty());
  CHECK_THROWS_AS(measure::make_runner("cuda", target::find_preset("h100"), {}), Error);
  auto runner = measure::make_runner("auto", target::find_preset("h100"), {});
  CHECK(runner->simulated());
  CHECK_THROWS_WITH(measure::make_runner("tpu", target::find_preset("h100"), {}),
                    Catch::Contains("unknown device"));
}

namespace {
// Counts how many measurements run at the same time.
class ConcurrencyProbe : public measure::Runner {
public:
  explicit ConcurrencyProbe(std::atomic<int>& now, std::atomic<int>& most)
      : now_(now), most_(most) {}
  std::string device_name() const override { return "probe"; }
  bool simulated() const override { return true; }
  std::string fingerprint() const override { return "probe"; }
  measure::MeasureResult run(const task::Conv2dWorkload&, const measure::BuildResult&) override {
    const int n = ++now_;
    int seen = most_.load();
    while (n > seen && !most_.compare_exchange_weak(seen, n)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --now_;
    return {};
  }

private:
  std::atomic<int>& now_;
  std::atomic<int>& most_;
};
} // namespace

TEST_CASE("lanes that share a device take turns measuring", "[measure]") {
  std::atomic<int> now{0}, most{0};
  auto turn = std::make_shared<std::mutex>();
  std::vector<std::unique_ptr<measure::Runner>> lanes;
  for (int i = 0; i < 4; ++i)
    lanes.push_back(measure::take_turns(std::make_unique<ConcurrencyProbe>(now, most), turn));
  std::vector<std::thread> threads;
  for (auto& lane : lanes) {
    threads.emplace_back([&lane] {
      for (int i = 0; i < 5; ++i) lane->run(task::Conv2dWorkload{}, measure::BuildResult{});
    });
  }
  for (auto& t : threads) t.join();
  CHECK(most.load() == 1);
  CHECK(lanes.front()->device_name() == "probe");

  // Without turns, the same probes overlap (the check above is not vacuous).
  std::atomic<int> now2{0}, most2{0};
  std::vector<std::thread> free_threads;
  std::vector<ConcurrencyProbe> probes(4, ConcurrencyProbe(now2, most2));
  for (auto& p : probes) {
    free_threads.emplace_back([&p] {
      for (int i = 0; i < 5; ++i) p.run(task::Conv2dWorkload{}, measure::BuildResult{});
    });
  }
  for (auto& t : free_threads) t.join();
  CHECK(most2.load() > 1);
}

TEST_CASE("a batch's pipeline: compiles side by side, measurements one at a time as compiles end",
          "[measure][recorded]") {
  using measure::pipeline_finish_times;
  // Two workers: compiles end at 1, 1, 2; measurements follow at 1.5, 2, 2.5.
  CHECK(pipeline_finish_times({1, 1, 1}, {0.5, 0.5, 0.5}, 2) == std::vector<double>{1.5, 2.0, 2.5});
  // One worker: everything in a row.
  CHECK(pipeline_finish_times({1, 1, 1}, {0.5, 0.5, 0.5}, 1) == std::vector<double>{1.5, 2.5, 3.5});
  // A slow first compile: the second config is measured first.
  CHECK(pipeline_finish_times({3, 1}, {1, 1}, 2) == std::vector<double>{4.0, 2.0});
  // The device is the bottleneck: compiles are hidden behind measurements.
  CHECK(pipeline_finish_times({0.1, 0.1, 0.1, 0.1}, {1, 1, 1, 1}, 4) ==
        std::vector<double>{1.1, 2.1, 3.1, 4.1});
  CHECK(pipeline_finish_times({}, {}, 4).empty());
  CHECK_THROWS_AS(pipeline_finish_times({1}, {}, 1), Error);
}

TEST_CASE("the recorded device answers as recorded, within its slice, and nothing else",
          "[measure][recorded]") {
  Fixture f(7);
  const auto knobs =
      nlohmann::json::parse(R"({"tile_f": [[-1, 4, 8, 2]], "unroll_explicit": [1]})");
  const space::ConfigSpace slice = f.space.restrict(knobs);
  std::mt19937_64 rng(5);
  auto configs = codegen::random_valid_configs(f.tmpl, f.wl, slice, f.h100, 2, rng);
  REQUIRE(configs.size() == 2);
  measure::MeasureResult answer;
  answer.costs = {2e-5, 2.2e-5};
  answer.median = 2.1e-5;
  answer.compile_seconds = 0.4;
  answer.run_seconds = 0.02;
  answer.timestamp = 1700000000;
  answer.resources.registers = 77;
  answer.settings = {{"warmup", 2}};
  measure::RecordedSlice s;
  s.name = "test";
  s.template_name = f.tmpl.name();
  s.workload = f.wl;
  s.knobs = knobs;
  s.answers[slice.str(configs[0])] = answer;
  measure::RecordedRunner runner(
      {"rec.jsonl", "NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3 | sm_90", 16}, {s});
  CHECK(runner.device_name() == "recorded:NVIDIA H100 80GB HBM3");
  CHECK(runner.fingerprint() == "recorded:NVIDIA H100 80GB HBM3 | sm_90");
  CHECK(runner.simulated());
  CHECK(runner.charged_compile_jobs() == 16);
  CHECK(runner.measurable_space(f.tmpl, f.wl).size() == slice.size());
  CHECK(runner.cannot_measure(f.tmpl, f.wl).empty());
  CHECK_THAT(runner.cannot_measure(codegen::find_template("conv2d_implicit_gemm"), f.wl),
             Catch::Contains("no recorded slice of conv2d_implicit_gemm") &&
                 Catch::Contains("rec.jsonl"));
  Fixture other(4);
  CHECK_THAT(runner.cannot_hold(other.wl), Catch::Contains("no recorded slice of this workload"));
  CHECK(runner.cannot_hold(f.wl).empty());

  measure::Builder builder(f.h100, "sm_90", [] {
    measure::BuildOptions b;
    b.compile = false;
    return b;
  }());
  const measure::MeasureResult r =
      runner.run(f.wl, builder.build({&f.tmpl, f.wl, &slice, configs[0]}));
  CHECK(r.ok());
  CHECK(r.simulated);
  CHECK(r.median == answer.median);
  CHECK(r.costs == answer.costs);
  CHECK(r.compile_seconds == answer.compile_seconds);
  CHECK(r.run_seconds == answer.run_seconds);
  CHECK(r.resources.registers == 77);
  CHECK(r.settings.at("recorded_at") == answer.timestamp);
  CHECK(r.settings.at("device") == "recorded:NVIDIA H100 80GB HBM3");
  // A config the recording lacks is no measurement to make up.
  CHECK_THROWS_WITH(runner.run(f.wl, builder.build({&f.tmpl, f.wl, &slice, configs[1]})),
                    Catch::Contains("has no measurement of conv2d_direct"));
  // What the static check rules out never reached the device: the build's error is the answer.
  measure::BuildResult invalid;
  invalid.error = measure::ErrorNo::Instantiation;
  invalid.message = "too big";
  CHECK(runner.run(f.wl, invalid).error == measure::ErrorNo::Instantiation);
}
