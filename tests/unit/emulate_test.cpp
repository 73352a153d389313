// Every template, run on the host by the CUDA emulator (tests/emu) and compared with the exact
// conv2d: the index math, bounds checks, pipelines and split-K reductions of each template are
// verified on awkward shapes without a GPU. (The [gpu] tests verify the same on real hardware.)
#include <catch2/catch.hpp>

#include "../emu/emulator.hpp"
#include "problem.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/reference.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/task.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>

using namespace chameleon;

namespace {

std::string emu_cache() {
  return std::string(CHM_EMU_CACHE_DIR);
}

task::Conv2dWorkload shape(int n, int c, int h, int w, int k, int r, int s, int stride_h,
                           int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dil_h = 1, int dil_w = 1) {
  return testing::workload(n, c, h, w, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                           pad_right, dil_h, dil_w);
}

// Shapes no shipped network has: prime channel counts, odd and non-square sizes, stride 2 on odd
// sizes, dilation, asymmetric padding, non-square kernels, batch > 1, a pointwise layer whose
// pixels allow 16-byte copies and one whose pixels do not.
std::vector<task::Conv2dWorkload> awkward_shapes() {
  return {
      shape(1, 7, 11, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1),       // primes, non-square input
      shape(2, 5, 15, 15, 17, 3, 3, 2, 2, 1, 1, 1, 1),      // stride 2 on odd size, batch 2
      shape(1, 4, 12, 10, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2), // dilation 2
      shape(3, 16, 6, 6, 24, 1, 1, 1, 1, 0, 0, 0, 0),       // pointwise, batch 3 (16-byte copies)
      shape(1, 3, 7, 5, 11, 1, 1, 1, 1, 0, 0, 0, 0),        // pointwise, 35 pixels
      shape(1, 6, 9, 8, 10, 1, 7, 1, 1, 0, 3, 0, 3),        // 1x7 kernel
      shape(1, 8, 10, 10, 12, 3, 3, 2, 2, 0, 0, 1, 1),      // asymmetric (TF "SAME") padding
      shape(1, 3, 20, 18, 8, 7, 7, 2, 2, 3, 3, 3, 3),       // a stem layer, C=3
  };
}

task::Conv2dWorkload grouped(task::Conv2dWorkload wl, int groups) {
  wl.groups = groups;
  task::validate(wl);
  return wl;
}

// Grouped and depthwise shapes, which only the implicit GEMM templates take (one GEMM per group).
std::vector<task::Conv2dWorkload> grouped_shapes() {
  return {
      grouped(shape(2, 13, 9, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1), 13), // depthwise, prime, batch 2
      grouped(shape(1, 6, 15, 15, 12, 3, 3, 2, 2, 1, 1, 1, 1), 6),  // depthwise x2, stride 2 on odd
      grouped(shape(1, 12, 6, 6, 18, 1, 1, 1, 1, 0, 0, 0, 0),
              3), // grouped pointwise (16-byte copies)
      grouped(shape(1, 16, 12, 10, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 4), // grouped, dilation 2
      grouped(shape(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1),
              32), // ResNeXt-like, 2 channels a group
  };
}

// Depthwise shapes beyond grouped_shapes' two: what conv2d_depthwise's patch and tap indexing must
// get right.
std::vector<task::Conv2dWorkload> depthwise_shapes() {
  return {
      grouped(shape(1, 5, 13, 7, 5, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 5), // dilation 2, non-square
      grouped(shape(2, 3, 11, 9, 3, 5, 5, 2, 2, 2, 2, 2, 2), 3),       // 5x5 stride 2, batch 2
      grouped(shape(1, 7, 8, 10, 7, 3, 3, 2, 2, 0, 0, 1, 1), 7),       // asymmetric (TF "SAME")
      grouped(shape(1, 4, 9, 9, 12, 1, 7, 1, 1, 0, 3, 0, 3), 4),       // 1x7 kernel, multiplier 3
      grouped(shape(1, 17, 1, 1, 17, 3, 3, 1, 1, 1, 1, 1, 1), 17),     // a 1x1 plane
      shape(1, 1, 10, 12, 3, 3, 3, 1, 1, 1, 1, 1, 1),                  // one channel, groups 1
      grouped(shape(1, 40, 33, 31, 40, 3, 3, 1, 1, 1, 1, 1, 1), 40),   // more channels than a block
  };
}

using testing::Problem;

// Emulates the configs of the template on the workload, each compared with the exact conv2d.
void check_configs(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                   const space::ConfigSpace& sp, const std::vector<space::Config>& configs) {
  const Problem p(wl, 7);
  const double tol = testing::tolerance(tmpl, wl);
  for (const auto& cfg : configs) {
    const auto src = tmpl.render(wl, sp, cfg);
    const auto out =
        emu::run_kernel(src, wl, p.data, p.weight, unsigned(cfg.index), emu_cache(), &p.fused);
    const auto cmp = emu::compare(out, p.ref, tol, tol);
    INFO(tmpl.name() << " on " << wl.str() << ", " << sp.str(cfg) << ": " << cmp.bad << " of "
                     << out.size() << " wrong, first at " << cmp.first);
    CHECK(cmp.bad == 0);
  }
}

// Emulates `count` random valid configs of the template on the workload.
void check_template(const codegen::Template& tmpl, const task::Conv2dWorkload& wl, int count,
                    uint64_t seed) {
  const auto sp = tmpl.make_space(wl);
  std::mt19937_64 rng(seed);
  const auto configs =
      codegen::random_valid_configs(tmpl, wl, sp, target::find_preset("h100"), count, rng);
  REQUIRE(int(configs.size()) == count);
  check_configs(tmpl, wl, sp, configs);
}

// Mismatches of the config's kernel (1e-4) with every occurrence of `from` in its source replaced
// by `to`; `from` empty: as rendered.
int64_t mutated_mismatches(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                           const space::ConfigSpace& sp, const space::Config& cfg, const Problem& p,
                           const std::string& from, const std::string& to) {
  auto src = tmpl.render(wl, sp, cfg);
  if (!from.empty()) {
    size_t at = src.code.find(from);
    REQUIRE(at != std::string::npos);
    for (; at != std::string::npos; at = src.code.find(from, at + to.size()))
      src.code.replace(at, from.size(), to);
  }
  return emu::compare(emu::run_kernel(src, wl, p.data, p.weight, 1, emu_cache()), p.ref, 1e-4, 1e-4)
      .bad;
}

} // namespace

namespace {
void check_awkward_shapes(const std::string& name, int configs_per_shape) {
  const auto& tmpl = codegen::find_template(name);
  uint64_t seed = 1;
  for (const auto& wl : awkward_shapes()) {
    REQUIRE(tmpl.decline_reason(wl).empty());
    check_template(tmpl, wl, configs_per_shape, seed++);
  }
}
} // namespace

TEST_CASE("conv2d_direct computes conv2d exactly on awkward shapes (host emulation)", "[emu]") {
  check_awkward_shapes("conv2d_direct", 2);
}
TEST_CASE("conv2d_direct_splitk computes conv2d exactly on awkward shapes (host emulation)",
          "[emu]") {
  check_awkward_shapes("conv2d_direct_splitk", 2);
}
TEST_CASE("conv2d_implicit_gemm computes conv2d exactly on awkward shapes (host emulation)",
          "[emu]") {
  check_awkward_shapes("conv2d_implicit_gemm", 3);
}
TEST_CASE("conv2d_implicit_gemm_tf32 computes conv2d within TF32 tolerance on awkward shapes (host "
          "emulation)",
          "[emu]") {
  check_awkward_shapes("conv2d_implicit_gemm_tf32", 3);
}

TEST_CASE("the implicit GEMM templates compute ResNet-18's layers exactly (host emulation)",
          "[emu]") {
  const auto tasks = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json"));
  // The stem (7x7 stride 2, C=3), a 3x3 layer at 28x28, a 1x1 stride-2 layer and the 3x3 layer
  // at 7x7 with 512 channels.
  for (size_t i : {size_t(0), size_t(3), size_t(4), size_t(9)}) {
    REQUIRE(i < tasks.size());
    for (const char* name : {"conv2d_implicit_gemm", "conv2d_implicit_gemm_tf32"}) {
      check_template(codegen::find_template(name), tasks[i].workload, 1, 100 + i);
    }
  }
}

TEST_CASE("the emulator catches a pipeline without its waits or barriers", "[emu]") {
  const auto wl = shape(1, 16, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1);
  const auto& tmpl = codegen::find_template("conv2d_implicit_gemm");
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 3);
  // tile_k=8 thread_m=2 thread_n=4 lanes_n=8 warps_m=2 warps_n=2 split_k=1: 18 reduction tiles,
  // in a ring of 2, 3 and 4 stages, in both reduction orders.
  for (int choice = 0; choice < 6; ++choice) {
    const int stages = choice % 3, tap_major = choice / 3;
    const auto cfg = sp.from_choices({0, 1, 2, 3, 1, 1, 0, 0, stages, tap_major});
    INFO(sp.str(cfg));
    auto run = [&](const std::string& from, const std::string& to) {
      return mutated_mismatches(tmpl, wl, sp, cfg, p, from, to);
    };
    CHECK(run("", "") == 0);
    CHECK(run("cp_async_wait<STAGES - 2>();", "") > 0);
    CHECK(run("cp_async_wait<STAGES - 2>();", "cp_async_wait<STAGES - 1>();") > 0);
    CHECK(run("__syncthreads(); // the ring", "// the ring") > 0);
    // The rest does not depend on the ring's depth: checked with 2 stages, in both orders.
    if (stages != 0) continue;
    // The gather's bounds checks: one row or column too many reads a neighbour instead of a zero.
    CHECK(run("unsigned(ih) < unsigned(H)", "unsigned(ih) <= unsigned(H)") > 0);
    CHECK(run("unsigned(iw) < unsigned(W)", "unsigned(iw) <= unsigned(W)") > 0);
    // A misaligned 16-byte access is an error, as on the GPU.
    CHECK_THROWS_WITH(run("lds4(&a_tile[(wm0", "lds4(1 + &a_tile[(wm0"),
                      Catch::Contains("misaligned"));
    if (tap_major) {
      // The tap-major copies: a tile's channels one plane apart, its weights R*S apart, its tap.
      CHECK(run("src[i] + Offset(rr) * H * W", "src[i] + Offset(rr) * H * W + W") > 0);
      CHECK(run("(tid % A_PER_ROW) * (A_VEC ? 4 : TAP ? RS : 1)",
                "(tid % A_PER_ROW) * (A_VEC ? 4 : 1)") > 0);
      CHECK(run("const int r = tile_tap / S, s = tile_tap - r * S",
                "const int r = tile_tap % S, s = tile_tap / S") > 0);
    }
  }
}

TEST_CASE("the implicit GEMM's copies are exact at their corners in rings of 2 to 4 stages (host "
          "emulation)",
          "[emu]") {
  const auto& tmpl = codegen::find_template("conv2d_implicit_gemm");
  // GK = 63 (4-byte weight copies, no tile divides it), GM = 40, batch 2 with 198 pixels.
  const auto odd = shape(2, 7, 11, 9, 40, 3, 3, 1, 1, 1, 1, 1, 1);
  // GK = 144 and GM = 32: the tiles below divide both, so the copies' checks are compiled out.
  const auto even = shape(1, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1);
  // Pointwise over whole images with OH*OW % 4 == 0: 16-byte input copies; 240 pixels, GK = 40.
  const auto pointwise = shape(2, 40, 10, 12, 32, 1, 1, 1, 1, 0, 0, 0, 0);
  // Tap-major order needs tile_k to divide the channels: C = 32 (GK = 288), GM = 40, 198 pixels.
  const auto channels32 = shape(2, 32, 11, 9, 40, 3, 3, 1, 1, 1, 1, 1, 1);
  // ... and with stride 2, dilation 2 and asymmetric padding: taps that leave the image unevenly.
  const auto strided = shape(1, 16, 13, 10, 24, 3, 3, 2, 2, 2, 1, 1, 2, 2, 2);
  struct Case {
    const task::Conv2dWorkload* wl;
    std::vector<int> choice; // all knobs but stages and tap_major
    const char* what;
    bool tap_major = false;
  };
  const std::vector<Case> cases = {
      // 32 threads, a 1 x 256 block tile: 8 gather columns per thread, 8 weight copies for 32
      // threads.
      {&odd, {0, 0, 3, 5, 0, 0, 0, 0}, "1x256 tile, 8 gather columns a thread"},
      // 32 threads, a 32 x 1 tile: a thread's gather rows are 32 apart, beyond BK = 8.
      {&odd, {0, 0, 0, 0, 0, 0, 0, 0}, "32x1 tile, gather rows beyond the tile"},
      // 128 threads, a 16 x 64 tile with BK 16, split 2 (5 tiles a split), 16-byte weight copies.
      {&even, {1, 1, 2, 3, 1, 1, 1, 0}, "16x64 tile dividing the GEMM, split 2"},
      // 16-byte input copies: 2 slots a thread (the last 16 pixels beyond the GEMM), then rows
      // 32 apart with one copy per row.
      {&pointwise, {0, 0, 3, 5, 0, 0, 0, 0}, "pointwise 1x256 tile, 2 16-byte input copies a row"},
      {&pointwise, {0, 0, 2, 0, 0, 0, 0, 0}, "pointwise 32x4 tile, input rows beyond the tile"},
      // Tap-major: the same corners, each tile within one tap.
      {&channels32,
       {0, 0, 3, 5, 0, 0, 0, 0},
       "tap-major 1x256 tile, 8 gather columns a thread",
       true},
      {&channels32,
       {0, 0, 0, 0, 0, 0, 0, 0},
       "tap-major 32x1 tile, gather rows beyond the tile",
       true},
      {&channels32,
       {2, 2, 1, 2, 0, 0, 1, 1},
       "tap-major BK 32, 32x8 tile, split 2 with a workspace",
       true},
      {&even, {1, 1, 2, 3, 1, 1, 1, 0}, "tap-major 16x64 tile dividing the GEMM, split 2", true},
      {&strided,
       {1, 2, 1, 2, 0, 2, 0, 0},
       "tap-major 32x32 tile, stride 2, dilation 2, asymmetric padding",
       true},
  };
  for (const auto& c : cases) {
    const auto sp = tmpl.make_space(*c.wl);
    const Problem p(*c.wl, 5);
    for (int stages = 0; stages < 3; ++stages) {
      auto choice = c.choice;
      choice.push_back(stages);
      choice.push_back(c.tap_major ? 1 : 0);
      const auto cfg = sp.from_choices(choice);
      INFO(c.what << ": " << sp.str(cfg));
      REQUIRE(tmpl.features(*c.wl, sp, cfg).invalid.empty());
      CHECK(mutated_mismatches(tmpl, *c.wl, sp, cfg, p, "", "") == 0);
    }
  }
}

TEST_CASE("the emulator catches a kernel that writes outside its output", "[emu]") {
  // K=13 under a 16-row block tile: the last tile overhangs, and only the bounds check keeps its
  // extra rows from writing past the end of the output.
  const auto wl = shape(1, 16, 9, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1);
  const auto& tmpl = codegen::find_template("conv2d_implicit_gemm");
  const auto sp = tmpl.make_space(wl);
  const auto cfg = sp.from_choices({0, 1, 2, 3, 1, 1, 0, 0, 0, 0}); // a 16 x 32 block tile
  const Problem p(wl, 3);
  auto run = [&](const std::string& from, const std::string& to) {
    return mutated_mismatches(tmpl, wl, sp, cfg, p, from, to);
  };
  CHECK(run("", "") == 0);
  CHECK_THROWS_WITH(run("if (m < GM && p < GN)", "if (m <= GM && p < GN)"),
                    Catch::Contains("after out"));
  CHECK_THROWS_WITH(
      run("const int tid = threadIdx.x;",
          "const int tid = threadIdx.x; if (tid == 0) const_cast<float*>(data)[3] += 1.0f;"),
      Catch::Contains("changed its input data"));
}

namespace {
// Two split-K configs of each template with atomics and two with a workspace, emulated.
void check_split_k(const task::Conv2dWorkload& wl, const std::vector<const char*>& names) {
  const target::Target t = target::find_preset("h100");
  const Problem p(wl, 5);
  for (const char* name : names) {
    const auto& tmpl = codegen::find_template(name);
    const auto sp = tmpl.make_space(wl);
    for (bool workspace : {false, true}) {
      std::mt19937_64 rng(11);
      int found = 0;
      for (int draw = 0; draw < 200000 && found < 2; ++draw) {
        const auto cfg = sp.random(rng);
        const auto f = tmpl.features(wl, sp, cfg);
        if (f.split_k < 2 || (f.geometry.workspace_splits > 0) != workspace ||
            !codegen::check_static(t, f).ok) {
          continue;
        }
        ++found;
        CHECK(f.geometry.zero_output == !workspace);
        const auto src = tmpl.render(wl, sp, cfg);
        CHECK((src.code.find("splitk_reduce(") != std::string::npos) == workspace);
        const auto out = emu::run_kernel(src, wl, p.data, p.weight, 3, emu_cache());
        const double tol = tmpl.tf32() ? measure::kTf32Tolerance : 1e-4;
        const auto cmp = emu::compare(out, p.ref, tol, tol);
        INFO(name << " " << sp.str(cfg) << ": " << cmp.bad << " wrong, first at " << cmp.first);
        CHECK(cmp.bad == 0);
      }
      CHECK(found == 2);
    }
  }
}
} // namespace

TEST_CASE("split-K configs are exact with atomics and with a workspace and its reduction (host "
          "emulation)",
          "[emu]") {
  // Prime C and K, batch 2.
  check_split_k(shape(2, 37, 9, 7, 19, 3, 3, 1, 1, 1, 1, 1, 1),
                {"conv2d_direct_splitk", "conv2d_implicit_gemm", "conv2d_implicit_gemm_tf32"});
}

TEST_CASE(
    "the implicit GEMM templates compute grouped and depthwise conv2d exactly (host emulation)",
    "[emu]") {
  uint64_t seed = 300;
  for (const auto& wl : grouped_shapes()) {
    for (const char* name : {"conv2d_implicit_gemm", "conv2d_implicit_gemm_tf32"}) {
      const auto& tmpl = codegen::find_template(name);
      REQUIRE(tmpl.decline_reason(wl).empty());
      check_template(tmpl, wl, 3, seed++);
    }
    CHECK_FALSE(codegen::find_template("conv2d_direct").decline_reason(wl).empty());
  }
  // Each group's splits: the workspace slice is the split's, not blockIdx.z's.
  check_split_k(grouped(shape(2, 24, 7, 5, 12, 3, 3, 1, 1, 1, 1, 1, 1), 2),
                {"conv2d_implicit_gemm", "conv2d_implicit_gemm_tf32"});
}

TEST_CASE("conv2d_depthwise computes depthwise conv2d exactly (host emulation)", "[emu]") {
  const auto& tmpl = codegen::find_template("conv2d_depthwise");
  uint64_t seed = 500;
  std::vector<task::Conv2dWorkload> shapes;
  for (const auto& wl : grouped_shapes()) {
    if (wl.c == wl.groups) shapes.push_back(wl); // its depthwise ones
  }
  for (const auto& wl : depthwise_shapes()) shapes.push_back(wl);
  for (const auto& wl : shapes) {
    REQUIRE(tmpl.decline_reason(wl).empty());
    check_template(tmpl, wl, 4, seed++);
  }
  // MobileNetV2's depthwise layers at 14x14 (stride 2) and 7x7.
  const auto tasks = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/mobilenet_v2.json"));
  for (size_t i : {size_t(23), size_t(26)}) {
    REQUIRE(i < tasks.size());
    check_template(tmpl, tasks[i].workload, 1, 600 + i);
  }
  // The emulator sees a wrong input channel (multiplier 3), a missing barrier and an edge
  // without its bounds check.
  const auto wl = depthwise_shapes()[3];
  const auto sp = tmpl.make_space(wl);
  std::mt19937_64 rng(9);
  const auto cfg =
      codegen::random_valid_configs(tmpl, wl, sp, target::find_preset("h100"), 1, rng).at(0);
  const Problem p(wl, 3);
  auto run = [&](const std::string& from, const std::string& to) {
    return mutated_mismatches(tmpl, wl, sp, cfg, p, from, to);
  };
  CHECK(run("", "") == 0);
  CHECK(run("C + k / M)", "C + k % C)") > 0);
  CHECK(run("__syncthreads();", "") > 0);
  CHECK_THROWS_WITH(run("if (oh < OH && ow < OW)", "if (oh <= OH && ow < OW)"),
                    Catch::Contains("after out"));
  // Grouped convolutions with several input channels a group are the implicit GEMM's.
  CHECK_THAT(tmpl.decline_reason(grouped(shape(1, 12, 6, 6, 18, 1, 1, 1, 1, 0, 0, 0, 0), 3)),
             Catch::Contains("not a depthwise convolution (4 input channels per group)"));
  CHECK_THAT(tmpl.decline_reason(shape(1, 7, 11, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1)),
             Catch::Contains("not a depthwise convolution"));
}

// Long (tens of minutes on 2 cores): run by hand with `chameleon_unit_tests "[.emu-all]"`; the
// result is recorded in docs/benchmark-history.md. One random valid config of every template that
// has not been verified on a GPU yet, on every task of every shipped network (CHM_EMU_NETS, e.g.
// "mobilenet_v2,alexnet", picks some; a path, e.g. "/tmp/odd.json", takes any network file).
TEST_CASE("every task of every shipped network, new templates (host emulation)", "[.emu-all]") {
  std::vector<std::string> nets = {"resnet18",     "vgg16",    "alexnet",
                                   "inception_v3", "resnet50", "mobilenet_v2"};
  if (const char* pick = std::getenv("CHM_EMU_NETS"); pick != nullptr && *pick != 0) {
    nets.clear();
    std::istringstream names(pick);
    for (std::string name; std::getline(names, name, ',');) nets.push_back(name);
  }
  // CHM_EMU_TEMPLATES=a,b: only those templates; CHM_EMU_CONFIGS=N: N random configs each (1).
  std::string only;
  if (const char* pick = std::getenv("CHM_EMU_TEMPLATES"); pick != nullptr)
    only = "," + std::string(pick) + ",";
  int configs = 1;
  if (const char* n = std::getenv("CHM_EMU_CONFIGS"); n != nullptr && *n != 0)
    configs = std::max(1, std::atoi(n));
  for (const std::string& net : nets) {
    // A shipped network's name, or the path of any network file.
    const bool path = net.find('/') != std::string::npos || net.find(".json") != std::string::npos;
    // CHM_EMU_PRECISION=fp16|bf16: tasks of that type; CHM_EMU_FUSE=1: with fused epilogues;
    // CHM_EMU_LAYOUT=nhwc: channels last.
    task::ExtractOptions extract;
    if (const char* p = std::getenv("CHM_EMU_PRECISION"); p != nullptr && *p != 0)
      extract.dtype = task::dtype_from_text(p);
    if (const char* l = std::getenv("CHM_EMU_LAYOUT"); l != nullptr && *l != 0)
      extract.layout = task::layout_from_text(l);
    extract.fuse = std::getenv("CHM_EMU_FUSE") != nullptr;
    const auto tasks = task::extract_tasks(
        network::load_network(
            path ? net : std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + net + ".json"),
        extract);
    for (const auto& t : tasks) {
      for (const codegen::Template* tmpl : codegen::templates_for(t.workload, {}, true)) {
        if (tmpl->name() == "conv2d_direct")
          continue; // verified on a GPU (docs/benchmark-history.md)
        if (only.size() > 2 && only.find("," + tmpl->name() + ",") == std::string::npos) continue;
        const auto start = std::chrono::steady_clock::now();
        check_template(*tmpl, t.workload, configs, 7000 + uint64_t(t.index));
        std::printf(
            "[emu] %s task %d %s: %.1f s\n", net.c_str(), t.index, tmpl->name().c_str(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::fflush(stdout);
      }
    }
  }
}

// By hand, to look into one config that a GPU run flagged:
//   CHM_EMU_NET=resnet18 CHM_EMU_TASK=6 CHM_EMU_TEMPLATE=conv2d_implicit_gemm CHM_EMU_CONFIG=9382
//   chameleon_unit_tests "[.emu-one]"
TEST_CASE("one config of one task, named by the environment (host emulation)", "[.emu-one]") {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr) FAIL("set " << name);
    return std::string(v);
  };
  const auto tasks = task::extract_tasks(network::load_network(
      std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + env("CHM_EMU_NET") + ".json"));
  const auto& t = tasks.at(size_t(std::stoi(env("CHM_EMU_TASK")) - 1));
  const auto& tmpl = codegen::find_template(env("CHM_EMU_TEMPLATE"));
  const auto sp = tmpl.make_space(t.workload);
  const auto cfg = sp.get(std::stoll(env("CHM_EMU_CONFIG")));
  const Problem p(t.workload, 7);
  const double tol = testing::tolerance(tmpl, t.workload);
  for (unsigned seed : {1u, 2u, 3u}) {
    const auto out = emu::run_kernel(tmpl.render(t.workload, sp, cfg), t.workload, p.data, p.weight,
                                     seed, emu_cache(), &p.fused);
    const auto cmp = emu::compare(out, p.ref, tol, tol);
    INFO(tmpl.name() << " on " << t.workload.str() << ", " << sp.str(cfg) << ", schedule seed "
                     << seed << ": " << cmp.bad << " of " << out.size() << " wrong, first at "
                     << cmp.first);
    CHECK(cmp.bad == 0);
  }
}

namespace {
// 3x3 stride-1 shapes, the only ones conv2d_winograd takes, with what its 2x2 output tiles and
// 4x4 input patches must get right: odd output sizes (a tile cut at the edge), no padding, wider
// and asymmetric padding, prime channel counts, more channels than a slice, batch > 1, a 1x1 and
// a 1xN output plane, C=3.
std::vector<task::Conv2dWorkload> winograd_shapes() {
  return {
      shape(1, 7, 11, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1),  // primes, non-square, odd output
      shape(2, 37, 9, 7, 19, 3, 3, 1, 1, 1, 1, 1, 1),  // batch 2, channels over two slices
      shape(1, 5, 10, 13, 6, 3, 3, 1, 1, 0, 0, 0, 0),  // no padding: 8x11 output
      shape(3, 4, 6, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2),    // padding 2: a bigger output, batch 3
      shape(1, 8, 10, 10, 12, 3, 3, 1, 1, 0, 0, 1, 1), // asymmetric (TF "SAME") padding
      shape(1, 3, 17, 17, 8, 3, 3, 1, 1, 1, 1, 1, 1),  // C=3, as VGG-16's first layer
      shape(1, 11, 1, 1, 9, 3, 3, 1, 1, 1, 1, 1, 1),   // a 1x1 plane
      shape(2, 16, 3, 12, 16, 3, 3, 1, 1, 1, 0, 1, 0), // 3x10 output, padding on rows only
  };
}
} // namespace

namespace {
// `count` random valid configs of each output tile size of conv2d_winograd, emulated.
void check_winograd(const task::Conv2dWorkload& wl, int count, uint64_t seed) {
  const auto& tmpl = codegen::find_template("conv2d_winograd");
  REQUIRE(tmpl.decline_reason(wl).empty());
  const auto sp = tmpl.make_space(wl);
  std::mt19937_64 rng(seed);
  const auto pool =
      codegen::random_valid_configs(tmpl, wl, sp, target::find_preset("h100"), 200, rng);
  for (int tile : {2, 4}) {
    std::vector<space::Config> picked;
    for (const auto& c : pool) {
      if (sp.value(c, 0)[0] == tile && int(picked.size()) < count) picked.push_back(c);
    }
    REQUIRE(int(picked.size()) == count);
    check_configs(tmpl, wl, sp, picked);
  }
}
} // namespace

TEST_CASE("conv2d_winograd computes 3x3 stride-1 conv2d exactly (host emulation)", "[emu]") {
  // One config of each tile size a shape (they verified on every shipped network's layers on an
  // H200; the float16 and tensor-core variants share this source and have tests of their own).
  uint64_t seed = 800;
  for (const auto& wl : winograd_shapes()) check_winograd(wl, 1, seed++);
  // ResNet-18's 3x3 layers at 28x28 and at 7x7 with 512 channels, at full size.
  const auto tasks = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json"));
  for (size_t i : {size_t(3), size_t(9)}) {
    REQUIRE(i < tasks.size());
    check_winograd(tasks[i].workload, 1, 900 + i);
  }
  check_split_k(winograd_shapes()[1], {"conv2d_winograd"});
}

TEST_CASE("the emulator catches a wrong Winograd transform, slice or tile edge", "[emu]") {
  const auto& tmpl = codegen::find_template("conv2d_winograd");
  const auto wl = winograd_shapes()[1]; // 37 channels: slices with and without the channel check
  const auto sp = tmpl.make_space(wl);
  const Problem p(wl, 3);
  // F(2x2): tile_k 8, a 4x4 thread tile, 2x4 lanes a component: 16 x 8 threads, 8 channels x 16
  // tiles. F(4x4): tile_k 8, 4x4, 2x2 lanes: 36 x 4 threads, 8 channels x 8 tiles.
  for (int tile : {2, 4}) {
    const auto cfg = sp.from_choices({tile == 2 ? 0 : 1, 1, 2, 2, 1, tile == 2 ? 2 : 1, 0, 0});
    INFO("F(" << tile << "x" << tile << ", 3x3): " << sp.str(cfg));
    auto run = [&](const std::string& from, const std::string& to) {
      return mutated_mismatches(tmpl, wl, sp, cfg, p, from, to);
    };
    CHECK(run("", "") == 0);
    if (tile == 2) {
      CHECK(run("y[2 * Stride] = x[2 * Stride] - x[1 * Stride];",
                "y[2 * Stride] = x[1 * Stride] - x[2 * Stride];") > 0);
      CHECK(run("y[1 * Stride] = m[1 * Stride] - m[2 * Stride] - m[3 * Stride];",
                "y[1 * Stride] = m[1 * Stride] - m[2 * Stride] + m[3 * Stride];") > 0);
    } else {
      CHECK(run("y[3 * Stride] = fmaf(2.0f, f, e);", "y[3 * Stride] = fmaf(-2.0f, f, e);") > 0);
      CHECK(run("y[3 * Stride] = fmaf(2.0f, g[1 * Stride], far);",
                "y[3 * Stride] = fmaf(4.0f, g[1 * Stride], far);") > 0);
      CHECK(run("y[3 * Stride] = fmaf(8.0f, d, b) + m[5 * Stride];",
                "y[3 * Stride] = fmaf(8.0f, d, b);") > 0);
    }
    CHECK(run("y[1 * Stride] = outer + g[1 * Stride];", "y[1 * Stride] = outer - g[1 * Stride];") >
          0);
    CHECK(run(" * unscale(q / ALPHA, q % ALPHA);", ";") > 0);
    CHECK(run("(slice_begin + s + 1) * BK", "(slice_begin + s) * BK") > 0);
    CHECK(run("store_slice(sl, next, next + NC * U_PLANE, tid);\n    __syncthreads();",
              "store_slice(sl, next, next + NC * U_PLANE, tid);") > 0);
    CHECK(run("unsigned(iw + x) < unsigned(W)", "unsigned(iw + x) <= unsigned(W)") > 0);
    CHECK(run("unsigned(ih + y) < unsigned(H)", "unsigned(ih + y) < unsigned(H + 1)") > 0);
    CHECK_THROWS_WITH(run("if (oh < OH && ow < OW)", "if (oh <= OH && ow < OW)"),
                      Catch::Contains("after out"));
  }
  // Block tiles whose sums do not fit the stages' shared memory at once: the output transform
  // takes them in passes of thread-rows (F(2x2): 64x64 tiles of 1024 threads at tile_k 4, 4
  // passes of 2 rows; F(4x4): 32x32 of 576 threads, 2 passes of 4 rows).
  const auto wide = shape(1, 8, 18, 18, 40, 3, 3, 1, 1, 1, 1, 1, 1);
  const auto wide_sp = tmpl.make_space(wide);
  const Problem wide_p(wide, 5);
  for (int tile : {2, 4}) {
    const int lanes = tile == 2 ? 3 : 2; // 8x8 or 4x4 lanes
    const auto cfg = wide_sp.from_choices({tile == 2 ? 0 : 1, 0, 3, 3, lanes, lanes, 0, 0});
    INFO("F(" << tile << "x" << tile << ", 3x3): " << wide_sp.str(cfg));
    REQUIRE(
        codegen::check_static(target::find_preset("h100"), tmpl.features(wide, wide_sp, cfg)).ok);
    auto run = [&](const std::string& from, const std::string& to) {
      return mutated_mismatches(tmpl, wide, wide_sp, cfg, wide_p, from, to);
    };
    CHECK(run("", "") == 0);
    CHECK(run("__syncthreads(); // before the next rows overwrite the components", "") > 0);
  }
}
