#include <catch2/catch.hpp>

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/cudnn.hpp"
#include "chameleon/cuda/handles.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/reference.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/tune/collect.hpp"
#include "chameleon/tune/recording.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/file_lock.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <unistd.h>

using namespace chameleon;

namespace {

// A config whose build was submitted, to be measured when it is done.
struct BuildJob {
  const codegen::Template* tmpl;
  const task::Conv2dWorkload* wl;
  std::shared_ptr<space::ConfigSpace> space;
  space::Config config;
  std::future<measure::BuildResult> build;
};

const codegen::Template& direct() {
  return codegen::find_template("conv2d_direct");
}

target::Target gpu_target() {
  static const target::Target t = measure::target_from_device(0);
  return t;
}

std::vector<task::Task> tasks_of(const std::string& name) {
  return task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + name + ".json"));
}

std::vector<space::Config> valid_configs(const task::Conv2dWorkload& wl,
                                         const space::ConfigSpace& sp, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto out = codegen::random_valid_configs(direct(), wl, sp, gpu_target(), count, rng);
  REQUIRE(int(out.size()) == count);
  return out;
}

// Correctness runs: fewer, shorter rounds.
measure::MeasureOptions quick_timing() {
  measure::MeasureOptions o;
  o.warmup = 0;
  o.repeat = 2;
  o.min_repeat_ms = 0.2;
  return o;
}

measure::BuildOptions quick_build() {
  measure::BuildOptions o;
  o.isolate = false;
  return o;
}

// A hand-written kernel with the template's signature, built like a template's output.
measure::BuildResult custom_kernel(const std::string& body,
                                   std::array<uint32_t, 3> block = {64, 1, 1}) {
  std::string src =
      "extern \"C\" __global__ void conv2d_direct(const float* data, const float* weight, "
      "float* out) {" +
      body + "}";
  auto compiled = cuda::nvrtc_compile(src, "conv2d_direct", gpu_target().arch());
  INFO(compiled.log);
  REQUIRE(compiled.ok);
  measure::BuildResult b;
  b.cubin = compiled.cubin;
  b.entry = "conv2d_direct";
  b.arch = gpu_target().arch();
  b.features.geometry.grid = {64, 1, 1};
  b.features.geometry.block = block;
  b.cache_key = body;
  return b;
}

task::Conv2dWorkload small_workload() {
  task::Conv2dWorkload wl;
  wl.c = 16;
  wl.h = wl.w = 14;
  wl.k = 32;
  wl.r = wl.s = 3;
  wl.pad_top = wl.pad_left = wl.pad_bottom = wl.pad_right = 1;
  return wl;
}

} // namespace

TEST_CASE("the reference kernel agrees with the CPU reference", "[gpu]") {
  cuda::PrimaryContext ctx(0);
  std::string src(codegen::embedded_file("kernels/conv2d_reference.cu"));
  auto compiled = cuda::nvrtc_compile(src, "reference", gpu_target().arch());
  REQUIRE(compiled.ok);
  cuda::Module mod(compiled.cubin);
  CUfunction fn = mod.function("conv2d_reference");
  std::vector<task::Conv2dWorkload> shapes;
  auto base = small_workload();
  shapes.push_back(base);
  auto odd = base; // prime channels, non-square input, batch 2, stride 2 on odd sizes
  odd.n = 2, odd.c = 7, odd.h = 13, odd.w = 9, odd.k = 11, odd.stride_h = odd.stride_w = 2;
  shapes.push_back(odd);
  auto dil = base; // dilation, asymmetric kernel and padding, groups
  dil.r = 1, dil.s = 5, dil.dilation_w = 2, dil.pad_top = 0, dil.pad_bottom = 0, dil.pad_left = 3,
  dil.pad_right = 4, dil.groups = 4;
  shapes.push_back(dil);
  auto grouped = odd; // grouped: 3 groups of 3 input and 5 output channels
  grouped.c = 9, grouped.k = 15, grouped.groups = 3;
  shapes.push_back(grouped);
  for (const auto& wl : shapes) {
    INFO(wl.str());
    auto data = measure::make_tensor(3, measure::Tensor::Data, wl.input_elems());
    auto weight = measure::make_tensor(3, measure::Tensor::Weight, wl.weight_elems());
    auto expect = measure::conv2d_cpu(wl, data, weight);
    cuda::DeviceBuffer d(data.size() * 4), w(weight.size() * 4), o(expect.size() * 4);
    d.upload(data.data(), data.size() * 4);
    w.upload(weight.data(), weight.size() * 4);
    CUdeviceptr dp = d.get(), wp = w.get(), op = o.get();
    int ints[] = {wl.n,        wl.c,          wl.h,          wl.w,        wl.k,        wl.r,
                  wl.s,        wl.out_h(),    wl.out_w(),    wl.stride_h, wl.stride_w, wl.pad_top,
                  wl.pad_left, wl.dilation_h, wl.dilation_w, wl.groups};
    void* args[19] = {&dp, &wp, &op};
    for (int i = 0; i < 16; ++i) args[3 + i] = &ints[i];
    CU_CHECK(cuda::driver().cuLaunchKernel(fn, 8, 1, 1, 128, 1, 1, 0, nullptr, args, nullptr));
    CU_CHECK(cuda::driver().cuCtxSynchronize());
    std::vector<float> got(expect.size());
    o.download(got.data(), got.size() * 4);
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expect[i]).margin(1e-5));
  }
}

TEST_CASE("200 random valid configs of ResNet-18, VGG-16 and AlexNet verify correct", "[gpu]") {
  measure::CudaRunner runner(0, quick_timing());
  measure::Builder builder(gpu_target(), gpu_target().arch(), {});
  int measured = 0, ok = 0;
  auto start = std::chrono::steady_clock::now();
  for (const char* net : {"resnet18", "vgg16", "alexnet"}) {
    for (const auto& t : tasks_of(net)) {
      auto sp = direct().make_space(t.workload);
      std::vector<std::future<measure::BuildResult>> builds;
      auto configs = valid_configs(t.workload, sp, 8, 1000 + t.index);
      for (const auto& c : configs)
        builds.push_back(builder.submit({&direct(), t.workload, &sp, c}));
      for (size_t i = 0; i < configs.size(); ++i) {
        auto b = builds[i].get();
        auto r = runner.run(t.workload, b);
        ++measured;
        INFO(net << " task " << t.index << " config " << configs[i].index << ": "
                 << measure::error_name(r.error) << " " << r.message);
        CHECK(r.ok());
        ok += r.ok();
      }
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[gpu] %d configs measured, %d verified correct, %.1f configs/s (compile included, "
              "%d compile jobs, no cache)\n",
              measured, ok, measured / wall, builder.jobs());
  CHECK(measured >= 200);
}

TEST_CASE("a runner waits while another process holds the GPU's turn", "[gpu]") {
  measure::CudaRunner runner(0, quick_timing());
  REQUIRE(runner.device_info().contains("pci_bus_id"));
  const std::string path =
      measure::gpu_turn_path(runner.device_info()["pci_bus_id"].get<std::string>());
  const auto t = tasks_of("resnet18")[3];
  auto sp = direct().make_space(t.workload);
  measure::Builder builder(gpu_target(), gpu_target().arch(), {});
  auto build =
      builder.submit({&direct(), t.workload, &sp, valid_configs(t.workload, sp, 1, 7)[0]}).get();
  REQUIRE(build.ok());
  // Another process's turn: a lock of its own on the same file (flock locks of two open files
  // exclude each other, in one process as in two).
  util::FileLock other(path);
  REQUIRE(other.usable());
  other.lock();
  auto measured = std::async(std::launch::async, [&] { return runner.run(t.workload, build); });
  CHECK(measured.wait_for(std::chrono::milliseconds(1500)) == std::future_status::timeout);
  other.unlock();
  auto r = measured.get();
  INFO(measure::error_name(r.error) << " " << r.message);
  CHECK(r.ok());
  CHECK(r.run_seconds >= 1.5);
}

TEST_CASE("faulting, hanging and wrong kernels are recorded and the next config measures",
          "[gpu]") {
  measure::MeasureOptions mopts;
  mopts.run_timeout_s = 3;
  measure::CudaRunner runner(0, mopts);
  auto wl = small_workload();
  auto sp = direct().make_space(wl);
  measure::Builder builder(gpu_target(), gpu_target().arch(), quick_build());
  auto good = builder.build({&direct(), wl, &sp, valid_configs(wl, sp, 1, 5)[0]});
  REQUIRE(good.ok());
  REQUIRE(runner.run(wl, good).ok());

  auto fault = runner.run(wl, custom_kernel("out[(1ull << 40) + threadIdx.x] = 1.0f;"));
  CHECK(fault.error == measure::ErrorNo::RuntimeDevice);
  CHECK(fault.message.find("CUDA_ERROR") != std::string::npos);
  INFO(fault.message);
  CHECK(runner.run(wl, good).ok());

  // Spins on an input that never changes; the volatile global read cannot be optimized away.
  auto hang = runner.run(
      wl, custom_kernel(
              "const volatile float* p = data; while (p[threadIdx.x] < 2.0f) {} out[0] = p[0];"));
  CHECK(hang.error == measure::ErrorNo::RunTimeout);
  CHECK(runner.run(wl, good).ok());

  auto wrong = runner.run(wl, custom_kernel("for (int i = blockIdx.x * blockDim.x + threadIdx.x; i "
                                            "< 32 * 14 * 14; i += 4096) out[i] = 0.5f;"));
  CHECK(wrong.error == measure::ErrorNo::WrongAnswer);
  CHECK(wrong.message.find("outputs differ") != std::string::npos);

  // Writes into its input (and leaves its output unwritten): caught as a write outside the output,
  // and the next config still measures against the original inputs.
  auto stray = runner.run(
      wl, custom_kernel(
              "if (blockIdx.x == 0 && threadIdx.x == 0) const_cast<float*>(data)[5] += 1.0f;"));
  CHECK(stray.error == measure::ErrorNo::WrongAnswer);
  CHECK(stray.message.find("wrote outside its output") != std::string::npos);
  INFO(stray.message);
  CHECK(runner.run(wl, good).ok());

  auto too_big = runner.run(wl, custom_kernel("", {2048, 1, 1}));
  CHECK(too_big.error == measure::ErrorNo::RuntimeDevice);
  CHECK(too_big.message.find("launch failed") != std::string::npos);
  CHECK(runner.run(wl, good).ok());
  CHECK(runner.worker_starts() >= 3); // restarted after the fault and the hang
}

TEST_CASE("the same config measured 5 times agrees within 3%", "[gpu]") {
  auto t = tasks_of("resnet18")[3]; // 128->128 3x3 at 28
  auto sp = direct().make_space(t.workload);
  measure::Builder builder(gpu_target(), gpu_target().arch(), {});
  measure::MeasureOptions mopts;
  measure::CudaRunner runner(0, mopts);
  // The fastest of a few random configs: a kernel a tuner would care about.
  measure::BuildResult best_build;
  double best = 1e9;
  for (const auto& c : valid_configs(t.workload, sp, 16, 77)) {
    auto b = builder.build({&direct(), t.workload, &sp, c});
    auto r = runner.run(t.workload, b);
    if (r.ok() && r.median < best) {
      best = r.median;
      best_build = b;
    }
  }
  REQUIRE(best < 1e9);
  for (bool graph : {true, false}) {
    mopts.cuda_graph = graph;
    measure::CudaRunner timed(0, mopts);
    std::vector<double> medians;
    for (int i = 0; i < 5; ++i) {
      auto r = timed.run(t.workload, best_build);
      REQUIRE(r.ok());
      medians.push_back(r.median);
    }
    double lo = *std::min_element(medians.begin(), medians.end());
    double hi = *std::max_element(medians.begin(), medians.end());
    std::printf("[gpu] repeatability (%s): %.3f..%.3f us, spread %.2f%%\n",
                graph ? "CUDA graph" : "stream", lo * 1e6, hi * 1e6, 100 * (hi - lo) / lo);
    CHECK((hi - lo) / lo <= 0.03);
  }
  mopts.flush_l2 = true;
  measure::CudaRunner flushed(0, mopts);
  CHECK(flushed.run(t.workload, best_build).ok());
}

TEST_CASE("cuDNN's fastest algorithm is verified and timed like our kernels", "[gpu]") {
  std::string why;
  if (cuda::load_cudnn(&why) == nullptr) {
    WARN("no cuDNN here: " << why);
    return;
  }
  measure::CudaRunner runner(0, {});
  auto t = tasks_of("resnet18")[3];
  auto r = runner.run_cudnn(t.workload);
  INFO(r.message);
  REQUIRE(r.ok());
  CHECK(r.median > 0);
  CHECK(r.message.find("cuDNN") != std::string::npos);
  // Both APIs ran: the one kept is named, the other's time or reason is in the message.
  const std::string api = r.settings.value("cudnn_api", std::string());
  CHECK((api == "legacy" || api == "graph"));
  CHECK(r.message.find(api == "legacy" ? "; graph API: " : "; legacy API: ") != std::string::npos);
  std::printf("[gpu] cuDNN fp32 on %s: %.2f us (%s)\n", t.workload.str().c_str(), r.median * 1e6,
              r.message.c_str());
  // Asymmetric padding: the legacy API has none; the graph API takes it (or says why not).
  auto asym = small_workload();
  asym.pad_bottom = 0;
  const auto ra = runner.run_cudnn(asym);
  INFO(ra.message);
  if (ra.ok()) {
    CHECK(ra.settings.value("cudnn_api", std::string()) == "graph");
  } else {
    CHECK(ra.error == measure::ErrorNo::Instantiation);
    CHECK(ra.message.find("graph API") != std::string::npos);
  }
  std::printf("[gpu] cuDNN on asymmetric padding %s: %s\n", asym.str().c_str(), ra.message.c_str());
}

TEST_CASE("every template verifies on every shipped network's tasks and on awkward shapes",
          "[gpu]") {
  const auto& splitk = codegen::find_template("conv2d_direct_splitk");
  measure::CudaRunner runner(0, quick_timing());
  measure::Builder builder(gpu_target(), gpu_target().arch(), {});
  std::vector<task::Conv2dWorkload> shapes;
  for (const char* net : {"resnet18", "vgg16", "alexnet", "inception_v3"}) {
    for (const auto& t : tasks_of(net)) shapes.push_back(t.workload);
  }
  for (const auto& t :
       tasks_of("mobilenet_v2")) { // its depthwise layers (depthwise, implicit GEMM)
    if (t.workload.groups > 1) shapes.push_back(t.workload);
  }
  auto odd = small_workload(); // prime channels, non-square, batch 2, stride 2 on odd sizes
  odd.n = 2, odd.c = 7, odd.h = 13, odd.w = 9, odd.k = 11, odd.stride_h = odd.stride_w = 2;
  shapes.push_back(odd);
  auto dil = small_workload(); // dilation, asymmetric kernel and padding
  dil.r = 1, dil.s = 5, dil.dilation_w = 2, dil.pad_top = 0, dil.pad_bottom = 0, dil.pad_left = 3,
  dil.pad_right = 4;
  shapes.push_back(dil);
  auto grouped = odd; // grouped: 3 groups of 3 input and 5 output channels
  grouped.c = 9, grouped.k = 15, grouped.groups = 3;
  shapes.push_back(grouped);
  auto depthwise = odd; // depthwise, multiplier 2, dilation 2 along the rows
  depthwise.c = 7, depthwise.k = 14, depthwise.groups = 7, depthwise.dilation_h = 2;
  depthwise.pad_top = depthwise.pad_bottom = 2;
  shapes.push_back(depthwise);
  // Every build is submitted first, so that NVRTC compiles on all cores while the GPU verifies.
  std::vector<BuildJob> jobs;
  for (size_t s = 0; s < shapes.size(); ++s) {
    for (const codegen::Template* tmpl :
         codegen::templates_for(shapes[s], {}, /*allow_tf32=*/true)) {
      auto sp = std::make_shared<space::ConfigSpace>(tmpl->make_space(shapes[s]));
      std::mt19937_64 rng(500 + s);
      std::vector<space::Config> configs;
      for (int tries = 0; tries < 100000 && configs.size() < 2; ++tries) {
        auto c = sp->random(rng);
        const auto f = tmpl->features(shapes[s], *sp, c);
        // Favour real splits for the split-K template.
        if (tmpl == &splitk && f.split_k == 1) continue;
        if (codegen::check_static(gpu_target(), f).ok) configs.push_back(c);
      }
      INFO(tmpl->name() << " on " << shapes[s].str() << ": valid configs found in 100,000 draws");
      CHECK(!configs.empty()); // a template that takes a shape is measured on it
      for (const auto& c : configs) {
        jobs.push_back({tmpl, &shapes[s], sp, c, builder.submit({tmpl, shapes[s], sp.get(), c})});
      }
    }
  }
  int measured = 0, ok = 0;
  std::set<std::string> templates_measured;
  for (auto& job : jobs) {
    auto r = runner.run(*job.wl, job.build.get());
    ++measured;
    templates_measured.insert(job.tmpl->name());
    INFO(job.tmpl->name() << " " << job.wl->str() << " config " << job.config.index << ": "
                          << r.message);
    CHECK(r.ok());
    ok += r.ok();
  }
  std::printf("[gpu] templates on all shipped shapes and awkward ones: %d of %d configs verified\n",
              ok, measured);
  // It measured what it meant to: every template that takes one of the shapes, on every such shape.
  for (const codegen::Template* tmpl : codegen::templates()) {
    const bool takes_one =
        std::any_of(shapes.begin(), shapes.end(), [&](const task::Conv2dWorkload& w) {
          const auto ts = codegen::templates_for(w, {}, /*allow_tf32=*/true);
          return std::find(ts.begin(), ts.end(), tmpl) != ts.end();
        });
    INFO(tmpl->name());
    if (takes_one) CHECK(templates_measured.count(tmpl->name()) == 1);
  }
  CHECK(measured >= int(shapes.size()));
}

TEST_CASE("a slice collected on the GPU replays exactly on the recorded device", "[gpu]") {
  // 32 configs of ResNet-18 task 7 on the implicit GEMM: collected with real compiles and
  // measurements, read back as a recording, then tuned on the recorded device.
  const auto slice = tune::slice_from_json(nlohmann::json::parse(R"({
    "name": "gpu-test-t7-gemm", "template": "conv2d_implicit_gemm",
    "workload": {"N": 1, "C": 256, "H": 14, "W": 14, "K": 256, "R": 3, "S": 3, "stride": [1, 1],
                 "padding": [1, 1, 1, 1], "dilation": [1, 1], "groups": 1},
    "knobs": {"tile_k": [8, 16], "thread_m": [4, 8], "thread_n": [4, 8], "lanes_n": [8], "warps_m": [2],
              "warps_n": [1, 2], "split_k": [4, 8], "splitk_reduce": [0], "stages": [3], "tap_major": [0]}})"),
                                           "gpu test");
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("chameleon-gpu-slice-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string path = dir + "/slice.jsonl";
  const target::Target t = gpu_target();
  measure::Builder builder(t, t.arch(), quick_build());
  struct Quiet : tune::ProgressSink {
    void task_start(const task::Task&, const std::string&, int, int, int) override {}
    void iteration(const tune::Progress&) override {}
    void task_end(const tune::TaskOutcome&, int, int) override {}
  } progress;
  {
    measure::CudaRunner runner(0, quick_timing());
    tune::TuningLog log(path);
    tune::TuneEnv env{t, builder, runner, log, {}, progress, "gpu-test"};
    const tune::CollectOutcome out = tune::collect_slice(slice, {}, env);
    CHECK(out.complete());
    CHECK(out.measured == out.tunable);
    CHECK(out.ok > 0);
    CHECK(out.failed == 0);
  }
  const auto recording = tune::read_recording(path);
  REQUIRE(recording.size() == 1);
  const tune::SliceRecording& rec = recording[0];
  REQUIRE(rec.complete());
  CHECK(rec.provenance.value("driver", std::string()) != "");
  for (const tune::Record& r : rec.records) {
    CHECK_FALSE(r.result.simulated);
    CHECK(r.result.compile_seconds > 0); // compiled here, not taken from a cache
    CHECK(r.result.run_seconds > 0);
  }
  auto recorded = tune::make_recorded_runner(path, recording);
  measure::Builder estimate(t, t.arch(), [] {
    measure::BuildOptions o;
    o.compile = false;
    return o;
  }());
  tune::TuningLog replay(dir + "/replay.jsonl");
  tune::TuneEnv env{rec.target, estimate, *recorded, replay, {}, progress, "gpu-test"};
  tune::TuneOptions o;
  o.tuner = "autotvm";
  o.trials = int(rec.records.size());
  o.batch = 8;
  o.templates = {"conv2d_implicit_gemm"};
  const tune::TaskOutcome out =
      tune::tune_task(task::Task{7, slice.workload, 3, {}, {}}, o, env, 1, 1);
  CHECK(out.new_trials == int(rec.records.size()));
  REQUIRE(out.best);
  double best = 1e9;
  for (const tune::Record& r : rec.records) {
    if (r.ok()) best = std::min(best, r.seconds());
  }
  CHECK(out.best->seconds() == best); // the whole slice, replayed: its optimum, exactly
  std::filesystem::remove_all(dir);
}

TEST_CASE("fused epilogues verify in every template, and fp16/bf16 tensor-core kernels and cuDNN "
          "in their type",
          "[gpu]") {
  measure::CudaRunner runner(0, quick_timing());
  measure::Builder builder(gpu_target(), gpu_target().arch(), {});
  const auto net =
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json");
  std::vector<task::Conv2dWorkload> shapes;
  for (task::DataType t : {task::DataType::f32, task::DataType::f16, task::DataType::bf16}) {
    task::ExtractOptions o;
    o.dtype = t;
    o.fuse = true;
    for (const auto& task : task::extract_tasks(net, o)) shapes.push_back(task.workload);
    // Awkward: prime channels, batch 2, stride 2 on odd sizes, a residual and silu.
    auto odd = small_workload();
    odd.n = 2, odd.c = 7, odd.h = 13, odd.w = 9, odd.k = 11, odd.stride_h = odd.stride_w = 2;
    odd.dtype = t;
    odd.epilogue.bias = odd.epilogue.residual = true;
    odd.epilogue.act = task::Activation::silu;
    shapes.push_back(odd);
  }
  // NHWC: conv2d_tensorcore's 16-byte tap copies with a residual, the element-wise gather of a
  // C=3 stem, a depthwise layer (conv2d_depthwise and the tensor cores); cuDNN in its NHWC format
  // below.
  const size_t first_nhwc = shapes.size();
  for (task::DataType t : {task::DataType::f16, task::DataType::bf16}) {
    auto copies = small_workload();
    copies.n = 2, copies.c = 32, copies.h = 14, copies.w = 11, copies.k = 24;
    copies.dtype = t;
    copies.layout = task::Layout::nhwc;
    copies.epilogue.bias = copies.epilogue.residual = true;
    copies.epilogue.act = task::Activation::relu;
    shapes.push_back(copies);
    auto stem = copies;
    stem.c = 3, stem.h = stem.w = 31, stem.r = stem.s = 7, stem.stride_h = stem.stride_w = 2;
    stem.pad_top = stem.pad_left = stem.pad_bottom = stem.pad_right = 3;
    stem.epilogue = {};
    shapes.push_back(stem);
    auto depthwise = copies; // conv2d_depthwise too
    depthwise.c = depthwise.k = depthwise.groups = 24;
    depthwise.epilogue.act = task::Activation::relu6;
    shapes.push_back(depthwise);
  }
  // Every build is submitted first, so that NVRTC compiles on all cores while the GPU verifies.
  std::vector<BuildJob> jobs;
  for (const auto& wl : shapes) {
    for (const codegen::Template* tmpl : codegen::templates_for(wl, {}, true, gpu_target().sm())) {
      auto sp = std::make_shared<space::ConfigSpace>(tmpl->make_space(wl));
      std::mt19937_64 rng(77);
      for (const auto& c : codegen::random_valid_configs(*tmpl, wl, *sp, gpu_target(), 2, rng))
        jobs.push_back({tmpl, &wl, sp, c, builder.submit({tmpl, wl, sp.get(), c})});
    }
  }
  int measured = 0, ok = 0;
  std::set<std::string> templates_measured;
  for (auto& job : jobs) {
    const auto r = runner.run(*job.wl, job.build.get());
    INFO(job.tmpl->name() << " on " << job.wl->str() << " config " << job.config.index << ": "
                          << r.message);
    CHECK(r.ok());
    ++measured;
    ok += r.ok();
    templates_measured.insert(job.tmpl->name());
  }
  // The tensor cores' templates of this GPU were among them (wgmma on an H100 or H200).
  CHECK(templates_measured.count("conv2d_tensorcore") == 1);
  if (gpu_target().sm() == 90) CHECK(templates_measured.count("conv2d_wgmma") == 1);
  std::printf("[gpu] fused and fp16/bf16 kernels: %d of %d configs verified\n", ok, measured);
  std::string why;
  if (cuda::load_cudnn(&why) == nullptr) return;
  // cuDNN times a fused task's epilogue too (its fused call or separate operators), verified
  // against the whole reference, except hardswish, which it has no operator for.
  std::vector<task::Conv2dWorkload> dnn_shapes = {shapes[2], shapes[first_nhwc - 1],
                                                  shapes[first_nhwc], shapes[first_nhwc + 1]};
  for (task::Activation act :
       {task::Activation::none, task::Activation::relu6, task::Activation::hardswish}) {
    auto wl = shapes[first_nhwc - 1]; // bf16, batch 2, prime channels, bias and residual
    wl.dtype = task::DataType::f16;
    wl.epilogue.act = act;
    dnn_shapes.push_back(wl);
  }
  for (const auto& wl : dnn_shapes) {
    const auto r = runner.run_cudnn(wl);
    INFO(wl.str() << ": " << r.message);
    CHECK(r.ok());
    const std::string how = r.settings.value("epilogue", std::string());
    if (wl.epilogue.empty()) {
      CHECK(how.empty());
    } else if (wl.epilogue.act == task::Activation::hardswish) {
      CHECK(how == "convolution alone");
    } else {
      CHECK((how == "fused" || how == "separate"));
    }
    CHECK(!r.settings.value("cudnn_api", std::string()).empty());
    std::printf("[gpu] cuDNN on %s: %.2f us (%s)\n", wl.str().c_str(), r.median * 1e6,
                r.message.c_str());
  }
}
