#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/emit/manifest.hpp"
#include "chameleon/emit/replay.hpp"
#include "chameleon/emit/svg.hpp"
#include "chameleon/util/error.hpp"

#include <regex>
#include <stack>

using namespace chameleon;

namespace {

tune::Record record(const task::Conv2dWorkload& wl, int64_t index, double seconds, double spread,
                    const std::string& device = "sim:h100",
                    measure::ErrorNo error = measure::ErrorNo::None) {
  tune::Record r;
  r.workload = wl;
  r.index = index;
  const auto& direct = codegen::find_template("conv2d_direct");
  auto sp = direct.make_space(wl);
  r.entity = sp.entity_json(sp.get(index));
  r.template_fingerprint = direct.fingerprint(); // made by today's template
  r.device = device;
  r.arch = "sm_90";
  r.target = "h100";
  r.result.error = error;
  r.result.median = seconds;
  r.result.spread = spread;
  return r;
}

task::Conv2dWorkload conv(int c, int k) {
  task::Conv2dWorkload wl;
  wl.c = c;
  wl.k = k;
  wl.h = wl.w = 14;
  wl.r = wl.s = 3;
  wl.pad_top = wl.pad_left = wl.pad_bottom = wl.pad_right = 1;
  return wl;
}

// Every opened tag is closed, in order; the document is one <svg> element.
bool well_formed(const std::string& xml) {
  std::regex tag(R"(<(/?)([a-zA-Z]+)[^>]*?(/?)>)");
  std::stack<std::string> open;
  int roots = 0;
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), tag); it != std::sregex_iterator();
       ++it) {
    const auto& m = *it;
    if (m[1] == "/") {
      if (open.empty() || open.top() != m[2]) return false;
      open.pop();
    } else if (m[3] != "/") {
      if (open.empty()) ++roots;
      open.push(m[2]);
    }
  }
  return open.empty() && roots == 1 && xml.rfind("<svg", 0) == 0;
}

} // namespace

TEST_CASE("replay picks the best verified record per task and device", "[emit]") {
  auto a = conv(16, 32), b = conv(32, 32), c = conv(8, 8);
  std::vector<tune::Record> records = {
      record(a, 1, 3e-5, 0.01),
      record(a, 2, 2e-5, 0.02),
      record(a, 3, 2e-5, 0.01), // same time, lower spread: wins
      record(a, 4, 1e-5, 0.0, "sim:h100", measure::ErrorNo::WrongAnswer), // fast but wrong
      record(b, 5, 9e-6, 0.0, "NVIDIA H100 80GB HBM3"),
      record(c, 6, 0, 0, "sim:h100", measure::ErrorNo::RunTimeout),
      record(b, 7, 5e-5, 0.0),
  };
  auto sel = emit::select_best(records);
  CHECK(sel.device == "sim:h100"); // the last record's
  CHECK(sel.devices.size() == 2);
  REQUIRE(sel.best.size() == 2);
  CHECK(sel.best[0].index == 3);
  CHECK(sel.best[1].index == 7);
  REQUIRE(sel.missing.size() == 1);
  CHECK(sel.missing[0].first == c);
  CHECK(sel.missing[0].second.find("none measured without error") != std::string::npos);
  auto gpu = emit::select_best(records, "NVIDIA H100 80GB HBM3");
  REQUIRE(gpu.best.size() == 1);
  CHECK(gpu.best[0].index == 5);
  CHECK_THROWS_WITH(emit::select_best(records, "TPU"), Catch::Contains("no records of device"));

  // A faster TF32 kernel competes only when TF32 is allowed.
  auto tf32 = record(a, 8, 1e-6, 0.0);
  const auto& tf32_tmpl = codegen::find_template("conv2d_implicit_gemm_tf32");
  tf32.template_name = tf32_tmpl.name();
  tf32.template_fingerprint = tf32_tmpl.fingerprint();
  const auto tf32_space = tf32_tmpl.make_space(a);
  tf32.entity = tf32_space.entity_json(tf32_space.get(8));
  records.push_back(tf32);
  auto fp32_only = emit::select_best(records);
  REQUIRE(fp32_only.best.size() == 2);
  CHECK(fp32_only.best[0].index == 3);
  CHECK(fp32_only.tf32_skipped == 1);
  auto allowed = emit::select_best(records, "", /*allow_tf32=*/true);
  CHECK(allowed.best[0].index == 8);
  CHECK(allowed.tf32_skipped == 0);
}

TEST_CASE("replay leaves out a record whose config does not fit its task, not the replay",
          "[emit]") {
  auto a = conv(16, 32), b = conv(32, 32);
  // A damaged record, the fastest of its task: its config is one of another workload's space.
  auto damaged = record(conv(64, 64), 5, 1e-6, 0.0);
  damaged.workload = a;
  const auto other = codegen::find_template("conv2d_direct").make_space(conv(64, 64));
  damaged.entity = other.entity_json(other.get(12345));
  auto only = record(conv(64, 64), 6, 1e-6, 0.0);
  only.workload = b;
  only.entity = damaged.entity;
  std::vector<tune::Record> records = {record(a, 1, 3e-5, 0.0), damaged, record(a, 2, 2e-5, 0.0),
                                       only};
  auto sel = emit::select_best(records);
  REQUIRE(sel.best.size() == 1);
  CHECK(sel.best[0].index == 2); // the next fastest
  REQUIRE(sel.damaged.size() == 2);
  CHECK_THAT(
      sel.damaged[0],
      Catch::Contains("a record of conv2d_direct (1.00 us) left out: its config does not fit") &&
          Catch::Contains("not a valid choice here"));
  REQUIRE(sel.missing.size() == 1);
  CHECK(sel.missing[0].first == b);
  CHECK_THAT(sel.missing[0].second, Catch::Contains("1 record whose config does not fit the task"));
}

TEST_CASE(
    "replay prefers records of today's templates and says what older ones it used or left out",
    "[emit]") {
  auto a = conv(16, 32), b = conv(32, 32), c = conv(8, 8), d = conv(8, 16);
  auto older = [](tune::Record r) {
    r.template_fingerprint = "0123456789abcdef";
    return r;
  };
  // An older version's config that today's template cannot express: a knob it did not have.
  auto inexpressible = older(record(c, 1, 1e-6, 0.0));
  inexpressible.entity.push_back({"stages_of_old", "ot", 2});
  auto renamed = record(d, 2, 1e-6, 0.0);
  renamed.template_name = "conv2d_retired";
  std::vector<tune::Record> records = {
      older(record(a, 1, 1e-5, 0.0)), // faster, but by an older version: left out...
      record(a, 2, 3e-5, 0.0),        // ...for today's
      older(record(b, 3, 2e-5, 0.0)), // only older ones: the fastest expressible is used
      older(record(b, 4, 4e-5, 0.0)), inexpressible, renamed,
  };
  auto sel = emit::select_best(records);
  REQUIRE(sel.best.size() == 2);
  CHECK(sel.best[0].workload == a);
  CHECK(sel.best[0].index == 2);
  CHECK(sel.best[1].workload == b);
  CHECK(sel.best[1].index == 3);
  REQUIRE(sel.stale.size() == 2);
  CHECK_THAT(sel.stale[0],
             Catch::Contains("1 record of older template versions left out") &&
                 Catch::Contains("10.00 us) faster than the kernel chosen (30.00 us)"));
  CHECK_THAT(sel.stale[1],
             Catch::Contains("made by an older version of it (0123456789abcdef, now") &&
                 Catch::Contains("tune again"));
  REQUIRE(sel.missing.size() == 2);
  CHECK(sel.missing[0].first == c);
  CHECK_THAT(sel.missing[0].second,
             Catch::Contains("1 record of older template versions whose configs") &&
                 Catch::Contains("stages_of_old"));
  CHECK(sel.missing[1].first == d); // a template this version does not have
  CHECK_THAT(sel.missing[1].second,
             Catch::Contains("templates this version does not have (conv2d_retired)"));
}

TEST_CASE("the kernels header declares a launch function per kernel", "[emit]") {
  emit::ManifestKernel k;
  k.name = "task_03";
  k.workload = conv(16, 32);
  k.entry = "conv2d_direct";
  k.geometry.grid = {2, 2, 4};
  k.geometry.block = {7, 7, 2};
  k.seconds = 1.5e-5;
  k.cubin_file = "task_03.cubin";
  k.ptx_file = "task_03.ptx";
  emit::Manifest manifest;
  manifest.log = "x.jsonl";
  manifest.network = "n";
  manifest.device = "d";
  manifest.arch = "sm_90";
  manifest.nvrtc = "13.0";
  manifest.kernels = {k};
  std::string h = emit::kernels_header(manifest);
  CHECK(h.rfind("// Generated by `chameleon replay` from x.jsonl; do not edit.\n", 0) == 0);
  CHECK(h.find("// Best kernels of n for d (sm_90, NVRTC 13.0).\n") != std::string::npos);
  CHECK(h.find("@") == std::string::npos); // every field of the template filled in
  CHECK(h.find("inline CUresult launch_task_03(") != std::string::npos);
  CHECK(h.find("{\"task_03\", \"task_03.cubin\", \"task_03.ptx\", \"conv2d_direct\", {2, 2, 4}, "
               "{7, 7, 2}, 0,") != std::string::npos);
  CHECK(h.find("kKernelCount = 1") != std::string::npos);
  CHECK(emit::kernels_header(manifest) == h); // deterministic
  // The groups are part of a kernel's shape: a depthwise kernel's weights are [K][1][R][S].
  CHECK(h.find("int dilation_h, dilation_w, groups, out_h, out_w;") != std::string::npos);
  CHECK(h.find(", 1, 1, 1, 14, 14, \"float32\", false, false, \"none\", \"nchw\", 15.000},") !=
        std::string::npos);
  auto depthwise = conv(16, 16);
  depthwise.groups = 16;
  manifest.kernels[0].workload = depthwise;
  CHECK(emit::kernels_header(manifest).find(", 1, 1, 16, 14, 14, \"float32\", false, false, "
                                            "\"none\", \"nchw\", 15.000},") != std::string::npos);
  // A fused fp16 kernel says its type and epilogue; its launcher takes the bias and residual.
  depthwise.dtype = task::DataType::f16;
  depthwise.epilogue.bias = true;
  depthwise.epilogue.act = task::Activation::relu6;
  manifest.kernels[0].workload = depthwise;
  const std::string fused = emit::kernels_header(manifest);
  CHECK(fused.find(", 16, 14, 14, \"float16\", true, false, \"relu6\", \"nchw\", 15.000},") !=
        std::string::npos);
  // An NHWC kernel says its layout.
  depthwise.layout = task::Layout::nhwc;
  manifest.kernels[0].workload = depthwise;
  CHECK(emit::kernels_header(manifest).find("\"relu6\", \"nhwc\", 15.000},") != std::string::npos);
  CHECK(fused.find("CUdeviceptr bias = 0, CUdeviceptr residual = 0) {") != std::string::npos);
  manifest.simulated = true;
  CHECK(emit::kernels_header(manifest).find("(sm_90, NVRTC 13.0), timed on the SIM device.\n") !=
        std::string::npos);
}

TEST_CASE("a manifest round-trips through JSON, and a damaged entry stays that entry's", "[emit]") {
  emit::ManifestKernel k;
  k.name = "task_01";
  k.task = 1;
  k.count = 2;
  k.workload = conv(16, 32);
  k.template_name = "conv2d_direct";
  k.config_index = 42;
  k.entry = "conv2d_direct";
  k.geometry.grid = {2, 2, 4};
  k.geometry.block = {7, 7, 2};
  k.resources.registers = 40;
  k.seconds = 1.5e-5;
  k.cubin_file = "task_01.cubin";
  k.ptx_file = "task_01.ptx";
  k.cubin_sha256 = "abc";
  emit::Manifest m;
  m.log = "x.jsonl";
  m.arch = "sm_90";
  m.kernels = {k};
  m.missing = {{conv(8, 8), true, conv(8, 8).str(), "64 records, all failed"}};
  nlohmann::json j = to_json(m);
  CHECK(j.at("schema") == "chameleon-manifest/1");
  CHECK(j.at("kernels")[0].at("out_shape") == nlohmann::json({1, 32, 14, 14}));
  emit::Manifest back = emit::manifest_from_json(j);
  REQUIRE(back.kernels.size() == 1);
  CHECK(back.kernels[0].damaged.empty());
  CHECK(to_json(back) == j);
  CHECK(back.missing[0].reason == "64 records, all failed");
  // One entry without its workload: that entry is damaged, the other is read.
  j["kernels"].push_back(j["kernels"][0]);
  j["kernels"][0].erase("workload");
  back = emit::manifest_from_json(j);
  REQUIRE(back.kernels.size() == 2);
  CHECK_THAT(back.kernels[0].damaged, Catch::Contains("manifest entry task_01"));
  CHECK(back.kernels[1].damaged.empty());
  // Not a manifest, or a folder-wide field of the wrong type: an error.
  CHECK_THROWS_WITH(emit::manifest_from_json(nlohmann::json::object(), "m.json"),
                    Catch::Contains("m.json: not a chameleon manifest"));
  j["arch"] = 90;
  CHECK_THROWS_WITH(emit::manifest_from_json(j), Catch::Contains("'arch' must be a string"));
}

TEST_CASE("charts are well-formed SVG", "[emit]") {
  emit::LineChart chart{"a <title> & more", "x", "y", {}};
  chart.series.push_back({"one", {{1, 10}, {2, 20}, {3, 25}}});
  chart.series.push_back({"two \"quoted\"", {{1, 5}, {3, 30}}});
  std::string svg = chart.svg();
  CHECK(well_formed(svg));
  CHECK(svg.find("a &lt;title&gt; &amp; more") != std::string::npos);
  CHECK(svg.find("<polyline") != std::string::npos);
  emit::LineChart empty{"empty", "x", "y", {}};
  CHECK(well_formed(empty.svg()));
}
