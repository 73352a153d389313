#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/emit/replay.hpp"
#include "chameleon/emit/svg.hpp"
#include "chameleon/util/error.hpp"

#include <regex>
#include <stack>

using namespace chameleon;

namespace {

tune::Record record(const task::Conv2dWorkload& wl, int64_t index, double seconds, double spread,
                    const std::string& device = "sim:h100", measure::ErrorNo error = measure::ErrorNo::None) {
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
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), tag); it != std::sregex_iterator(); ++it) {
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

TEST_CASE("replay leaves out a record whose config does not fit its task, not the replay", "[emit]") {
  auto a = conv(16, 32), b = conv(32, 32);
  // A damaged record, the fastest of its task: its config is one of another workload's space.
  auto damaged = record(conv(64, 64), 5, 1e-6, 0.0);
  damaged.workload = a;
  const auto other = codegen::find_template("conv2d_direct").make_space(conv(64, 64));
  damaged.entity = other.entity_json(other.get(12345));
  auto only = record(conv(64, 64), 6, 1e-6, 0.0);
  only.workload = b;
  only.entity = damaged.entity;
  std::vector<tune::Record> records = {record(a, 1, 3e-5, 0.0), damaged, record(a, 2, 2e-5, 0.0), only};
  auto sel = emit::select_best(records);
  REQUIRE(sel.best.size() == 1);
  CHECK(sel.best[0].index == 2); // the next fastest
  REQUIRE(sel.damaged.size() == 2);
  CHECK_THAT(sel.damaged[0], Catch::Contains("a record of conv2d_direct (1.00 us) left out: its config does not fit") &&
                                 Catch::Contains("not a valid choice here"));
  REQUIRE(sel.missing.size() == 1);
  CHECK(sel.missing[0].first == b);
  CHECK_THAT(sel.missing[0].second, Catch::Contains("1 record whose config does not fit the task"));
}

TEST_CASE("replay prefers records of today's templates and says what older ones it used or left out", "[emit]") {
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
      older(record(b, 4, 4e-5, 0.0)),
      inexpressible,
      renamed,
  };
  auto sel = emit::select_best(records);
  REQUIRE(sel.best.size() == 2);
  CHECK(sel.best[0].workload == a);
  CHECK(sel.best[0].index == 2);
  CHECK(sel.best[1].workload == b);
  CHECK(sel.best[1].index == 3);
  REQUIRE(sel.stale.size() == 2);
  CHECK_THAT(sel.stale[0], Catch::Contains("1 record of older template versions left out") &&
                               Catch::Contains("10.00 us) faster than the kernel chosen (30.00 us)"));
  CHECK_THAT(sel.stale[1], Catch::Contains("made by an older version of it (0123456789abcdef, now") &&
                               Catch::Contains("tune again"));
  REQUIRE(sel.missing.size() == 2);
  CHECK(sel.missing[0].first == c);
  CHECK_THAT(sel.missing[0].second, Catch::Contains("1 record of older template versions whose configs") &&
                                        Catch::Contains("stages_of_old"));
  CHECK(sel.missing[1].first == d); // a template this version does not have
  CHECK_THAT(sel.missing[1].second, Catch::Contains("templates this version does not have (conv2d_retired)"));
}

TEST_CASE("the kernels header declares a launch function per kernel", "[emit]") {
  nlohmann::json k = {{"name", "task_03"},
                      {"shape", "N1 C16 H14 W14 K32 R3 S3 s1 p1 d1"},
                      {"workload", task::to_json(conv(16, 32))},
                      {"out_shape", {1, 32, 14, 14}},
                      {"entry", "conv2d_direct"},
                      {"grid", {2, 2, 4}},
                      {"block", {7, 7, 2}},
                      {"dynamic_smem", 0},
                      {"measured", {{"seconds", 1.5e-5}}},
                      {"files", {{"cubin", "task_03.cubin"}, {"ptx", "task_03.ptx"}}}};
  nlohmann::json manifest = {{"log", "x.jsonl"}, {"network", "n"}, {"device", "d"}, {"arch", "sm_90"},
                             {"nvrtc", "13.0"}, {"kernels", {k}}};
  std::string h = emit::kernels_header(manifest);
  CHECK(h.find("inline CUresult launch_task_03(") != std::string::npos);
  CHECK(h.find("{\"task_03\", \"task_03.cubin\", \"task_03.ptx\", \"conv2d_direct\", {2, 2, 4}, {7, 7, 2}, 0,") !=
        std::string::npos);
  CHECK(h.find("kKernelCount = 1") != std::string::npos);
  CHECK(emit::kernels_header(manifest) == h); // deterministic
  // The groups are part of a kernel's shape: a depthwise kernel's weights are [K][1][R][S].
  CHECK(h.find("int dilation_h, dilation_w, groups, out_h, out_w;") != std::string::npos);
  CHECK(h.find(", 1, 1, 1, 14, 14, 15.000},") != std::string::npos);
  auto depthwise = conv(16, 16);
  depthwise.groups = 16;
  manifest["kernels"][0]["workload"] = task::to_json(depthwise);
  CHECK(emit::kernels_header(manifest).find(", 1, 1, 16, 14, 14, 15.000},") != std::string::npos);
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
