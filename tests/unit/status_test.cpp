// Retuning when the hardware changes: staleness, shards, merge.
#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/tune/status.hpp"
#include "chameleon/tune/tuning_log.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

using namespace chameleon;

namespace {

const std::string kFingerprint =
    "NVIDIA H100 80GB HBM3 | sm_90 | 132 SMs | 79.2 GiB | 1980 MHz | driver 13.0 | nvrtc 13.0";

std::vector<task::Task> tasks_of(const std::string& name) {
  return task::extract_tasks(
      network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + name + ".json"));
}

tune::Record current(const task::Task& t, int64_t index, const std::string& fp = kFingerprint) {
  const auto& tmpl = codegen::find_template("conv2d_direct");
  auto sp = tmpl.make_space(t.workload);
  tune::Record r;
  r.workload = t.workload;
  r.template_fingerprint = tmpl.fingerprint();
  r.target = "h100";
  r.arch = "sm_90";
  r.index = index;
  r.entity = sp.entity_json(sp.get(index));
  r.device = "NVIDIA H100 80GB HBM3";
  r.device_fingerprint = fp;
  r.result.median = 1e-5 * double(index + 1);
  r.result.timestamp = 1.0e9 + double(index);
  return r;
}

std::string temp(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("chameleon-status-" + name + "-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(p);
  return p.string();
}

} // namespace

TEST_CASE("shards cover every task exactly once", "[ci]") {
  auto tasks = tasks_of("resnet50");
  for (int n = 1; n <= 5; ++n) {
    std::map<int, int> seen;
    for (int i = 0; i < n; ++i) {
      for (const auto& t : task::shard_tasks(tasks, i, n)) ++seen[t.index];
    }
    INFO("N = " << n);
    CHECK(seen.size() == tasks.size());
    for (const auto& [index, times] : seen) CHECK(times == 1);
  }
  CHECK_THROWS(task::shard_tasks(tasks, 2, 2));
  CHECK_THROWS(task::shard_tasks(tasks, -1, 2));
}

TEST_CASE(
    "a task whose last tune on this device was interrupted is unfinished until a tune ends it",
    "[ci]") {
  auto tasks = tasks_of("alexnet");
  const std::vector<tune::Record> records = {current(tasks[0], 1), current(tasks[1], 2),
                                             current(tasks[2], 3)};
  const std::vector<std::string> dtmpl = {"conv2d_direct"};
  auto end = [&](const task::Task& t, const std::string& why, const std::string& fp = kFingerprint,
                 const std::string& tmpl = "conv2d_direct") {
    return tune::task_end_comment("run-1", t, tmpl, fp, 40, 40, tune::stop_from_text(why));
  };
  const std::string other_fp =
      "NVIDIA A100-SXM4-80GB | sm_80 | 108 SMs | 79.1 GiB | 1410 MHz | driver 13.0 | nvrtc 13.0";
  const std::vector<std::string> comments = {
      "chameleon-run {}",
      end(tasks[0], "interrupted"), // task 1: interrupted, then finished
      end(tasks[0], "trial budget reached"),
      end(tasks[1], "trial budget reached"), // task 2: finished, then interrupted
      end(tasks[1], "interrupted"),
      end(tasks[2], "interrupted", other_fp), // task 3: interrupted on another GPU only
      end(tasks[2], "interrupted", kFingerprint,
          "conv2d_implicit_gemm"), // ... and on a template not asked for
      "chameleon-task-end {not json",
  };
  auto s = tune::task_status(tasks, records, "h100", kFingerprint, dtmpl, false, 0, comments);
  REQUIRE(s.size() == tasks.size());
  CHECK(s[0].state == tune::TaskState::UpToDate);
  CHECK(s[1].state == tune::TaskState::Unfinished);
  CHECK(std::string(tune::state_name(s[1].state)) == "unfinished");
  CHECK(s[1].reason == "its last tune was interrupted (conv2d_direct at 40 trials): the same tune "
                       "command finishes it");
  CHECK(s[1].best);
  CHECK(s[2].state == tune::TaskState::UpToDate);
  CHECK(s[3].state == tune::TaskState::Missing); // no records: missing, whatever the comments say

  // A log written by a tune carries the lines: read back, they say the same.
  const std::string path = temp("unfinished");
  {
    tune::TuningLog log(path);
    for (const auto& r : records) log.append(r);
    for (const auto& c : comments) log.append_comment(c);
  }
  const auto contents = tune::read_log(path);
  auto again = tune::task_status(tasks, contents.records, "h100", kFingerprint, dtmpl, false, 0,
                                 contents.comments);
  CHECK(again[1].state == tune::TaskState::Unfinished);
  CHECK(again[0].state == tune::TaskState::UpToDate);
  std::filesystem::remove(path);
}

TEST_CASE("a changed device, driver, toolkit or template makes tasks stale", "[ci]") {
  auto tasks = tasks_of("alexnet");
  std::vector<tune::Record> records = {current(tasks[0], 1), current(tasks[0], 2)};
  // Task 2: tuned under another driver and NVRTC.
  std::string old_fp = kFingerprint;
  old_fp.replace(old_fp.find("driver 13.0"), 11, "driver 12.4");
  old_fp.replace(old_fp.find("nvrtc 13.0"), 10, "nvrtc 12.4");
  records.push_back(current(tasks[1], 3, old_fp));
  // Task 3: an earlier template.
  auto old_template = current(tasks[2], 4);
  old_template.template_fingerprint = "0000000000000000";
  records.push_back(old_template);
  // Task 4: another GPU.
  records.push_back(current(
      tasks[3], 5,
      "NVIDIA A100-SXM4-80GB | sm_80 | 108 SMs | 79.1 GiB | 1410 MHz | driver 13.0 | nvrtc 13.0"));

  auto s = tune::task_status(tasks, records, "h100", kFingerprint, {"conv2d_direct"});
  REQUIRE(s.size() == 5);
  CHECK(s[0].state == tune::TaskState::UpToDate);
  CHECK(s[0].current == 2);
  REQUIRE(s[0].best);
  CHECK(s[0].best->index == 1);
  CHECK(s[1].state == tune::TaskState::Stale);
  CHECK(s[1].reason == "driver 12.4 -> driver 13.0; nvrtc 12.4 -> nvrtc 13.0");
  CHECK(s[2].state == tune::TaskState::Stale);
  CHECK(s[2].reason.find("template conv2d_direct changed") != std::string::npos);
  CHECK(s[3].state == tune::TaskState::Stale);
  CHECK(s[3].reason.find("NVIDIA A100-SXM4-80GB -> NVIDIA H100 80GB HBM3") != std::string::npos);
  CHECK(s[4].state == tune::TaskState::Missing);
  // Another target preset with the same GPU is another tuning.
  auto other = tune::task_status(tasks, records, "h200", kFingerprint, {"conv2d_direct"});
  CHECK(other[0].state == tune::TaskState::Stale);
  // Tuned over every template, task 1 still lacks split-K and implicit GEMM records (TF32 ones
  // only when allowed).
  const std::vector<std::string> every = {"conv2d_direct", "conv2d_direct_splitk",
                                          "conv2d_implicit_gemm"};
  auto all = tune::task_status(tasks, records, "h100", kFingerprint, every);
  CHECK(all[0].state == tune::TaskState::Stale);
  CHECK(all[0].reason == "no records of conv2d_direct_splitk, conv2d_implicit_gemm");
  auto with_tf32 = every;
  with_tf32.push_back("conv2d_implicit_gemm_tf32");
  auto tf32 = tune::task_status(tasks, records, "h100", kFingerprint, with_tf32, true);
  CHECK(tf32[0].reason ==
        "no records of conv2d_direct_splitk, conv2d_implicit_gemm, conv2d_implicit_gemm_tf32");
  // ... but not on a GPU without TF32 tensor cores, where tune skips that template.
  auto turing = tune::task_status(tasks, records, "h100", kFingerprint, with_tf32, true, 75);
  CHECK(turing[0].reason == "no records of conv2d_direct_splitk, conv2d_implicit_gemm");
  // Task 2's records of two templates, both under the old driver: the change is said once.
  auto splitk_old = current(tasks[1], 6, old_fp);
  const auto& splitk = codegen::find_template("conv2d_direct_splitk");
  const auto splitk_space = splitk.make_space(tasks[1].workload);
  splitk_old.template_name = splitk.name();
  splitk_old.template_fingerprint = splitk.fingerprint();
  splitk_old.entity = splitk_space.entity_json(splitk_space.get(6));
  auto two = records;
  two.push_back(splitk_old);
  auto both = tune::task_status(tasks, two, "h100", kFingerprint,
                                {"conv2d_direct", "conv2d_direct_splitk"});
  CHECK(both[1].state == tune::TaskState::Stale);
  CHECK(both[1].reason == "driver 12.4 -> driver 13.0; nvrtc 12.4 -> nvrtc 13.0");
  // The templates tune uses unnamed leave conv2d_direct out: its records alone do not count.
  auto unnamed = tune::task_status(tasks, records, "h100", kFingerprint);
  CHECK(unnamed[0].state == tune::TaskState::Missing);
  CHECK(all[4].state == tune::TaskState::Missing);
}

TEST_CASE("a task no template takes says every template's reason, or that the named ones do not",
          "[ci]") {
  auto tasks = tasks_of("mobilenet_v2");
  tasks.resize(2);                                   // the stem and a depthwise layer
  tasks[1].workload.h = tasks[1].workload.w = 50000; // beyond every template's 32-bit indexing
  const auto s = tune::task_status(tasks, {}, "h100", kFingerprint);
  REQUIRE(s.size() == 2);
  CHECK(s[0].state == tune::TaskState::Missing);
  CHECK(s[1].state == tune::TaskState::NoTemplate);
  CHECK(s[1].reason == codegen::decline_reasons(tasks[1].workload));
  CHECK(s[1].reason.find("conv2d_depthwise: tensors beyond 32-bit indexing") != std::string::npos);
  const auto named = tune::task_status(tasks, {}, "h100", kFingerprint, {"conv2d_direct"});
  CHECK(named[1].reason ==
        "none of the templates conv2d_direct supports it (conv2d_direct: grouped/depthwise "
        "convolution (groups=32): AutoTVM's direct schedule has no groups (conv2d_implicit_gemm "
        "has))");
}

TEST_CASE("merging overlapping logs loses nothing and duplicates nothing", "[ci]") {
  auto tasks = tasks_of("alexnet");
  std::string a = temp("a"), b = temp("b"), out = temp("out");
  {
    tune::TuningLog log(a);
    log.append_comment("chameleon-run {\"run\":\"x\"}");
    log.append(current(tasks[0], 1));
    log.append(current(tasks[0], 2));
  }
  {
    tune::TuningLog log(b);
    log.append_comment("chameleon-run {\"run\":\"x\"}");
    log.append(current(tasks[0], 2)); // also in a
    log.append(current(tasks[1], 3));
    auto again = current(tasks[1], 3);
    again.result.timestamp += 60; // measured again later: a distinct record
    log.append(again);
  }
  auto stats = tune::merge_logs({a, b}, out);
  CHECK(stats.records == 4);
  CHECK(stats.duplicates == 1);
  CHECK(stats.comments == 1);
  auto merged = tune::read_log(out).records;
  REQUIRE(merged.size() == 4);
  CHECK(merged[0].index == 1);
  CHECK(merged[3].index == 3);
  // Merging into one of the inputs, twice, changes nothing more.
  auto again = tune::merge_logs({out, a, b}, out);
  CHECK(again.records == 4);
  CHECK(again.duplicates == 5);
  for (const auto& p : {a, b, out}) std::filesystem::remove(p);
}
