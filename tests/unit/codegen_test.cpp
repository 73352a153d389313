#include <catch2/catch.hpp>

#include "problem.hpp"

#include "../../lib/src/codegen/render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/reference.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/task.hpp"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include <random>

using namespace chameleon;

namespace {
std::vector<task::Task> resnet18() {
  return task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json"));
}

// Random configs that pass the static check for the target.
std::vector<space::Config> valid_configs(const codegen::Template& tmpl,
                                         const task::Conv2dWorkload& wl,
                                         const space::ConfigSpace& sp, const target::Target& t,
                                         int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto out = codegen::random_valid_configs(tmpl, wl, sp, t, count, rng);
  REQUIRE(int(out.size()) == count);
  return out;
}
// `per_task` random valid configs of the template on each of the tasks compile for sm_90 (seeds
// seed + task position).
void check_configs_compile(const codegen::Template& tmpl, const std::vector<task::Task>& tasks,
                           int per_task, uint64_t seed) {
  const auto h100 = target::find_preset("h100");
  measure::BuildOptions opts;
  opts.jobs = 2;
  opts.isolate = false;
  measure::Builder builder(h100, "sm_90", opts);
  std::vector<space::ConfigSpace> spaces;
  for (const auto& t : tasks) spaces.push_back(tmpl.make_space(t.workload));
  std::vector<std::future<measure::BuildResult>> futures;
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (const auto& c :
         valid_configs(tmpl, tasks[i].workload, spaces[i], h100, per_task, seed + i)) {
      futures.push_back(builder.submit({&tmpl, tasks[i].workload, &spaces[i], c}));
    }
  }
  for (auto& f : futures) {
    auto r = f.get();
    INFO(r.message);
    CHECK(r.ok());
  }
}
// The relocations in an ELF file's code sections (a cubin is one: 64-bit little-endian, as NVRTC
// writes it), by section: ptxas writes a .rela.text.<kernel> section for each kernel, empty or not.
std::vector<std::pair<std::string, uint64_t>> code_relocations(const std::string& elf) {
  auto read = [&](size_t at, size_t bytes) {
    uint64_t v = 0;
    REQUIRE(at + bytes <= elf.size());
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(elf[at + i])) << (8 * i);
    return v;
  };
  REQUIRE(elf.compare(0, 4,
                      "\x7f"
                      "ELF") == 0);
  const uint64_t shoff = read(0x28, 8), shentsize = read(0x3a, 2), shnum = read(0x3c, 2),
                 shstrndx = read(0x3e, 2);
  const uint64_t strtab = read(shoff + shstrndx * shentsize + 0x18, 8);
  std::vector<std::pair<std::string, uint64_t>> out;
  for (uint64_t i = 0; i < shnum; ++i) {
    const uint64_t header = shoff + i * shentsize;
    std::string name = elf.c_str() + strtab + read(header, 4);
    const uint64_t bytes = read(header + 0x20, 8), entry_bytes = read(header + 0x38, 8);
    if (name.rfind(".rela.text", 0) == 0 && entry_bytes > 0)
      out.emplace_back(name, bytes / entry_bytes);
  }
  return out;
}
} // namespace

TEST_CASE("ptxas reports are parsed", "[codegen]") {
  cuda::CompileOutput out;
  cuda::parse_ptxas_report(
      "ptxas info    : Function properties for k\n"
      "    16 bytes stack frame, 12 bytes spill stores, 8 bytes spill loads\n"
      "ptxas info    : Used 96 registers, used 1 barriers, 8036 bytes smem, 384 bytes cmem[0]\n",
      out);
  CHECK(out.resources.registers == 96);
  CHECK(out.resources.static_smem == 8036);
  // Two entries: the one asked for.
  const std::string two = "ptxas info    : Compiling entry function 'main_k' for 'sm_90'\n"
                          "ptxas info    : Used 77 registers, used 1 barriers, 380 bytes cmem[0]\n"
                          "ptxas info    : Compiling entry function 'splitk_reduce' for 'sm_90'\n"
                          "ptxas info    : Used 12 registers, 372 bytes cmem[0]\n";
  cuda::CompileOutput main_k, reduce;
  cuda::parse_ptxas_report(two, main_k, "main_k");
  cuda::parse_ptxas_report(two, reduce, "splitk_reduce");
  CHECK(main_k.resources.registers == 77);
  CHECK(reduce.resources.registers == 12);
  CHECK(out.resources.spill_stores == 12);
  CHECK(out.resources.spill_loads == 8);
  CHECK(out.resources.stack_frame == 16);
}

TEST_CASE("NVRTC arch support is reported plainly", "[codegen]") {
  auto archs = cuda::nvrtc_supported_archs();
  REQUIRE(!archs.empty());
  CHECK(cuda::nvrtc_arch_problem(archs.back()).empty());
  const std::string problem = cuda::nvrtc_arch_problem(archs.front() - 1);
  CHECK_THAT(problem, Catch::Contains("no NVRTC found here compiles for sm_" +
                                      std::to_string(archs.front() - 1)) &&
                          Catch::Contains("found NVRTC " + cuda::nvrtc_version()));
  CHECK(cuda::nvrtc_nearest_arch(1) == archs.front());
  // Every NVRTC found says where it is and what it compiles for; a target's is the newest that can.
  for (const cuda::NvrtcLibrary& l : cuda::nvrtc_libraries()) {
    INFO(l.path);
    CHECK(l.major >= 11);
    CHECK_FALSE(l.archs.empty());
    CHECK(cuda::nvrtc_for(l.archs.back()) != nullptr);
  }
  CHECK(cuda::nvrtc_version(90) == cuda::nvrtc_for(90)->version());
  CHECK(cuda::arch_sm("sm_90") == 90);
  CHECK(cuda::arch_sm("compute_61") == 61);
  CHECK(cuda::arch_sm("sm_") == 0);
  CHECK(cuda::arch_sm("90") == 0);
}

TEST_CASE("NVRTC is looked for where the toolkit and the wheels put it, CHAMELEON_NVRTC first",
          "[codegen]") {
  const char* before = std::getenv("CHAMELEON_NVRTC");
  const std::string saved = before ? before : "";
  ::setenv("CHAMELEON_NVRTC", "/opt/a:/opt/b/libnvrtc.so.12", 1);
  const auto paths = cuda::nvrtc_search_paths();
  if (before)
    ::setenv("CHAMELEON_NVRTC", saved.c_str(), 1);
  else
    ::unsetenv("CHAMELEON_NVRTC");
  REQUIRE(paths.size() >= 3);
  CHECK(paths[0] == "/opt/a");
  CHECK(paths[1] == "/opt/b/libnvrtc.so.12");
  CHECK(std::find(paths.begin(), paths.end(), "/usr/local/cuda/lib64") != paths.end());
}

TEST_CASE("the static check rejects what a GPU would refuse", "[codegen]") {
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto wl = resnet18()[1].workload; // 64->64 3x3 at 56
  auto sp = tmpl.make_space(wl);
  auto h100 = target::find_preset("h100");
  // Every split at its first choice: one thread per block, the whole problem in one block's
  // register tile... which is far too large.
  auto all_outer = sp.get(0);
  CHECK(codegen::check_static(h100, tmpl.features(wl, sp, all_outer)).ok);
  // tile_f = [1, 1, 64, 1], tile_y = [1, 1, 56, 1]: 3584 threads per block.
  int f = sp.knob_index("tile_f"), y = sp.knob_index("tile_y");
  auto choice = all_outer.choice;
  for (size_t i = 0; i < sp.knobs()[size_t(f)].choices.size(); ++i) {
    if (sp.knobs()[size_t(f)].choices[i] == std::vector<int>{1, 1, 64, 1})
      choice[size_t(f)] = int(i);
  }
  for (size_t i = 0; i < sp.knobs()[size_t(y)].choices.size(); ++i) {
    if (sp.knobs()[size_t(y)].choices[i] == std::vector<int>{1, 1, 56, 1})
      choice[size_t(y)] = int(i);
  }
  auto v = codegen::check_static(h100, tmpl.features(wl, sp, sp.from_choices(choice)));
  CHECK_FALSE(v.ok);
  CHECK(v.reason.find("threads per block") != std::string::npos);
}

TEST_CASE("the generated source carries the config and compiles", "[codegen]") {
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto wl = resnet18()[0].workload;
  auto sp = tmpl.make_space(wl);
  auto cfg = sp.get(43253325);
  auto src = tmpl.render(wl, sp, cfg);
  CHECK(src.entry == "conv2d_direct");
  CHECK(src.code.find("static constexpr int F2 = 8;") != std::string::npos);
  CHECK(src.geometry.grid == std::array<uint32_t, 3>{1, 112, 1});
  CHECK(src.geometry.block == std::array<uint32_t, 3>{16, 1, 8});
  auto out = cuda::nvrtc_compile(src.code, src.entry, "sm_90");
  INFO(out.log);
  REQUIRE(out.ok);
  CHECK(out.resources.registers > 0);
  CHECK(out.resources.static_smem == tmpl.features(wl, sp, cfg).static_smem);
}

TEST_CASE("the measurement worker's helper kernels compile, as the worker builds them",
          "[codegen]") {
  // The worker compiles these on the GPU host at start-up; a mistake would show only there.
  const std::string helpers = std::string(codegen::embedded_file("kernels/conv2d_reference.cu")) +
                              "\n" + std::string(codegen::embedded_file("kernels/verify.cu"));
  for (const char* arch : {"sm_75", "sm_90"}) {
    auto out = cuda::nvrtc_compile(helpers, "chameleon_helpers", arch);
    INFO(arch << ": " << out.log);
    REQUIRE(out.ok);
  }
}

TEST_CASE("8 random valid configs of every ResNet-18 task compile for sm_80, 8 others for sm_90",
          "[codegen][slow]") {
  // The source does not depend on the arch: each arch gets its own draw, so that the two cover
  // 16 configs a task for the compile time of 8 on both.
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto tasks = resnet18();
  uint64_t seed = 17;
  for (const char* name : {"a100", "h100"}) {
    auto tgt = target::find_preset(name);
    measure::BuildOptions opts;
    opts.jobs = 2;
    opts.isolate = false;
    measure::Builder builder(tgt, tgt.arch(), opts);
    std::vector<space::ConfigSpace> spaces;
    for (const auto& t : tasks) spaces.push_back(tmpl.make_space(t.workload));
    std::vector<std::future<measure::BuildResult>> futures;
    std::vector<std::string> labels;
    for (size_t i = 0; i < tasks.size(); ++i) {
      for (const auto& c : valid_configs(tmpl, tasks[i].workload, spaces[i], tgt, 8, seed++)) {
        futures.push_back(builder.submit({&tmpl, tasks[i].workload, &spaces[i], c}));
        labels.push_back(std::string(name) + " task " + std::to_string(tasks[i].index) +
                         " config " + std::to_string(c.index));
      }
    }
    for (size_t i = 0; i < futures.size(); ++i) {
      auto r = futures[i].get();
      INFO(labels[i] << ": " << r.message);
      CHECK(r.ok());
      CHECK(r.resources.registers > 0);
    }
  }
}

TEST_CASE("the CPU reference agrees with the definition of conv2d", "[reference]") {
  task::Conv2dWorkload wl;
  wl.n = 2;
  wl.c = 4;
  wl.h = 5;
  wl.w = 6;
  wl.k = 6;
  wl.r = 3;
  wl.s = 2;
  wl.stride_h = 2;
  wl.pad_top = 1;
  wl.pad_left = 0;
  wl.pad_bottom = 2;
  wl.pad_right = 1;
  wl.dilation_w = 2;
  wl.groups = 2;
  auto data = measure::make_tensor(1, measure::Tensor::Data, wl.input_elems());
  auto weight = measure::make_tensor(1, measure::Tensor::Weight, wl.weight_elems());
  auto out = measure::conv2d_cpu(wl, data, weight);
  REQUIRE(int64_t(out.size()) == wl.output_elems());
  // Direct definition: out[n,k,y,x] = sum over the group's channels and taps inside the input.
  auto at = [&](int n, int k, int y, int x) {
    double acc = 0;
    int cg = wl.c / wl.groups, g = k / (wl.k / wl.groups);
    for (int c = 0; c < cg; ++c)
      for (int r = 0; r < wl.r; ++r)
        for (int s = 0; s < wl.s; ++s) {
          int iy = y * wl.stride_h + r * wl.dilation_h - wl.pad_top;
          int ix = x * wl.stride_w + s * wl.dilation_w - wl.pad_left;
          if (iy >= 0 && iy < wl.h && ix >= 0 && ix < wl.w) {
            acc += double(data[size_t(((n * wl.c + g * cg + c) * wl.h + iy) * wl.w + ix)]) *
                   double(weight[size_t(((k * cg + c) * wl.r + r) * wl.s + s)]);
          }
        }
    return acc;
  };
  for (int n = 0; n < wl.n; ++n)
    for (int k = 0; k < wl.k; ++k)
      for (int y = 0; y < wl.out_h(); ++y)
        for (int x = 0; x < wl.out_w(); ++x) {
          CHECK(out[size_t(((n * wl.k + k) * wl.out_h() + y) * wl.out_w() + x)] ==
                Approx(at(n, k, y, x)).margin(1e-6));
        }
  // Inputs are deterministic and in [-1, 1).
  CHECK(measure::input_value(1, measure::Tensor::Data, 5) == data[5]);
  for (float v : data) CHECK((v >= -1.0f && v < 1.0f));
}

TEST_CASE("the split-K template: space, geometry, and random valid configs compile",
          "[codegen][slow]") {
  const auto& splitk = codegen::find_template("conv2d_direct_splitk");
  auto tasks = resnet18();
  // tile_rc splits C in three: [RC0, SPLIT_K, RC1].
  auto sp = splitk.make_space(tasks[9].workload); // C = 512 = 2^9: C(11, 2) = 55 splits
  CHECK(sp.knobs()[3].size() == 55);
  // ... and splitk_reduce (atomics or workspace) doubles the space.
  CHECK(sp.size() ==
        codegen::find_template("conv2d_direct").make_space(tasks[9].workload).size() / 10 * 55 * 2);
  std::mt19937_64 rng(4);
  for (int i = 0; i < 200; ++i) {
    auto c = sp.random(rng);
    auto f = splitk.features(tasks[9].workload, sp, c);
    const int split = sp.value(c, 3)[1];
    CHECK(f.split_k == split);
    const bool workspace = sp.value(c, 8)[0] == codegen::kReduceWorkspace;
    CHECK(f.geometry.zero_output == (split > 1 && !workspace));
    CHECK(f.geometry.workspace_splits == (split > 1 && workspace ? split : 0));
    CHECK(int64_t(f.geometry.grid[2]) == int64_t(sp.value(c, 0)[0]) * split);
    // Without a split the workspace variant is the atomic one's kernel: a duplicate, not measured
    // twice.
    CHECK((split == 1 && workspace) == (f.duplicate.find("splitk_reduce 1 without a split") == 0));
    // unroll_explicit only matters for unrolled loops (the split's reason comes first).
    if (split == 1 && workspace) continue;
    if (f.unrolled_loops == 0 && f.unroll_explicit)
      CHECK_THAT(f.duplicate, Catch::Contains("unroll_explicit 1 with no"));
    if (f.unrolled_loops > 0 || !f.unroll_explicit) CHECK(f.duplicate.empty());
  }
  check_configs_compile(splitk, tasks, 8, 70);
}

TEST_CASE("the depthwise template: space, limits, geometry, and MobileNetV2's layers compile",
          "[codegen]") {
  const auto& dw = codegen::find_template("conv2d_depthwise");
  const auto tasks = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/mobilenet_v2.json"));
  // Task 2: 32 channels of 112x112, 3x3, groups 32. Depthwise tasks get it first.
  const auto& wl = tasks[1].workload;
  REQUIRE(dw.decline_reason(wl).empty());
  CHECK(codegen::template_for(wl)->name() == "conv2d_depthwise");
  CHECK_FALSE(dw.decline_reason(tasks[0].workload).empty()); // the stem is no depthwise layer
  const auto sp = dw.make_space(wl);
  CHECK(sp.size() == 2700);
  // tile_h 8, tile_w 32, thread_h 2, thread_w 4, 4 channels, interleave 1: 4 x 8 x 4 threads.
  const auto c = sp.from_choices({3, 3, 1, 2, 2, 1});
  const auto f = dw.features(wl, sp, c);
  CHECK(f.invalid.empty());
  CHECK(f.geometry.block == std::array<uint32_t, 3>{128, 1, 1});
  CHECK(f.geometry.grid == std::array<uint32_t, 3>{14 * 4, 8, 1});
  CHECK(f.static_smem == 4 * 4 * (10 * 34 + 9));
  CHECK(f.accumulators == 8);
  // The template's own limits.
  CHECK_THAT(dw.features(wl, sp, sp.from_choices({0, 0, 1, 0, 4, 0})).invalid,
             Catch::Contains("exceeds the block tile"));
  CHECK_THAT(dw.features(wl, sp, sp.from_choices({0, 0, 0, 0, 1, 0})).invalid,
             Catch::Contains("fewer than a warp"));
  CHECK_THAT(dw.features(wl, sp, sp.from_choices({3, 3, 0, 0, 1, 1})).invalid,
             Catch::Contains("interleave"));
  CHECK_THAT(dw.features(tasks[26].workload, sp, sp.from_choices({4, 0, 0, 0, 4, 0})).invalid,
             Catch::Contains("for a 7x7 plane"));
  auto two = tasks[1].workload; // 2 channels: a block of 4 would leave half of it idle
  two.c = two.k = two.groups = 2;
  CHECK_THAT(dw.features(two, sp, sp.from_choices({3, 3, 0, 0, 2, 0})).invalid,
             Catch::Contains("4 channels per block for 2 channels"));
  task::Conv2dWorkload many; // 70,000 images: beyond the grid's z
  many.n = 70000, many.c = many.k = 1, many.h = many.w = 8, many.r = many.s = 3;
  many.pad_top = many.pad_left = many.pad_bottom = many.pad_right = 1;
  task::validate(many);
  REQUIRE(dw.decline_reason(many).empty());
  CHECK_THAT(dw.features(many, sp, sp.from_choices({3, 1, 0, 0, 0, 0})).invalid,
             Catch::Contains("exceeds 65535 in y or z"));
  // Four random valid configs of every depthwise task compile.
  std::vector<task::Task> depthwise;
  for (const auto& t : tasks) {
    if (dw.decline_reason(t.workload).empty()) depthwise.push_back(t);
  }
  CHECK(depthwise.size() == 10);
  check_configs_compile(dw, depthwise, 4, 90);
}

TEST_CASE(
    "the Winograd template: what it takes, space, limits, geometry, and VGG-16's layers compile",
    "[codegen]") {
  const auto& wino = codegen::find_template("conv2d_winograd");
  const auto tasks = resnet18();
  auto wl = tasks[3].workload; // C128 28x28 K128 3x3 s1 p1
  REQUIRE(wino.decline_reason(wl).empty());
  CHECK_THAT(wino.decline_reason(tasks[4].workload),
             Catch::Contains("needs a 3x3 kernel, not 1x1"));
  CHECK_THAT(wino.decline_reason(tasks[2].workload), Catch::Contains("needs stride 1"));
  auto dilated = wl;
  dilated.dilation_h = dilated.dilation_w = 2;
  CHECK_THAT(wino.decline_reason(dilated), Catch::Contains("needs dilation 1"));
  auto grouped = wl;
  grouped.groups = 2;
  CHECK_THAT(wino.decline_reason(grouped), Catch::Contains("grouped"));
  const auto sp = wino.make_space(wl);
  CHECK(sp.size() == 18432);
  // F(2x2), tile_k 8, a 4x4 thread tile, 2x4 lanes a component: 16 x 8 threads, 8 channels x 16
  // tiles.
  auto f = wino.features(wl, sp, sp.from_choices({0, 1, 2, 2, 1, 2, 0, 0}));
  CHECK(f.invalid.empty());
  CHECK(f.geometry.block == std::array<uint32_t, 3>{128, 1, 1});
  CHECK(f.geometry.grid == std::array<uint32_t, 3>{13, 16, 1}); // 14x14 tiles of 2x2 outputs
  CHECK(f.geometry.dynamic_smem == 4 * 2 * 16 * ((8 * 12 + 4) + (8 * 16 + 4)));
  CHECK(f.accumulators == 16);
  CHECK(f.reduction_steps == 16);
  CHECK(f.fma_per_thread == 16 * 16 * 8);
  CHECK_FALSE(f.geometry.zero_output);
  // Split-K: atomics into a zeroed output, or a workspace and its reduction.
  f = wino.features(wl, sp, sp.from_choices({0, 1, 2, 2, 1, 2, 2, 0}));
  CHECK(f.geometry.grid[2] == 4);
  CHECK(f.geometry.zero_output);
  CHECK(f.reduction_steps == 4);
  f = wino.features(wl, sp, sp.from_choices({0, 1, 2, 2, 1, 2, 2, 1}));
  CHECK(f.geometry.workspace_splits == 4);
  CHECK_THAT(wino.features(wl, sp, sp.from_choices({0, 1, 2, 2, 1, 2, 0, 1})).duplicate,
             Catch::Contains("splitk_reduce 1 without a split"));
  // The template's own limits.
  CHECK_THAT(wino.features(wl, sp, sp.from_choices({0, 1, 2, 2, 0, 0, 0, 0})).invalid,
             Catch::Contains("fewer than a warp"));
  CHECK_THAT(wino.features(wl, sp, sp.from_choices({0, 2, 2, 2, 1, 2, 5, 0})).invalid,
             Catch::Contains("split_k 32 leaves a split without channel slices (8 slices of 16)"));
  auto narrow = wl; // 13 output channels: a 32-channel block tile is far beyond them
  narrow.k = 13;
  CHECK_THAT(wino.features(narrow, sp, sp.from_choices({0, 1, 3, 2, 2, 1, 0, 0})).invalid,
             Catch::Contains("block tile of 32 output channels for 13 channels"));
  auto point = wl; // a 1x1 plane: one tile
  point.h = point.w = 1;
  CHECK_THAT(wino.features(point, sp, sp.from_choices({0, 1, 2, 1, 1, 3, 0, 0})).invalid,
             Catch::Contains("block tile of 16 output tiles for 1 tiles"));
  // F(4x4): 36 components of 4x4 outputs; 2x2 lanes: 144 threads, 6x6 patches; 7x7 tiles.
  f = wino.features(wl, sp, sp.from_choices({1, 1, 2, 2, 1, 1, 0, 0}));
  CHECK(f.invalid.empty());
  CHECK(f.geometry.block == std::array<uint32_t, 3>{144, 1, 1});
  CHECK(f.geometry.grid == std::array<uint32_t, 3>{7, 16, 1}); // 49 tiles in groups of 8
  CHECK(f.geometry.dynamic_smem == 4 * 2 * 36 * ((8 * 12 + 4) + (8 * 8 + 4)));
  CHECK_FALSE(
      codegen::check_static(target::find_preset("h100"),
                            wino.features(wl, sp, sp.from_choices({1, 1, 2, 2, 3, 3, 0, 0})))
          .ok); // 2304 threads
  // VGG-16's layers, all 3x3 stride 1: two random valid configs of each compile.
  const auto vgg = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/vgg16.json"));
  for (const auto& t : vgg) CHECK(wino.decline_reason(t.workload).empty());
  check_configs_compile(wino, vgg, 3, 120);
}

// Seen on an H200: every conv2d_winograd config with its split-K reduction in the module failed
// (illegal instruction or address): ptxas resolved the kernel's shared-memory addresses against a
// device variable the template had named SMEM, through relocations in the kernel's code. A kernel
// of ours has no reason to need its code relocated, in a module of one kernel or two.
TEST_CASE("no template's kernel code is left to relocate, the split-K reduction's module included",
          "[codegen]") {
  const auto h100 = target::find_preset("h100");
  // C128 28x28 K128 3x3, which every template but the depthwise one takes, and a depthwise layer.
  const auto mobilenet = task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/mobilenet_v2.json"));
  const std::vector<task::Conv2dWorkload> shapes = {resnet18()[3].workload, mobilenet[1].workload};
  REQUIRE(shapes[1].groups == shapes[1].c);
  int modules = 0;
  for (const codegen::Template* tmpl : codegen::templates()) {
    auto wl = shapes[0];
    if (!tmpl->takes(wl.dtype)) wl.dtype = task::DataType::f16; // the tensor-core template
    if (!tmpl->decline_reason(wl).empty()) wl = shapes[1];
    INFO(tmpl->name());
    REQUIRE(tmpl->decline_reason(wl).empty());
    const auto sp = tmpl->make_space(wl);
    // The two-kernel modules: a split with a workspace (conv2d_tensorcore's every split).
    const int workspaces =
        sp.knob_index("splitk_reduce") >= 0 || sp.knob_index("split_k") >= 0 ? 2 : 0;
    std::mt19937_64 rng(41);
    int plain = 0, workspace = 0;
    for (int draw = 0; draw < 200000 && (plain < 1 || workspace < workspaces); ++draw) {
      const auto c = sp.random(rng);
      const auto f = tmpl->features(wl, sp, c);
      if (!f.invalid.empty() || !f.duplicate.empty() || !codegen::check_static(h100, f).ok)
        continue;
      const bool two_kernels = f.geometry.workspace_splits > 0;
      int& drawn = two_kernels ? workspace : plain;
      if (drawn >= (two_kernels ? workspaces : 1)) continue;
      ++drawn;
      const auto src = tmpl->render(wl, sp, c);
      const auto out = cuda::nvrtc_compile(
          src.code, src.entry, src.arch_specific ? cuda::arch_specific("sm_90") : "sm_90");
      INFO(tmpl->name() << " config " << c.index << ": " << out.log);
      REQUIRE(out.ok);
      const auto relocations = code_relocations(out.cubin);
      // At most one section per kernel (ptxas may leave out an empty one).
      CHECK(relocations.size() >= 1u);
      CHECK(relocations.size() <= (two_kernels ? 2u : 1u));
      for (const auto& [section, entries] : relocations) {
        INFO(section);
        CHECK(entries == 0);
      }
      ++modules;
    }
    CHECK(plain == 1);
    CHECK(workspace == workspaces);
  }
  CHECK(modules >= 17); // seven templates, five with a workspace reduction
}

TEST_CASE("the implicit GEMM marks duplicate reductions and rules out rings deeper than its tiles",
          "[codegen]") {
  const auto& gemm = codegen::find_template("conv2d_implicit_gemm");
  const auto wl = resnet18()[4].workload; // 1x1, C64: GK = 64, 4 tiles of 16
  const auto sp = gemm.make_space(wl);
  // tile_k 16, 4x4 threads, 8 lanes along the pixels, 2x2 warps; then split_k, splitk_reduce,
  // stages, tap_major.
  auto cfg = [&](int split, int reduce, int stages, int tap_major = 0) {
    return sp.from_choices({1, 2, 2, 3, 1, 1, split, reduce, stages, tap_major});
  };
  CHECK(gemm.features(wl, sp, cfg(0, 0, 0)).invalid.empty());
  CHECK(gemm.features(wl, sp, cfg(0, 0, 0)).duplicate.empty());
  // Without a split, splitk_reduce 1 is 0's kernel: it builds, but tuning measures only the other.
  CHECK(gemm.features(wl, sp, cfg(0, 1, 0)).invalid.empty());
  CHECK_THAT(gemm.features(wl, sp, cfg(0, 1, 0)).duplicate,
             Catch::Contains("splitk_reduce 1 without a split"));
  CHECK(gemm.features(wl, sp, cfg(1, 1, 0)).duplicate.empty()); // split 2: a workspace
  CHECK(gemm.features(wl, sp, cfg(0, 0, 2)).invalid.empty());   // 4 tiles, 4 stages
  CHECK(gemm.features(wl, sp, cfg(1, 0, 0)).invalid.empty()); // split 2: 2 tiles a split, 2 stages
  CHECK_THAT(gemm.features(wl, sp, cfg(1, 0, 1)).invalid,
             Catch::Contains("3 pipeline stages for 2 reduction tiles"));
  // Shared memory grows with the stages: 2, 3 and 4 copies of the two tiles.
  const int smem2 = gemm.features(wl, sp, cfg(0, 0, 0)).geometry.dynamic_smem;
  CHECK(gemm.features(wl, sp, cfg(0, 0, 1)).geometry.dynamic_smem * 2 == smem2 * 3);
  CHECK(gemm.features(wl, sp, cfg(0, 0, 2)).geometry.dynamic_smem == smem2 * 2);
  // On a 1x1 kernel the reduction orders agree: tap_major 1 is a duplicate.
  CHECK(gemm.features(wl, sp, cfg(0, 0, 0, 1)).invalid.empty());
  CHECK_THAT(gemm.features(wl, sp, cfg(0, 0, 0, 1)).duplicate,
             Catch::Contains("tap_major 1 with a 1x1 kernel"));

  // On a 3x3 kernel it is its own kernel where tile_k divides the channels, else ruled out.
  const auto wl3 = resnet18()[3].workload; // 3x3, C128
  const auto sp3 = gemm.make_space(wl3);
  auto cfg3 = [&](int tile_k, int tap_major) {
    return sp3.from_choices({tile_k, 2, 2, 3, 1, 1, 0, 0, 0, tap_major});
  };
  CHECK(gemm.features(wl3, sp3, cfg3(2, 1)).invalid.empty());
  CHECK(gemm.features(wl3, sp3, cfg3(2, 1)).duplicate.empty());
  CHECK(gemm.render(wl3, sp3, cfg3(2, 1)).code != gemm.render(wl3, sp3, cfg3(2, 0)).code);
  auto odd = wl3;
  odd.c = 24; // tile_k 16 does not divide 24 channels, 8 does
  const auto sp_odd = gemm.make_space(odd);
  CHECK_THAT(
      gemm.features(odd, sp_odd, sp_odd.from_choices({1, 2, 2, 3, 1, 1, 0, 0, 0, 1})).invalid,
      Catch::Contains("tap_major needs tile_k 16 to divide the 24 input channels per group"));
  CHECK(gemm.features(odd, sp_odd, sp_odd.from_choices({0, 2, 2, 3, 1, 1, 0, 0, 0, 1}))
            .invalid.empty());
}

TEST_CASE("access features: sector efficiency and bank conflicts of a warp's addresses",
          "[codegen]") {
  std::vector<int64_t> row(32), strided(32), same_bank = {0, 32, 64, 0, 96};
  for (int i = 0; i < 32; ++i) {
    row[size_t(i)] = 96 + i;    // 32 consecutive floats from a sector boundary: 4 sectors, all used
    strided[size_t(i)] = 8 * i; // one float per sector
  }
  CHECK(codegen::sector_efficiency(row) == Approx(1.0));
  CHECK(codegen::sector_efficiency(strided) == Approx(0.125));
  CHECK(codegen::sector_efficiency({5, 5, 5, 5}) == Approx(0.125)); // one word, read 4 times
  CHECK(codegen::sector_efficiency({-1, 0}) == Approx(2.0 / 16));   // two sectors either side of 0
  CHECK(codegen::sector_efficiency({}) == Approx(1.0));
  CHECK(codegen::bank_conflict_ways(row) == Approx(1.0));
  CHECK(codegen::bank_conflict_ways(same_bank) == Approx(4.0));    // 4 distinct addresses in bank 0
  CHECK(codegen::bank_conflict_ways({7, 7, 7}) == Approx(1.0));    // a broadcast
  CHECK(codegen::bank_conflict_ways({-1, 31, 63}) == Approx(3.0)); // bank 31, negatives included
  CHECK(codegen::bank_conflict_ways({}) == Approx(1.0));
}

TEST_CASE("launch geometry survives the JSON of worker messages and manifests", "[codegen]") {
  codegen::LaunchGeometry g;
  g.grid = {7, 3, 16};
  g.block = {128, 1, 1};
  g.dynamic_smem = 70000;
  g.workspace_splits = 16;
  g.reduce_grid = {196, 1, 1};
  g.reduce_block = {256, 1, 1};
  const auto back = codegen::geometry_from_json(codegen::to_json(g));
  CHECK(back.grid == g.grid);
  CHECK(back.block == g.block);
  CHECK(back.dynamic_smem == g.dynamic_smem);
  CHECK(back.zero_output == g.zero_output);
  CHECK(back.workspace_splits == g.workspace_splits);
  CHECK(back.reduce_grid == g.reduce_grid);
  CHECK(back.reduce_block == g.reduce_block);
  CHECK_THROWS_WITH(codegen::geometry_from_json(nlohmann::json{{"grid", {1, 1, 1}}}),
                    Catch::Contains("'block'"));
}

TEST_CASE("templates for a task", "[codegen]") {
  auto wl = resnet18()[3].workload;
  // TF32 only when allowed, and naming it without the permission is an error.
  // AutoTVM's conv2d_direct only when named: conv2d_direct_splitk's space contains it.
  // Its 3x3 stride-1 kernel also takes conv2d_winograd.
  const auto unnamed = codegen::templates_for(wl);
  REQUIRE(unnamed.size() == 3);
  CHECK(unnamed[0]->name() == "conv2d_direct_splitk");
  CHECK(unnamed[1]->name() == "conv2d_implicit_gemm");
  CHECK(unnamed[2]->name() == "conv2d_winograd");
  CHECK(codegen::templates_for(wl, {}, true).size() == 4);
  CHECK(codegen::templates_for(wl, {"conv2d_direct"}).size() == 1);
  CHECK(codegen::templates_for(wl, {"conv2d_direct_splitk"}).size() == 1);
  CHECK_THROWS_WITH(codegen::templates_for(wl, {"conv2d_implicit_gemm_tf32"}),
                    Catch::Contains("--allow-tf32"));
  CHECK(codegen::templates_for(wl, {"conv2d_implicit_gemm_tf32"}, true).size() == 1);
  // Grouped: the implicit GEMMs only; a task no template takes says each template's reason once.
  wl.groups = 2;
  const auto grouped = codegen::templates_for(wl, {}, true);
  REQUIRE(grouped.size() == 2);
  CHECK(grouped[0]->name() == "conv2d_implicit_gemm");
  CHECK(codegen::decline_reasons(wl).find("conv2d_implicit_gemm:") == std::string::npos);
  wl.h = wl.w = 40000; // N*OH*OW beyond the GEMM's 32-bit indexing
  CHECK(codegen::templates_for(wl, {}, true).empty());
  const std::string why = codegen::decline_reasons(wl);
  CHECK(why.find("conv2d_direct: grouped") != std::string::npos);
  CHECK(why.find("conv2d_implicit_gemm: GEMM sizes beyond 32-bit indexing") != std::string::npos);
  CHECK(why.find("conv2d_direct_splitk") == std::string::npos); // the same reason as conv2d_direct
  CHECK_THROWS_WITH(codegen::find_template("winograd"), Catch::Contains("conv2d_direct_splitk"));
}

TEST_CASE("a kernel's arithmetic: the direct convolution's, Winograd's transformed-domain products",
          "[codegen]") {
  const auto& wino = codegen::find_template("conv2d_winograd");
  const auto& gemm = codegen::find_template("conv2d_implicit_gemm");
  // 2 images of 7x9 outputs, 5 -> 11 channels: F(2x2) covers them with 4x5 tiles of 16 products,
  // F(4x4) with 2x3 tiles of 36.
  const auto wl = testing::workload(2, 5, 7, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1);
  const auto sp = wino.make_space(wl);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) {
    const auto cfg = sp.random(rng);
    const int tile = sp.value(cfg, 0)[0];
    const double tiles = tile == 2 ? 2 * 4 * 5 : 2 * 2 * 3;
    const double products = tile == 2 ? 16 : 36;
    CHECK(wino.arithmetic_flops(wl, sp, cfg) == 2.0 * 11 * 5 * tiles * products);
  }
  // Whole tiles: 2.25x or 4x fewer than the direct convolution's.
  const auto even = testing::workload(1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1);
  const auto even_sp = wino.make_space(even);
  for (int i = 0; i < 10; ++i) {
    const auto cfg = even_sp.random(rng);
    const double ratio = double(even.flops()) / wino.arithmetic_flops(even, even_sp, cfg);
    CHECK(ratio == (even_sp.value(cfg, 0)[0] == 2 ? 2.25 : 4.0));
  }
  const auto gemm_sp = gemm.make_space(wl);
  CHECK(gemm.arithmetic_flops(wl, gemm_sp, gemm_sp.random(rng)) == double(wl.flops()));
  // Winograd on the tensor cores: F(2x2) whatever the config.
  const auto& tc = codegen::find_template("conv2d_winograd_tc");
  auto half = wl;
  half.dtype = task::DataType::f16;
  const auto tc_sp = tc.make_space(half);
  CHECK(tc.arithmetic_flops(half, tc_sp, tc_sp.random(rng)) == 2.0 * 11 * 5 * (2 * 4 * 5) * 16);
}

TEST_CASE("conv2d_winograd_tc rules out configs that would spill, have too many accumulators or "
          "leave a split without channels",
          "[codegen]") {
  const auto& tc = codegen::find_template("conv2d_winograd_tc");
  auto wl = testing::workload(1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1);
  wl.dtype = task::DataType::bf16;
  const auto sp = tc.make_space(wl);
  // Knobs: tile_k (16, 32), block_m (16, 32, 64), block_n (8 ... 64), warps (2 ... 16), split_k.
  auto why = [&](std::vector<int> choices) {
    const auto f = tc.features(wl, sp, sp.from_choices(choices));
    return f.invalid;
  };
  // 16 x 16 tiles, 8 warps (2 components each): valid, mma on the tensor cores, sm_80.
  const auto ok = tc.features(wl, sp, sp.from_choices({0, 0, 1, 2, 0}));
  CHECK(ok.invalid.empty());
  CHECK(ok.f16_mma);
  CHECK(ok.min_sm == 80);
  CHECK(ok.geometry.block[0] == 256);
  CHECK(ok.geometry.grid[0] == 28 * 28 / 16);
  CHECK(ok.geometry.grid[1] == 4);
  // 64 x 64 with 2 warps: 8 components x 128 accumulators each.
  CHECK_THAT(why({0, 2, 3, 0, 0}), Catch::Contains("1024 accumulators a thread"));
  // 64 x 16 with 16 warps (512 threads, 128 registers each): 32 accumulators, but a slice's loads
  // of 32 channels and the fragments too.
  CHECK_THAT(why({1, 2, 1, 3, 0}), Catch::Contains("it would spill"));
  // 4 slices of 16 channels over 16 splits.
  CHECK_THAT(why({0, 0, 1, 2, 4}), Catch::Contains("split_k 16 leaves a split without"));
  // A split sums through the workspace (16-bit outputs: no atomics).
  const auto split = tc.features(wl, sp, sp.from_choices({0, 0, 1, 2, 1}));
  CHECK(split.invalid.empty());
  CHECK(split.geometry.workspace_splits == 2);
  CHECK_FALSE(split.geometry.zero_output);
}
