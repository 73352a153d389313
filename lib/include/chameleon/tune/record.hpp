#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/result.hpp"
#include "chameleon/task/workload.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace chameleon::tune {

// One measurement as a log line: AutoTVM's v0.2 record for `conv2d_nchw.cuda` (input, config
// {index, code_hash, entity}, result [costs, error_no, all_cost, timestamp], version) with
// chameleon's own fields under "chameleon". See docs/log-format.md.
struct Record {
  task::Conv2dWorkload workload;
  std::string template_name = "conv2d_direct";
  std::string template_fingerprint;
  std::string target; // preset name ("h100") or "auto"
  std::string arch;   // "sm_90"
  std::string nvrtc;  // the NVRTC version that compiled it ("13.0"; empty in older logs)
  int64_t index = 0;
  nlohmann::json entity = nlohmann::json::array();
  measure::MeasureResult result;
  std::string device; // "NVIDIA H100 80GB HBM3" or "sim:h100"
  std::string device_fingerprint;
  std::string tuner;
  int iteration = 0;
  std::string network;  // where the task came from, when known
  int task_index = 0;   // 1-based index in that network
  int layer_count = 0;  // layers of the network that share the workload
  bool foreign = false; // read from an AutoTVM log: no chameleon fields
  int line = 0;         // where read_log found it (1-based), 0 otherwise

  bool ok() const { return result.error == measure::ErrorNo::None; }
  double seconds() const { return result.median; } // per launch, valid when ok()
};

// Keys in AutoTVM's order (input, config, result, version), chameleon's fields last.
nlohmann::ordered_json to_json(const Record& r);
// Throws chameleon::Error saying what is missing or wrong. A record of another AutoTVM task
// ("dense_small_batch.cuda", ...) throws too; readers skip those by checking autotvm_task_name.
Record record_from_json(const nlohmann::json& j);
std::string autotvm_task_name(const nlohmann::json& j);
// The arch an AutoTVM record's target names: "-arch=sm_70", else the GPU of "-model=v100"
// (target::sm_of_model); empty when it names neither.
std::string arch_of_autotvm_target(const std::string& target);

// Whether a record of `tmpl` describes the template as it is today: made by its current version,
// or read from an AutoTVM log (no version to compare: AutoTVM's template is conv2d_direct's).
bool current_version(const Record& r, const codegen::Template& tmpl);

} // namespace chameleon::tune
