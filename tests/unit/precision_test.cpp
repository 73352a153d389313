// Types and fused epilogues as part of a task: workloads, task extraction from networks, and every
// template's epilogue and the fp16/bf16 tensor-core template run by the host emulator against the
// exact conv2d.
#include <catch2/catch.hpp>

#include "../emu/emulator.hpp"
#include "problem.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/reference.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/util/error.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>

using namespace chameleon;

namespace {

task::Conv2dWorkload shape(int n, int c, int h, int w, int k, int r, int s, int stride = 1,
                           int pad = 0, int dil = 1, int groups = 1) {
  return testing::workload(n, c, h, w, k, r, s, stride, stride, pad, pad, pad, pad, dil, dil,
                           groups);
}

task::Conv2dWorkload typed(task::Conv2dWorkload wl, task::DataType t, task::Epilogue e = {}) {
  wl.dtype = t;
  wl.epilogue = e;
  return wl;
}

task::Epilogue epi(bool bias, bool residual, task::Activation act) {
  task::Epilogue e;
  e.bias = bias;
  e.residual = residual;
  e.act = act;
  return e;
}

network::Network shipped(const std::string& name) {
  return network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + name + ".json");
}

using testing::Problem;
using testing::tolerance;

// Mismatches of one config's kernel, its source changed from `from` to `to` where given.
int64_t mismatches(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                   const space::ConfigSpace& sp, const space::Config& cfg, const Problem& p,
                   unsigned seed, const std::string& from = "", const std::string& to = "") {
  auto src = tmpl.render(wl, sp, cfg);
  if (!from.empty()) {
    const size_t at = src.code.find(from);
    REQUIRE(at != std::string::npos);
    src.code.replace(at, from.size(), to);
  }
  const auto out = emu::run_kernel(src, wl, p.data, p.weight, seed, CHM_EMU_CACHE_DIR, &p.fused);
  const double tol = tolerance(tmpl, wl);
  const auto cmp = emu::compare(out, p.ref, tol, tol);
  INFO(tmpl.name() << " on " << wl.str() << ", " << sp.str(cfg) << ": " << cmp.bad << " of "
                   << out.size() << " wrong, first at " << cmp.first);
  return cmp.bad;
}

// `count` random configs of the template that the static check passes for an H100, emulated;
// `want` filters them (a split, a workspace).
void check_random(const codegen::Template& tmpl, const task::Conv2dWorkload& wl, int count,
                  uint64_t seed,
                  const std::function<bool(const codegen::KernelFeatures&)>& want = nullptr) {
  REQUIRE(tmpl.decline_reason(wl).empty());
  const auto sp = tmpl.make_space(wl);
  const target::Target h100 = target::find_preset("h100");
  std::mt19937_64 rng(seed);
  const Problem p(wl, seed);
  int found = 0;
  // A depthwise layer's GEMM has one row per group: few configs of the FP32 GEMM fit it.
  for (int draw = 0; draw < 1000000 && found < count; ++draw) {
    const auto cfg = sp.random(rng);
    const auto f = tmpl.features(wl, sp, cfg);
    if (!codegen::tunable(h100, f) || (want && !want(f))) continue;
    ++found;
    CHECK(mismatches(tmpl, wl, sp, cfg, p, unsigned(draw)) == 0);
  }
  INFO(tmpl.name() << " on " << wl.str() << ": configs found");
  CHECK(found == count);
}

// Shapes no shipped network has, for the tensor-core template: primes, odd and non-square sizes,
// stride 2, dilation, batch > 1, groups, pointwise with and without 16-byte copies, a C=3 stem.
std::vector<task::Conv2dWorkload> awkward() {
  return {
      shape(1, 7, 11, 9, 13, 3, 3, 1, 1),
      shape(2, 5, 15, 15, 17, 3, 3, 2, 1),
      shape(1, 4, 12, 10, 8, 3, 3, 1, 2, 2),
      shape(3, 16, 8, 8, 24, 1, 1),
      shape(1, 3, 7, 5, 11, 1, 1),
      shape(1, 3, 20, 18, 8, 7, 7, 2, 3),
      shape(2, 13, 9, 11, 13, 3, 3, 1, 1, 1, 13),
      shape(1, 16, 12, 10, 8, 3, 3, 1, 2, 2, 4),
      shape(1, 32, 9, 9, 40, 3, 3, 1, 1),
  };
}

// A tensor-core config to emulate in each ring depth: its task, its knob choices before the
// stages and after them, and what it covers.
struct TileCase {
  const task::Conv2dWorkload* wl;
  std::vector<int> choice;
  const char* what;
  std::vector<int> after = {};
};

// Each case at 2, 3 and 4 stages, exact against the reference (a ring deeper than the case's
// reduction tiles is ruled out by the static check, and skipped).
void check_tile_cases(const codegen::Template& tmpl, const std::vector<TileCase>& cases,
                      uint64_t seed) {
  for (const auto& c : cases) {
    const auto sp = tmpl.make_space(*c.wl);
    const Problem p(*c.wl, seed);
    for (int stages = 0; stages < 3; ++stages) {
      auto choice = c.choice;
      choice.push_back(stages);
      choice.insert(choice.end(), c.after.begin(), c.after.end());
      const auto cfg = sp.from_choices(choice);
      INFO(c.what << ": " << sp.str(cfg));
      const auto f = tmpl.features(*c.wl, sp, cfg);
      if (!f.invalid.empty()) {
        INFO(f.invalid);
        // Only rings deeper than the tiles allow, or 2 stages with a tile of multiplies pending.
        CHECK((stages > 0 || f.invalid.find("wgmma_pending") != std::string::npos));
        continue;
      }
      CHECK(mismatches(tmpl, *c.wl, sp, cfg, p, unsigned(stages)) == 0);
    }
  }
}

// Two NVRTC jobs, in this process.
measure::BuildOptions two_jobs() {
  measure::BuildOptions opts;
  opts.jobs = 2;
  opts.isolate = false;
  return opts;
}
// Builds submitted to one builder, each labelled, then checked together: every one compiles.
struct Builds {
  explicit Builds(measure::Builder& b) : builder(b) {}
  measure::Builder& builder;
  std::vector<std::future<measure::BuildResult>> futures;
  std::vector<std::string> labels;
  void add(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
           const space::ConfigSpace& sp, const space::Config& c, const std::string& label) {
    futures.push_back(builder.submit({&tmpl, wl, &sp, c}));
    labels.push_back(label + " " + wl.str() + " " + sp.str(c));
  }
  // `count` random configs of `tmpl` on `wl` that the static check passes for `tgt`.
  void random(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
              const space::ConfigSpace& sp, const target::Target& tgt, int count, uint64_t seed,
              const std::string& label) {
    std::mt19937_64 rng(seed);
    for (const auto& c : codegen::random_valid_configs(tmpl, wl, sp, tgt, count, rng))
      add(tmpl, wl, sp, c, label);
  }
  // Waits for all; `also` checks more of each result.
  void check(const std::function<void(const measure::BuildResult&)>& also = nullptr) {
    for (size_t i = 0; i < futures.size(); ++i) {
      const auto r = futures[i].get();
      INFO(labels[i] << ": " << r.message);
      CHECK(r.ok());
      CHECK(r.resources.registers > 0);
      if (also) also(r);
    }
    futures.clear();
    labels.clear();
  }
};
} // namespace

TEST_CASE("a task's type and epilogue are part of its workload", "[precision]") {
  const auto plain = shape(1, 64, 56, 56, 64, 3, 3, 1, 1);
  // A float32 task without epilogue keeps its key, text and JSON.
  CHECK(plain.key() == "conv2d_1_64_56_56_64_3_3_1_1_1_1_1_1_1_1_1");
  CHECK(!task::to_json(plain).contains("dtype"));
  CHECK(!task::to_json(plain).contains("epilogue"));
  const auto fused = typed(plain, task::DataType::f16, epi(true, true, task::Activation::relu));
  CHECK(fused != plain);
  CHECK(fused.key() != plain.key());
  CHECK(fused.str() == plain.str() + " fp16 +bias+add+relu");
  const auto back = task::workload_from_json(task::to_json(fused));
  CHECK(back == fused);
  CHECK(back.key() == fused.key());
  CHECK(task::workload_from_json(task::to_json(plain)) == plain);
  // Each part tells tasks apart.
  CHECK(typed(plain, task::DataType::bf16) != typed(plain, task::DataType::f16));
  CHECK(typed(plain, task::DataType::f16, epi(true, false, task::Activation::relu6)).key() !=
        typed(plain, task::DataType::f16, epi(true, false, task::Activation::relu)).key());
  CHECK(task::dtype_from_text("bf16") == task::DataType::bf16);
  CHECK(task::dtype_from_text("float16") == task::DataType::f16);
  CHECK_THROWS_WITH(task::dtype_from_text("int8"), Catch::Contains("fp16"));
  nlohmann::json bad = task::to_json(plain);
  bad["epilogue"] = {{"activation", "gelu"}};
  CHECK_THROWS_WITH(task::workload_from_json(bad), Catch::Contains("gelu"));
  bad = task::to_json(plain);
  bad["dtype"] = "int8";
  CHECK_THROWS_WITH(task::workload_from_json(bad), Catch::Contains("int8"));
}

TEST_CASE("tasks fuse bias, batch norm, residual add and activation when asked", "[precision]") {
  const network::Network net = shipped("resnet18");
  const auto plain = task::extract_tasks(net);
  for (const auto& t : plain) CHECK(t.workload.epilogue.empty());
  task::ExtractOptions o;
  o.fuse = true;
  o.dtype = task::DataType::f16;
  const auto fused = task::extract_tasks(net, o);
  // Convolutions of one shape split by what follows them.
  CHECK(fused.size() > plain.size());
  auto find = [&](const std::string& layer) -> std::pair<const task::Task*, size_t> {
    for (const auto& t : fused)
      for (size_t i = 0; i < t.layers.size(); ++i)
        if (t.layers[i] == layer) return {&t, i};
    FAIL("no task has layer " << layer);
    return {nullptr, 0};
  };
  auto [stem, stem_at] = find("conv1");
  CHECK(stem->workload.dtype == task::DataType::f16);
  CHECK(stem->workload.epilogue.str() == "bias+relu");
  CHECK(stem->fused[stem_at] == std::vector<std::string>{"conv1_bn", "conv1_relu"});
  // conv2 of a basic block: batch norm, the identity added, relu.
  auto [block, block_at] = find("layer1_0_conv2");
  CHECK(block->workload.epilogue.str() == "bias+add+relu");
  CHECK(block->fused[block_at] ==
        std::vector<std::string>{"layer1_0_conv2_bn", "layer1_0_add", "layer1_0_relu"});
  // A downsampling block adds two convolutions' outputs: the later one (the 1x1) takes the add,
  // reading the earlier one's output as its residual; the earlier stops at its batch norm.
  CHECK(find("layer2_0_conv2").first->workload.epilogue.str() == "bias");
  CHECK(find("layer2_0_downsample").first->workload.epilogue.str() == "bias+add+relu");
  // Every conv2d is still in exactly one task.
  size_t layers = 0, before = 0;
  for (const auto& t : fused) layers += t.layers.size();
  for (const auto& t : plain) before += t.layers.size();
  CHECK(layers == before);

  // MobileNetV2: relu6 after the expansions, a linear projection with (or without) a residual.
  const auto mobile = task::extract_tasks(shipped("mobilenet_v2"), o);
  std::set<std::string> chains;
  for (const auto& t : mobile) chains.insert(t.workload.epilogue.str());
  CHECK(chains.count("bias+relu6") == 1);
  CHECK(chains.count("bias+add") == 1);
  CHECK(chains.count("bias") == 1);
}

TEST_CASE("fusion stops where a tensor has another reader or the residual comes later",
          "[precision]") {
  const nlohmann::json doc = nlohmann::json::parse(R"({
    "name": "branches",
    "input": {"name": "x", "shape": [1, 8, 10, 10]},
    "layers": [
      {"name": "a", "op": "conv2d", "out_channels": 8, "kernel": 3, "padding": 1, "bias": true},
      {"name": "a_relu", "op": "relu"},
      {"name": "b", "op": "conv2d", "out_channels": 8, "kernel": 1},
      {"name": "b_bn", "op": "batch_norm"},
      {"name": "c", "op": "conv2d", "inputs": ["b_bn"], "out_channels": 8, "kernel": 1},
      {"name": "sum", "op": "add", "inputs": ["b_bn", "c"]},
      {"name": "d", "op": "conv2d", "inputs": ["sum"], "out_channels": 8, "kernel": 1},
      {"name": "d_sig", "op": "sigmoid"},
      {"name": "e", "op": "conv2d", "inputs": ["x"], "out_channels": 8, "kernel": 1},
      {"name": "f", "op": "add", "inputs": ["e", "x"]},
      {"name": "g", "op": "tanh"}
    ]})");
  task::ExtractOptions o;
  o.fuse = true;
  const auto tasks = task::extract_tasks(network::parse_network(doc, "branches.json"), o);
  std::map<std::string, std::string> chain;
  for (const auto& t : tasks)
    for (const auto& l : t.layers) chain[l] = t.workload.epilogue.str();
  CHECK(chain["a"] == "bias+relu"); // its own bias, then relu
  CHECK(chain["b"] == "bias");      // b_bn has two readers: the add stays out
  CHECK(chain["c"] == "add");       // the residual b_bn exists before c runs
  CHECK(chain["d"] == "");          // sigmoid is not fused
  CHECK(chain["e"] == "add");       // the network's input as the residual; tanh is not fused
  // Without fusion, the conv2d's own bias stays out too: the task is the convolution alone.
  const auto plain = task::extract_tasks(network::parse_network(doc, "branches.json"));
  for (const auto& t : plain) CHECK(t.workload.epilogue.empty());
}

TEST_CASE("network files may set precision and fusion, and say what is wrong", "[precision]") {
  nlohmann::json doc = nlohmann::json::parse(R"({
    "name": "n", "precision": "bf16", "fuse": false,
    "input": {"name": "x", "shape": [1, 3, 8, 8]},
    "layers": [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel": 3}]})");
  const auto net = network::parse_network(doc, "n.json");
  CHECK(net.precision == "bf16");
  CHECK(net.fuse == 0);
  doc["precision"] = "int4";
  CHECK_THROWS_WITH(network::parse_network(doc, "n.json"), Catch::Contains("fp16"));
  doc["precision"] = "fp16";
  doc["fuse"] = "yes";
  CHECK_THROWS_WITH(network::parse_network(doc, "n.json"), Catch::Contains("'fuse'"));
  doc["fuse"] = true;
  doc["layers"][0]["bias"] = 1;
  CHECK_THROWS_WITH(network::parse_network(doc, "n.json"), Catch::Contains("'bias'"));
}

TEST_CASE("float32 templates decline fp16 and bf16 tasks; the tensor-core, depthwise and "
          "Winograd templates take them",
          "[precision]") {
  const auto wl = shape(1, 16, 8, 8, 16, 3, 3, 1, 1);
  const auto half = typed(wl, task::DataType::f16);
  for (const auto* t : codegen::templates()) {
    if (t->name() == "conv2d_tensorcore" || t->name() == "conv2d_wgmma") {
      CHECK(t->decline_reason(half).empty());
      CHECK_THAT(t->decline_reason(wl), Catch::Contains("float16 and bfloat16"));
      CHECK(t->min_sm() == (t->name() == "conv2d_wgmma" ? 90 : 80));
      CHECK(t->max_sm() == (t->name() == "conv2d_wgmma" ? 90 : 0));
    } else if (t->name() == "conv2d_depthwise") { // every type, depthwise layers only
      CHECK_THAT(t->decline_reason(half), Catch::Contains("not a depthwise"));
      CHECK(t->takes(task::DataType::bf16));
    } else if (t->name() == "conv2d_winograd_tc") { // 16-bit types, 3x3 stride 1 only, sm_80
      CHECK(t->decline_reason(half).empty());
      CHECK(t->decline_reason(typed(wl, task::DataType::bf16)).empty());
      CHECK_THAT(t->decline_reason(wl), Catch::Contains("float16 and bfloat16"));
      CHECK_THAT(
          t->decline_reason(typed(shape(1, 16, 8, 8, 16, 3, 3, 1, 1, 2), task::DataType::f16)),
          Catch::Contains("dilation 1"));
      CHECK(t->min_sm() == 80);
    } else if (t->name() == "conv2d_winograd") { // every type, 3x3 stride 1 only
      CHECK(t->decline_reason(half).empty());
      CHECK(t->decline_reason(typed(wl, task::DataType::bf16)).empty());
      CHECK(t->decline_reason(wl).empty());
      CHECK_THAT(t->decline_reason(typed(shape(1, 16, 8, 8, 16, 3, 3, 2, 1), task::DataType::f16)),
                 Catch::Contains("stride 1"));
    } else {
      CHECK_THAT(t->decline_reason(half), Catch::Contains("conv2d_tensorcore"));
    }
  }
  // A depthwise fp16 task: the depthwise kernel and the tensor cores' GEMM (one row a group).
  const auto dw = typed(shape(1, 32, 28, 28, 32, 3, 3, 1, 1, 1, 32), task::DataType::f16);
  std::vector<std::string> names;
  for (const auto* t : codegen::templates_for(dw, {}, false, 90)) names.push_back(t->name());
  CHECK(names == std::vector<std::string>{"conv2d_depthwise", "conv2d_tensorcore", "conv2d_wgmma"});
  names.clear();
  for (const auto* t : codegen::templates_for(half, {}, false, 90)) names.push_back(t->name());
  CHECK(names == std::vector<std::string>{"conv2d_tensorcore", "conv2d_wgmma", "conv2d_winograd_tc",
                                          "conv2d_winograd"});
  // wgmma is sm_90a's alone: not for an A100 (nor for a newer architecture).
  names.clear();
  for (const auto* t : codegen::templates_for(half, {}, false, 80)) names.push_back(t->name());
  CHECK(names ==
        std::vector<std::string>{"conv2d_tensorcore", "conv2d_winograd_tc", "conv2d_winograd"});
  const auto& wgmma = codegen::find_template("conv2d_wgmma");
  CHECK_FALSE(wgmma.runs_on(100));
  CHECK(codegen::arch_reason(wgmma, 80) == "runs on sm_90 only (the target is sm_80)");
  CHECK(codegen::arch_reason(codegen::find_template("conv2d_tensorcore"), 70) ==
        "needs sm_80 or newer (the target is sm_70)");
  // `measure` and `compile` default to the tensor cores for a 16-bit task, to Winograd's
  // predecessors for a float32 one.
  CHECK(codegen::template_for(half)->name() == "conv2d_tensorcore");
  CHECK(codegen::template_for(wl)->name() == "conv2d_direct");
  // mma m16n8k16 needs sm_80; Winograd stores fp16 and computes in float32 on any GPU.
  const auto volta = codegen::templates_for(half, {}, false, 70);
  REQUIRE(volta.size() == 1);
  CHECK(volta[0]->name() == "conv2d_winograd");
  const auto pointwise = typed(shape(1, 16, 8, 8, 16, 1, 1), task::DataType::f16);
  CHECK(codegen::templates_for(pointwise, {}, false, 70).empty());
}

namespace {

// The split-K configs among 4,000 random ones of a task: by atomics and refused with `reason` (a
// part of the static check's text), by atomics and kept, by a workspace and kept.
struct SplitCounts {
  int atomic_refused = 0, atomic_kept = 0, workspace = 0;
};
SplitCounts count_splits(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                         const std::string& reason, uint64_t seed) {
  const auto sp = tmpl.make_space(wl);
  std::mt19937_64 rng(seed);
  SplitCounts n;
  for (int i = 0; i < 4000; ++i) {
    const auto f = tmpl.features(wl, sp, sp.random(rng));
    CHECK(f.dtype == wl.dtype); // the sim and the cost model count the type's loads and stores
    if (f.split_k <= 1) continue;
    if (!f.geometry.zero_output) {
      n.workspace += f.invalid.empty();
    } else if (f.invalid.empty()) {
      ++n.atomic_kept;
    } else { // this reason, or one the template checks after it
      n.atomic_refused += f.invalid.find(reason) != std::string::npos;
    }
  }
  return n;
}

} // namespace

TEST_CASE("a fused epilogue rules out split-K by atomics, not by a workspace", "[precision]") {
  const auto wl = typed(shape(1, 32, 8, 8, 16, 3, 3, 1, 1), task::DataType::f32,
                        epi(true, false, task::Activation::relu));
  const SplitCounts n =
      count_splits(codegen::find_template("conv2d_implicit_gemm"), wl, "epilogue", 3);
  CHECK(n.atomic_kept == 0);
  CHECK(n.atomic_refused > 0);
  CHECK(n.workspace > 0);
}

TEST_CASE("fp16 and bf16 outputs rule out Winograd's split-K by atomics, not by a workspace",
          "[precision]") {
  const auto& tmpl = codegen::find_template("conv2d_winograd");
  const auto wl = shape(1, 256, 14, 14, 256, 3, 3, 1, 1);
  for (task::DataType t : {task::DataType::f16, task::DataType::bf16}) {
    const SplitCounts n =
        count_splits(tmpl, typed(wl, t), std::string("cannot add into ") + task::dtype_name(t), 5);
    CHECK(n.atomic_kept == 0);
    CHECK(n.atomic_refused > 0);
    CHECK(n.workspace > 0);
  }
  CHECK(count_splits(tmpl, wl, "", 5).atomic_kept > 0); // float32 outputs keep both
}

TEST_CASE("every float32 template applies fused epilogues exactly (host emulation)",
          "[emu][precision]") {
  const std::vector<task::Epilogue> chains = {
      epi(true, false, task::Activation::relu),
      epi(true, true, task::Activation::relu6),
      epi(false, true, task::Activation::silu),
      epi(true, false, task::Activation::hardswish),
  };
  const auto plain = shape(2, 5, 11, 9, 7, 3, 3, 1, 1);
  const auto depthwise = shape(1, 6, 9, 11, 6, 3, 3, 2, 1, 1, 6);
  auto workspace = [](const codegen::KernelFeatures& f) { return f.geometry.workspace_splits > 0; };
  struct Case {
    const char* tmpl;
    const task::Conv2dWorkload* wl;
    bool split; // the epilogue in the split-K reduction
  };
  const std::vector<Case> cases = {
      {"conv2d_direct", &plain, false},
      {"conv2d_implicit_gemm", &plain, false},
      {"conv2d_implicit_gemm_tf32", &plain, false},
      {"conv2d_winograd", &plain, false},
      {"conv2d_depthwise", &depthwise, false},
      {"conv2d_implicit_gemm", &depthwise, false},
      {"conv2d_direct_splitk", &plain, true},
      {"conv2d_implicit_gemm", &plain, true},
      {"conv2d_winograd", &plain, true},
  };
  // Each case with two of the chains, every chain on several templates.
  uint64_t seed = 1;
  for (size_t i = 0; i < cases.size(); ++i) {
    for (size_t j : {i % chains.size(), (i + 1) % chains.size()}) {
      const auto& tmpl = codegen::find_template(cases[i].tmpl);
      const auto wl = typed(*cases[i].wl, task::DataType::f32, chains[j]);
      if (cases[i].split)
        check_random(tmpl, wl, 1, seed++, workspace);
      else
        check_random(tmpl, wl, 1, seed++);
    }
  }
}

TEST_CASE("conv2d_tensorcore computes fp16 and bf16 conv2d on awkward shapes (host emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  // The types take turns (they differ in their conversions and the mma's input type only).
  uint64_t seed = 10;
  for (const auto& wl : awkward()) {
    check_random(tmpl, typed(wl, seed % 2 == 0 ? task::DataType::f16 : task::DataType::bf16), 1,
                 seed);
    ++seed;
  }
}

TEST_CASE("conv2d_depthwise computes fp16 and bf16 depthwise conv2d, fused (host emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_depthwise");
  uint64_t seed = 60;
  for (task::DataType t : {task::DataType::f16, task::DataType::bf16}) {
    // Prime channels with batch 2; stride 2 on an odd plane with a multiplier of 2; dilation.
    check_random(tmpl, typed(shape(2, 13, 9, 11, 13, 3, 3, 1, 1, 1, 13), t), 1, seed++);
    check_random(tmpl,
                 typed(shape(1, 6, 15, 15, 12, 3, 3, 2, 1, 1, 6), t,
                       epi(true, true, task::Activation::relu6)),
                 1, seed++);
    check_random(tmpl,
                 typed(shape(1, 5, 13, 7, 5, 3, 3, 1, 2, 2, 5), t,
                       epi(true, false, task::Activation::hardswish)),
                 1, seed++);
  }
}

TEST_CASE("conv2d_winograd and conv2d_winograd_tc compute fp16 and bf16 conv2d, fused and split "
          "(host emulation)",
          "[emu][precision]") {
  auto workspace = [](const codegen::KernelFeatures& f) { return f.geometry.workspace_splits > 0; };
  const auto f16 = task::DataType::f16, bf16 = task::DataType::bf16;
  uint64_t seed = 70;
  for (const char* name : {"conv2d_winograd", "conv2d_winograd_tc"}) {
    const auto& tmpl = codegen::find_template(name);
    // Prime channels with batch 2 on an odd, non-square plane; no padding with 3 output
    // channels; wide padding on a C=3 batch of 3; several slices with fused chains; split-K
    // through the workspace, whose reduction applies the chain and rounds (the types take turns:
    // they differ only in their conversions and the mma's input type).
    check_random(tmpl, typed(shape(2, 7, 9, 13, 11, 3, 3, 1, 1), f16), 1, seed++);
    check_random(tmpl, typed(shape(1, 5, 10, 7, 3, 3, 3, 1, 0), bf16), 1, seed++);
    check_random(tmpl, typed(shape(3, 3, 6, 5, 17, 3, 3, 1, 2), f16), 1, seed++);
    check_random(
        tmpl,
        typed(shape(1, 40, 12, 12, 20, 3, 3, 1, 1), bf16, epi(true, true, task::Activation::relu)),
        1, seed++);
    for (task::DataType t : {f16, bf16}) {
      check_random(
          tmpl,
          typed(shape(1, 48, 7, 7, 16, 3, 3, 1, 1), t, epi(true, false, task::Activation::silu)), 1,
          seed++, workspace);
    }
  }
}

TEST_CASE("conv2d_winograd_tc's tiles are exact for every block tile and warp count (host "
          "emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_winograd_tc");
  // 36 tiles of 2x2 and 33 output channels: every block tile has partial tiles at some edge; 17
  // channels: one or two slices, the last one partial.
  const auto wl = typed(shape(1, 17, 12, 12, 33, 3, 3, 1, 1), task::DataType::f16);
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 5);
  // Every block tile that some warp count and slice width make valid (64 x 32 and larger need
  // more registers than a thread has), the warps and the slice width taking turns.
  std::set<int> ms, ns;
  for (int m = 0; m < 3; ++m)
    for (int n = 0; n < 4; ++n) {
      for (int t = 0; t < 8; ++t) {
        const auto cfg = sp.from_choices({(m + n + t / 4) % 2, m, n, (m + n + t) % 4, 0});
        const auto f = tmpl.features(wl, sp, cfg);
        if (!f.invalid.empty()) continue;
        CHECK(mismatches(tmpl, wl, sp, cfg, p, unsigned(m * 4 + n)) == 0);
        ms.insert(m);
        ns.insert(n);
        break;
      }
    }
  CHECK(ms.size() == 3);
  CHECK(ns.size() == 4);
}

TEST_CASE("the emulator catches conv2d_winograd_tc with a wrong fragment, scale or barrier",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_winograd_tc");
  const auto wl = typed(shape(1, 32, 9, 9, 32, 3, 3, 1, 1), task::DataType::f16);
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 3);
  // tile_k 16, block 32 x 16 (an even number of 8-tile columns), 4 warps: 4 components a warp.
  const auto cfg = sp.from_choices({0, 1, 1, 1, 0});
  INFO(sp.str(cfg));
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1) == 0);
  // The input fragments: a swapped register, the tile-major rows read without .trans.
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "bf[j][1] = r4[1];", "bf[j][1] = r4[2];") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "ldmatrix_x4_trans(r4,", "ldmatrix_x4(r4,") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1,
                   "weight_scale(int q) { return unscale(q / ALPHA, q % ALPHA); }",
                   "weight_scale(int q) { return 1.0f; }") > 0);
  // The weight components channel-major, as conv2d_winograd's float32 ones are.
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "u_at(int e) { return (e / BK) * U_LD + e % BK; }",
                   "u_at(int e) { return (e % BK) * U_LD + e / BK; }") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "const int row = i * 16 + h * 8 + lane / 4 - i0;",
                   "const int row = i * 16 + h * 8 + lane % 4 - i0;") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1,
                   "store_slice(sl, next, next + NC * U_PLANE, tid);\n    __syncthreads();",
                   "store_slice(sl, next, next + NC * U_PLANE, tid);") > 0);
}

TEST_CASE("conv2d_tensorcore's split-K and fused epilogues are exact (host emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  const auto wl = shape(2, 24, 9, 7, 20, 3, 3, 1, 1);
  const auto pointwise = shape(1, 48, 8, 8, 24, 1, 1);
  uint64_t seed = 40;
  for (task::DataType t : {task::DataType::f16, task::DataType::bf16}) {
    check_random(tmpl, typed(wl, t), 2, seed++,
                 [](const codegen::KernelFeatures& f) { return f.split_k > 1; });
    check_random(tmpl, typed(wl, t, epi(true, true, task::Activation::relu)), 2, seed++);
    check_random(tmpl, typed(pointwise, t, epi(true, true, task::Activation::silu)), 1, seed++,
                 [](const codegen::KernelFeatures& f) { return f.split_k > 1; });
    check_random(tmpl, typed(pointwise, t, epi(true, false, task::Activation::hardswish)), 1,
                 seed++);
  }
}

TEST_CASE("conv2d_tensorcore's tiles are exact in every ring depth and fragment layout (host "
          "emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  // GK = 7*9 = 63 (element-wise weight copies), GM = 40, 2 images of 99 pixels.
  const auto odd = typed(shape(2, 7, 11, 9, 40, 3, 3, 1, 1), task::DataType::f16);
  // GK = 288 (16-byte weight copies), pointwise 16-byte input copies on the second.
  const auto even = typed(shape(1, 32, 9, 9, 32, 3, 3, 1, 1), task::DataType::f16);
  const auto pointwise = typed(shape(2, 64, 8, 8, 32, 1, 1), task::DataType::f16);
  // Choices: tile_k, mma_m, mma_n, warps_m, warps_n, split_k.
  const std::vector<TileCase> cases = {
      {&odd, {0, 0, 0, 0, 0, 0}, "16x8 tile, one warp, an odd NI (ldmatrix .x2.trans)"},
      {&odd, {1, 1, 3, 1, 0, 0}, "64x64 tile, 2 warps, NI 8"},
      {&even, {2, 1, 1, 0, 2, 0}, "BK 64, 32x64 tile, 4 warps"},
      {&even, {0, 0, 2, 1, 2, 1}, "BK 16, 32x128 tile, 8 warps, split 2"},
      {&pointwise, {1, 0, 2, 1, 1, 0}, "pointwise 16-byte input copies, 32x64 tile"},
      {&pointwise, {0, 0, 3, 0, 1, 1}, "pointwise, 16x128 tile, split 2"},
  };
  check_tile_cases(tmpl, cases, 5);
}

TEST_CASE("NHWC tasks compute exactly: conv2d_tensorcore's 16-byte tap copies, gathers, split-K, "
          "fused, and conv2d_depthwise (host emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  auto nhwc = [](task::Conv2dWorkload wl) {
    wl.layout = task::Layout::nhwc;
    return wl;
  };
  uint64_t seed = 80;
  // The awkward shapes: CG % 8 != 0 gathers element by element; 16, 32 and the groups of 4
  // channels... copy 16 bytes where CG % 8 == 0.
  for (const auto& wl : awkward()) { // the types take turns
    check_random(tmpl, typed(nhwc(wl), seed % 2 == 0 ? task::DataType::f16 : task::DataType::bf16),
                 1, seed);
    ++seed;
  }
  // 16-byte copies with padding, stride 2 and dilation, groups of 8 channels; split-K through the
  // workspace (its reduction finds the channel of an NHWC element) with the epilogue.
  const auto strided = nhwc(shape(2, 24, 11, 9, 20, 3, 3, 2, 1, 2));
  const auto grouped = nhwc(shape(1, 32, 7, 9, 24, 3, 3, 1, 1, 1, 4));
  // The types take turns (they differ in their conversions and the mma's input type only).
  check_random(tmpl, typed(strided, task::DataType::f16), 2, seed++);
  check_random(tmpl, typed(grouped, task::DataType::bf16, epi(true, true, task::Activation::relu)),
               1, seed++);
  check_random(tmpl, typed(strided, task::DataType::bf16, epi(true, true, task::Activation::silu)),
               2, seed++, [](const codegen::KernelFeatures& f) { return f.split_k > 1; });
  // Every fragment layout (an odd NI: ldmatrix .x2) and ring depth, and what the emulator catches.
  const auto wl = typed(nhwc(shape(1, 32, 9, 9, 40, 3, 3, 1, 1)), task::DataType::f16);
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 4);
  for (const std::vector<int>& choice :
       {std::vector<int>{0, 0, 0, 0, 0, 0}, {1, 1, 3, 1, 0, 0}, {2, 1, 1, 0, 2, 0}}) {
    for (int stages = 0; stages < 3; ++stages) {
      auto c = choice;
      c.push_back(stages);
      const auto cfg = sp.from_choices(c);
      INFO(sp.str(cfg));
      if (!tmpl.features(wl, sp, cfg).invalid.empty()) continue;
      CHECK(mismatches(tmpl, wl, sp, cfg, p, unsigned(stages)) == 0);
    }
  }
  const auto cfg = sp.from_choices({0, 1, 1, 1, 1, 0, 1});
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1) == 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "bf[j][1] = r4[2];", "bf[j][1] = r4[1];") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1,
                   "j < unsigned(GK) && unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W)",
                   "j < unsigned(GK) && unsigned(ih) < unsigned(H)") > 0);
  // Depthwise NHWC layers on conv2d_depthwise (channels fastest): prime channels with batch 2,
  // a multiplier of 2 with stride 2, dilation; fp32 too (the template takes every type). Each type
  // on one of them (its NCHW fp16 and bf16 cases are tested apart).
  const auto& depthwise = codegen::find_template("conv2d_depthwise");
  check_random(depthwise,
               typed(nhwc(shape(2, 13, 9, 11, 13, 3, 3, 1, 1, 1, 13)), task::DataType::f16), 2,
               seed++);
  check_random(depthwise,
               typed(nhwc(shape(1, 6, 15, 15, 12, 3, 3, 2, 1, 1, 6)), task::DataType::bf16,
                     epi(true, true, task::Activation::relu6)),
               2, seed++);
  check_random(depthwise,
               typed(nhwc(shape(1, 24, 13, 7, 24, 3, 3, 1, 2, 2, 24)), task::DataType::f32,
                     epi(true, false, task::Activation::hardswish)),
               1, seed++);
  // The NCHW tensors of the same task are not what the kernel reads.
  Problem nchw(wl, 4);
  nchw.data = Problem(typed(shape(1, 32, 9, 9, 40, 3, 3, 1, 1), task::DataType::f16), 4).data;
  CHECK(mismatches(tmpl, wl, sp, cfg, nchw, 1) > 0);
}

TEST_CASE("conv2d_tensorcore and, for depthwise ones, conv2d_depthwise take NHWC tasks; the "
          "layout is part of the workload",
          "[precision]") {
  auto wl = typed(shape(1, 16, 8, 8, 16, 3, 3, 1, 1), task::DataType::f16);
  wl.layout = task::Layout::nhwc;
  CHECK(wl.str() == "N1 C16 H8 W8 K16 R3 S3 s1 p1 d1 fp16 nhwc");
  CHECK(task::workload_from_json(task::to_json(wl)) == wl);
  CHECK(task::to_json(wl).at("layout") == "nhwc");
  auto nchw = wl;
  nchw.layout = task::Layout::nchw;
  CHECK(nchw != wl);
  CHECK(nchw.key() != wl.key());
  CHECK_FALSE(task::to_json(nchw).contains("layout"));
  CHECK(task::layout_from_text("NHWC") == task::Layout::nhwc);
  CHECK_THROWS_WITH(task::layout_from_text("chwn"), Catch::Contains("known: nchw, nhwc"));
  auto fp32 = wl;
  fp32.dtype = task::DataType::f32;
  CHECK_THAT(codegen::decline_reasons(fp32), Catch::Contains("NCHW tensors only"));
  const auto found = codegen::templates_for(wl, {}, false, 90);
  REQUIRE(found.size() == 2);
  CHECK(found[0]->name() == "conv2d_tensorcore");
  CHECK(found[1]->name() == "conv2d_wgmma");
  auto nhwc_dw = typed(shape(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 16), task::DataType::f16);
  nhwc_dw.layout = task::Layout::nhwc;
  std::set<std::string> dw_templates;
  for (const auto* t : codegen::templates_for(nhwc_dw, {}, false, 90))
    dw_templates.insert(t->name());
  CHECK(dw_templates ==
        std::set<std::string>{"conv2d_depthwise", "conv2d_tensorcore", "conv2d_wgmma"});
  // The layout conversion: data element (n, c, h, w) lands at ((n*H + h)*W + w)*C + c.
  std::vector<float> data(size_t(wl.input_elems()));
  for (size_t i = 0; i < data.size(); ++i) data[i] = float(i);
  const auto moved = measure::to_task_layout(wl, measure::Tensor::Data, data);
  CHECK(moved[size_t(((0 * 8 + 2) * 8 + 3) * 16 + 5)] == float((5 * 8 + 2) * 8 + 3));
  CHECK(measure::to_task_layout(nchw, measure::Tensor::Data, data) == data);
  // Tasks of an NHWC network say so; the network file may ask for it.
  task::ExtractOptions o;
  o.dtype = task::DataType::f16;
  o.layout = task::Layout::nhwc;
  for (const auto& t : task::extract_tasks(shipped("resnet18"), o))
    CHECK(t.workload.layout == task::Layout::nhwc);
}

TEST_CASE("the emulator catches conv2d_tensorcore without its waits, barriers or bounds",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  const auto wl = typed(shape(1, 32, 9, 9, 32, 3, 3, 1, 1), task::DataType::f16);
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 3);
  for (int stages = 0; stages < 3; ++stages) {
    const auto cfg = sp.from_choices({0, 1, 1, 1, 1, 0, stages});
    INFO(sp.str(cfg));
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1) == 0);
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "cp_async_wait<PREFETCH - 1>();", "") > 0);
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "__syncthreads(); // this tile", "//") > 0);
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "if (next) store_input", "if (false) store_input") >
          0);
    if (stages > 0) continue; // what does not depend on the ring's depth, once
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "j_valid && unsigned(ih) < unsigned(H)",
                     "j_valid && unsigned(ih) <= unsigned(H)") > 0);
    // The fragments' layout: the input tile's ldmatrix without .trans is wrong.
    CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "ldmatrix_x4_trans(r4,", "ldmatrix_x4(r4,") > 0);
  }
}

TEST_CASE("conv2d_wgmma computes fp16 and bf16 conv2d on awkward shapes, NCHW and NHWC (host "
          "emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_wgmma");
  uint64_t seed = 110;
  for (const auto& wl : awkward()) {
    const auto t = seed % 2 == 0 ? task::DataType::f16 : task::DataType::bf16;
    check_random(tmpl, typed(wl, t), 1, seed++);
    auto nhwc = typed(wl, t == task::DataType::f16 ? task::DataType::bf16 : task::DataType::f16);
    nhwc.layout = task::Layout::nhwc;
    check_random(tmpl, nhwc, 1, seed++);
  }
}

TEST_CASE("conv2d_wgmma's tiles are exact for every N, ring depth and warpgroup layout, split and "
          "fused (host emulation)",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_wgmma");
  // GK = 7*9 = 63 (element-wise weight copies, a partial last tile), GM = 70, 2 images of 99
  // pixels; GK = 288 with 16-byte weight and NHWC tap copies; a fused chain with the workspace.
  const auto odd = typed(shape(2, 7, 11, 9, 70, 3, 3, 1, 1), task::DataType::f16);
  auto even = typed(shape(2, 32, 9, 9, 256, 3, 3, 1, 1), task::DataType::bf16);
  even.layout = task::Layout::nhwc;
  const auto fused = typed(shape(1, 48, 10, 10, 64, 3, 3, 1, 1), task::DataType::f16,
                           epi(true, true, task::Activation::relu));
  // Choices: tile_k, mma_m, wgmma_n, warpgroups_m, warpgroups_n, split_k; after the stages,
  // wgmma_pending.
  const std::vector<TileCase> cases = {
      {&odd, {0, 0, 0, 0, 0, 0}, "64x8 tile, one warpgroup", {0}},
      {&odd, {1, 1, 2, 0, 1, 0}, "128x64 tile, MI 2, two warpgroups along the pixels", {1}},
      {&odd, {0, 0, 4, 1, 0, 0}, "128x128 tile, two warpgroups along the channels", {1}},
      {&even, {2, 0, 5, 0, 0, 0}, "BK 64, N 256, NHWC tap copies", {0}},
      {&even, {0, 1, 3, 1, 1, 1}, "256x128 tile, 4 warpgroups, split 2, a multiply pending", {1}},
      {&fused, {0, 0, 1, 0, 1, 2}, "N 16, split 4 with the epilogue in the reduction", {0}},
      {&fused, {0, 0, 2, 0, 0, 0}, "N 32, one tile of multiplies pending", {1}},
  };
  check_tile_cases(tmpl, cases, 6);
}

TEST_CASE("the emulator catches conv2d_wgmma without its waits or barriers, or with a wrong "
          "descriptor or accumulator layout",
          "[emu][precision]") {
  const auto& tmpl = codegen::find_template("conv2d_wgmma");
  const auto wl = typed(shape(1, 32, 9, 9, 64, 3, 3, 1, 1), task::DataType::f16);
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 3);
  const auto cfg = sp.from_choices({0, 0, 3, 0, 1, 0, 1, 0}); // BK 16, 64x128, 3 stages
  INFO(sp.str(cfg));
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1) == 0);
  // Multiplies left in flight while the ring refills their stage.
  int64_t unwaited = 0;
  for (unsigned seed = 1; seed <= 3; ++seed)
    unwaited +=
        mismatches(tmpl, wl, sp, cfg, p, seed, "wgmma_wait<WGMMA_PENDING>(); // the stage", "//");
  CHECK(unwaited > 0);
  // A tile of multiplies pending: exact; wrong if the ring prefetches as far as without one (it
  // refills the stage still being read), or if the epilogue reads the accumulators unwaited.
  const auto pending = sp.from_choices({0, 0, 3, 0, 1, 0, 2, 1}); // 4 stages, one pending
  CHECK(mismatches(tmpl, wl, sp, pending, p, 1) == 0);
  int64_t overwritten = 0;
  for (unsigned seed = 1; seed <= 3; ++seed) {
    overwritten += mismatches(tmpl, wl, sp, pending, p, seed,
                              "PREFETCH = STAGES - 1 - WGMMA_PENDING", "PREFETCH = STAGES - 1");
  }
  CHECK(overwritten > 0);
  CHECK_THROWS_WITH(mismatches(tmpl, wl, sp, pending, p, 1,
                               "wgmma_wait<0>(); // the last multiplies are done", ""),
                    Catch::Contains("not waited for"));
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "cp_async_wait<PREFETCH - 1>();", "") > 0);
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "__syncthreads(); // this tile", "//") > 0);
  // The descriptors: the leading byte offset (along the reduction) and the stride byte offset
  // (wrong answers, or reads past the shared memory).
  auto caught = [&](const char* from, const char* to) {
    try {
      return mismatches(tmpl, wl, sp, cfg, p, 1, from, to) > 0;
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find("emulator:") != std::string::npos;
    }
  };
  CHECK(caught("(128ull >> 4) << 16", "(256ull >> 4) << 16"));
  CHECK(caught("(BK * 16 >> 4) << 32", "(BK * 8 >> 4) << 32"));
  // The accumulators' rows: 16 a warp of the warpgroup.
  CHECK(mismatches(tmpl, wl, sp, cfg, p, 1, "(warp % 4) * 16 + g", "(warp % 4) * 8 + g") > 0);
}

TEST_CASE("float16 and bfloat16 conversions round to nearest even", "[precision]") {
  auto f16 = [](float v) {
    std::vector<float> x = {v};
    measure::round_to(task::DataType::f16, x);
    return x[0];
  };
  auto bf16 = [](float v) {
    std::vector<float> x = {v};
    measure::round_to(task::DataType::bf16, x);
    return x[0];
  };
  CHECK(f16(1.0f) == 1.0f);
  CHECK(f16(1.0f + 1.0f / 4096) == 1.0f);               // below half an ulp
  CHECK(f16(1.0f + 3.0f / 2048) == 1.0f + 2.0f / 1024); // a tie, to even
  CHECK(f16(65520.0f) == std::numeric_limits<float>::infinity());
  CHECK(f16(65504.0f) == 65504.0f);
  CHECK(f16(1e-7f) == 5.9604644775390625e-08f * 2); // subnormal
  CHECK(f16(-2.5f) == -2.5f);
  CHECK(bf16(1.0f + 1.0f / 256) == 1.0f); // a tie, to even
  CHECK(bf16(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);
  CHECK(std::isnan(f16(std::nanf(""))));
  CHECK(std::isnan(bf16(std::nanf(""))));
  // Stored and read back bit for bit.
  const std::vector<float> v = {0.5f, -3.0f, 1.0f / 3};
  for (task::DataType t : {task::DataType::f32, task::DataType::f16, task::DataType::bf16}) {
    const auto bytes = measure::to_bytes(t, v);
    REQUIRE(bytes.size() == v.size() * size_t(task::dtype_bytes(t)));
    std::vector<float> rounded = v;
    measure::round_to(t, rounded);
    for (size_t i = 0; i < v.size(); ++i)
      CHECK(measure::from_bytes(t, &bytes[i * size_t(task::dtype_bytes(t))]) == rounded[i]);
  }
}

TEST_CASE("conv2d_tensorcore's configs compile with NVRTC for sm_80 and sm_90, fp16 and bf16, "
          "NCHW and NHWC, fused",
          "[precision][slow]") {
  const auto& tmpl = codegen::find_template("conv2d_tensorcore");
  task::ExtractOptions o;
  o.fuse = true;
  for (const char* name : {"a100", "h100"}) {
    const target::Target tgt = target::find_preset(name);
    measure::Builder builder(tgt, tgt.arch(), two_jobs());
    for (task::DataType t : {task::DataType::f16, task::DataType::bf16})
      for (task::Layout layout : {task::Layout::nchw, task::Layout::nhwc}) {
        o.dtype = t;
        o.layout = layout; // NHWC: the 16-byte tap copies, ldmatrix without .trans
        const int count = layout == task::Layout::nhwc ? 3 : 6;
        const auto tasks = task::extract_tasks(shipped("resnet18"), o);
        std::vector<space::ConfigSpace> spaces;
        for (const auto& task : tasks) spaces.push_back(tmpl.make_space(task.workload));
        Builds builds(builder);
        // Tasks 1 (C=3 stem: element-wise weight copies), 3 (bias+add+relu), 6 (1x1 stride 2).
        for (size_t i : {size_t(0), size_t(2), size_t(5)})
          builds.random(tmpl, tasks[i].workload, spaces[i], tgt, count, 17 + i, name);
        builds.check();
      }
  }
}

TEST_CASE("conv2d_winograd_tc's configs compile with NVRTC for sm_80 and sm_90, fp16 and bf16, "
          "fused",
          "[precision][slow]") {
  const auto& tmpl = codegen::find_template("conv2d_winograd_tc");
  task::ExtractOptions o;
  o.fuse = true;
  for (const char* name : {"a100", "h100"}) {
    const target::Target tgt = target::find_preset(name);
    measure::Builder builder(tgt, tgt.arch(), two_jobs());
    for (task::DataType t : {task::DataType::f16, task::DataType::bf16}) {
      o.dtype = t;
      const auto tasks = task::extract_tasks(shipped("resnet18"), o);
      std::vector<space::ConfigSpace> spaces;
      for (const auto& task : tasks) spaces.push_back(tmpl.make_space(task.workload));
      Builds builds(builder);
      // Two 3x3 stride-1 tasks: the first (bias+relu) and the last (512 channels, 7x7).
      std::vector<size_t> wino;
      for (size_t i = 0; i < tasks.size(); ++i)
        if (tmpl.decline_reason(tasks[i].workload).empty()) wino.push_back(i);
      REQUIRE(wino.size() >= 2);
      for (size_t i : {wino.front(), wino.back()})
        builds.random(tmpl, tasks[i].workload, spaces[i], tgt, 2, 31 + i, name);
      builds.check();
    }
  }
}

TEST_CASE("conv2d_wgmma's configs compile with NVRTC for sm_90a, fp16 and bf16, NCHW and NHWC, "
          "fused, and the static check keeps them to sm_90",
          "[precision][slow]") {
  const auto& tmpl = codegen::find_template("conv2d_wgmma");
  const target::Target h100 = target::find_preset("h100");
  measure::Builder builder(h100, h100.arch(), two_jobs());
  task::ExtractOptions o;
  o.fuse = true;
  Builds builds(builder);
  std::vector<space::ConfigSpace> spaces;
  spaces.reserve(8);
  std::vector<task::Conv2dWorkload> wls;
  for (task::DataType t : {task::DataType::f16, task::DataType::bf16})
    for (task::Layout layout : {task::Layout::nchw, task::Layout::nhwc}) {
      o.dtype = t;
      o.layout = layout;
      const auto tasks = task::extract_tasks(shipped("resnet18"), o);
      // Task 1 (C=3 stem: element-wise copies), 3 (bias+add+relu), 6 (1x1 stride 2).
      for (size_t i : {size_t(0), size_t(2), size_t(5)}) wls.push_back(tasks[i].workload);
    }
  for (size_t i = 0; i < wls.size(); ++i) spaces.push_back(tmpl.make_space(wls[i]));
  for (size_t i = 0; i < wls.size(); ++i)
    builds.random(tmpl, wls[i], spaces[i], h100, 2, 23 + i, "h100");
  // The largest instruction (m64n256k16: 128 accumulators a thread), on the 3x3 task.
  const auto big = spaces[1].from_choices({1, 0, 5, 0, 0, 0, 1, 1});
  REQUIRE(tmpl.features(wls[1], spaces[1], big).invalid.empty());
  builds.add(tmpl, wls[1], spaces[1], big, "h100");
  // The record names the target's arch; the cubin is sm_90a's.
  builds.check([](const measure::BuildResult& r) { CHECK(r.arch == "sm_90"); });
  // The source is not sm_90's: without the arch-specific variant ptxas refuses wgmma.
  const auto src = tmpl.render(wls[1], spaces[1], big);
  CHECK(src.arch_specific);
  const auto plain = cuda::nvrtc_compile(src.code, src.entry, "sm_90");
  CHECK_FALSE(plain.ok);
  CHECK_THAT(plain.log, Catch::Contains("wgmma"));
  CHECK(cuda::arch_specific("sm_90") == "sm_90a");
  CHECK(cuda::arch_specific("compute_90") == "compute_90a");
  CHECK(cuda::arch_specific("sm_90a") == "sm_90a");
  CHECK(cuda::arch_sm("sm_90a") == 90);
  CHECK(cuda::arch_sm("compute_90a") == 90);
  CHECK(cuda::arch_sm("sm_a") == 0);
  CHECK(cuda::arch_sm("sm_9x") == 0);
  // Nor does the static check pass it for an A100.
  CHECK_THAT(
      codegen::check_static(target::find_preset("a100"), tmpl.features(wls[1], spaces[1], big))
          .reason,
      Catch::Contains("needs sm_90 or newer"));
}

TEST_CASE("a task's memory on the GPU follows its type and epilogue", "[precision]") {
  const auto wl = shape(1, 64, 56, 56, 64, 3, 3, 1, 1);
  const int64_t in = wl.input_elems(), w = wl.weight_elems(), out = wl.output_elems();
  // float32: input, weights, output, reference.
  CHECK(measure::tensor_bytes(wl) == 4 * (in + w + 2 * out));
  // float16: those in 2 bytes, the reference and the reference's float32 inputs in 4.
  CHECK(measure::tensor_bytes(typed(wl, task::DataType::f16)) ==
        2 * (in + w + out) + 4 * out + 4 * (in + w));
  // A residual in the task's type, the convolution alone's reference, and for cuDNN's epilogue
  // the bias in the task's type and a zero residual.
  CHECK(measure::tensor_bytes(
            typed(wl, task::DataType::bf16, epi(true, true, task::Activation::relu))) ==
        2 * (in + w + out) + 4 * out + 4 * (in + w) + 2 * out + 4 * out + 2 * (wl.k + out));
}

TEST_CASE("verification tolerances fit the type and the reduction length", "[precision]") {
  const measure::MeasureOptions o;
  codegen::KernelFeatures f;
  const auto wl = shape(1, 512, 7, 7, 512, 3, 3, 1, 1); // a reduction of 4,608
  CHECK(measure::verification_options(o, f, wl).rtol == o.rtol);
  f.tf32 = true;
  CHECK(measure::verification_options(o, f, wl).rtol == measure::kTf32Tolerance);
  f.tf32 = false;
  const double sums = 4608.0 / 16777216.0;
  CHECK(measure::verification_options(o, f, typed(wl, task::DataType::f16)).rtol ==
        Approx(measure::kF16Tolerance + sums));
  CHECK(measure::verification_options(o, f, typed(wl, task::DataType::bf16)).atol ==
        Approx(measure::kBf16Tolerance + sums));
  // cuDNN in the task's type is held to the same.
  CHECK(measure::verification_options(o, false, typed(wl, task::DataType::f16)).rtol ==
        Approx(measure::kF16Tolerance + sums));
}
