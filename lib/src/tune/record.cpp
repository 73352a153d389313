#include "chameleon/tune/record.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/stats.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace chameleon::tune {

using nlohmann::json;

namespace {

constexpr double kFailedCost = 1e9; // AutoTVM writes [1e9] as the costs of a failed config
constexpr const char* kTaskName = "conv2d_nchw.cuda";

// The out_dtype (last) is the accumulation type, float32 for every task (AutoTVM's convention).
// An NHWC task's tensors are given in its layout ([N, H, W, C] data, [K, R, S, C/G] weight), and
// "NHWC" comes before the out_dtype.
json autotvm_args(const task::Conv2dWorkload& w) {
  const char* dtype = task::dtype_name(w.dtype);
  const bool nhwc = w.layout == task::Layout::nhwc;
  json args = json::array(
      {json::array({"TENSOR", nhwc ? json{w.n, w.h, w.w, w.c} : json{w.n, w.c, w.h, w.w}, dtype}),
       json::array(
           {"TENSOR",
            nhwc ? json{w.k, w.r, w.s, w.c / w.groups} : json{w.k, w.c / w.groups, w.r, w.s},
            dtype}),
       {w.stride_h, w.stride_w},
       {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right},
       {w.dilation_h, w.dilation_w}});
  if (nhwc) args.push_back("NHWC");
  args.push_back("float32");
  return args;
}

// AutoTVM's task name for records of a template (chameleon-only templates have their own).
std::string task_name_of(const std::string& template_name) {
  const codegen::Template* t = codegen::template_named(template_name);
  return t != nullptr ? t->autotvm_task_name() : kTaskName;
}

// nlohmann's two JSON types do not convert into each other; values keep their sorted keys.
nlohmann::ordered_json ordered(const json& j) {
  return nlohmann::ordered_json::parse(j.dump());
}

// An int or a list of ints (AutoTVM writes both).
std::vector<int> ints(const json& j) {
  if (j.is_number_integer()) return {j.get<int>()};
  return j.get<std::vector<int>>();
}

task::Conv2dWorkload workload_from_args(const json& args) {
  task::Conv2dWorkload w;
  auto data = args.at(0).at(1).get<std::vector<int>>();
  auto kernel = args.at(1).at(1).get<std::vector<int>>();
  if (data.size() != 4 || kernel.size() != 4) throw Error("conv2d args need 4-D data and kernel");
  // NHWC tensors (autotvm_args): data [N, H, W, C], kernel [K, R, S, C/G].
  const bool nhwc = args.size() > 6 && args.at(5) == "NHWC";
  if (nhwc) {
    w.layout = task::Layout::nhwc;
    std::rotate(data.begin() + 1, data.begin() + 3, data.end());       // N C H W
    std::rotate(kernel.begin() + 1, kernel.begin() + 3, kernel.end()); // K C R S
  }
  w.n = data[0], w.c = data[1], w.h = data[2], w.w = data[3];
  w.k = kernel[0], w.r = kernel[2], w.s = kernel[3];
  auto stride = ints(args.at(2));
  auto pad = ints(args.at(3));
  auto dil = ints(args.at(4));
  if (stride.empty() || stride.size() > 2 || dil.empty() || dil.size() > 2 ||
      (pad.size() != 1 && pad.size() != 2 && pad.size() != 4)) {
    throw Error("conv2d args need 1 or 2 strides and dilations, and 1, 2 or 4 paddings");
  }
  w.stride_h = stride.at(0), w.stride_w = stride.size() > 1 ? stride[1] : stride[0];
  w.dilation_h = dil.at(0), w.dilation_w = dil.size() > 1 ? dil[1] : dil[0];
  if (pad.size() == 4) {
    w.pad_top = pad[0], w.pad_left = pad[1], w.pad_bottom = pad[2], w.pad_right = pad[3];
  } else {
    w.pad_top = w.pad_bottom = pad.at(0);
    w.pad_left = w.pad_right = pad.size() > 1 ? pad[1] : pad[0];
  }
  if (kernel[1] > 0 && w.c % kernel[1] == 0) w.groups = w.c / kernel[1];
  // The data tensor's dtype ("float32", "float16", "bfloat16"); absent or another: float32.
  const json& data_tensor = args.at(0);
  if (data_tensor.size() > 2 && data_tensor.at(2).is_string()) {
    const std::string dtype = data_tensor.at(2).get<std::string>();
    if (dtype == "float16" || dtype == "bfloat16") w.dtype = task::dtype_from_text(dtype);
  }
  task::validate(w);
  return w;
}

} // namespace

nlohmann::ordered_json to_json(const Record& r) {
  using ojson = nlohmann::ordered_json;
  const auto& m = r.result;
  json costs = r.ok() ? json(m.costs) : json::array({kFailedCost});
  ojson ours = {{"template", r.template_name},
                {"template_fingerprint", r.template_fingerprint},
                {"target", r.target},
                {"arch", r.arch},
                {"nvrtc", r.nvrtc},
                {"device", r.device},
                {"device_fingerprint", r.device_fingerprint},
                {"simulated", m.simulated},
                {"tuner", r.tuner},
                {"iteration", r.iteration},
                {"network", r.network},
                {"task", r.task_index},
                {"layer_count", r.layer_count},
                {"workload", ordered(task::to_json(r.workload))},
                {"median", m.median},
                {"spread", m.spread},
                {"number", m.number},
                {"repeat", m.repeat},
                {"compile_seconds", m.compile_seconds},
                {"run_seconds", m.run_seconds},
                {"resources", ordered(target::to_json(m.resources))},
                {"settings", ordered(m.settings)}};
  if (!m.message.empty()) ours["message"] = m.message;
  ojson out;
  out["input"] =
      ojson::array({"cuda -model=" + r.target + " -arch=" + r.arch, task_name_of(r.template_name),
                    ordered(autotvm_args(r.workload)), ojson::object()});
  out["config"] = {{"index", r.index}, {"code_hash", nullptr}, {"entity", ordered(r.entity)}};
  out["result"] = ojson::array({ordered(costs), int(m.error), m.all_cost, m.timestamp});
  out["version"] = 0.2;
  out["tvm_version"] = "0.7.dev0";
  out["chameleon"] = ours;
  return out;
}

std::string autotvm_task_name(const json& j) {
  if (j.contains("input") && j.at("input").is_array() && j.at("input").size() > 1 &&
      j.at("input")[1].is_string()) {
    return j.at("input")[1].get<std::string>();
  }
  return "";
}

std::string arch_of_autotvm_target(const std::string& target) {
  // "cuda -model=v100 -arch=sm_70": the -arch when there is one, else the -model's GPU.
  std::istringstream words(target);
  std::string word, model;
  while (words >> word) {
    if (word.rfind("-arch=", 0) == 0) return word.substr(6);
    if (word.rfind("-model=", 0) == 0) model = word.substr(7);
  }
  const int sm = target::sm_of_model(model);
  return sm > 0 ? "sm_" + std::to_string(sm) : "";
}

Record record_from_json(const json& j) {
  if (!j.is_object() || !j.contains("input") || !j.contains("config") || !j.contains("result")) {
    if (j.is_object() && j.contains("i") && j.contains("r")) {
      throw Error(
          "an AutoTVM v0.1 record (AutoTVM itself no longer reads those); convert it to v0.2");
    }
    throw Error("not a tuning record (needs input, config and result)");
  }
  std::string task_name = autotvm_task_name(j);
  if (task_name != kTaskName && !j.contains("chameleon")) {
    throw Error("a record of task '" + task_name + "', not " + kTaskName);
  }
  try {
    Record r;
    const json& input = j.at("input");
    const json& result = j.at("result");
    r.index = j.at("config").value("index", int64_t(0));
    r.entity = j.at("config").at("entity");
    auto& m = r.result;
    m.error = measure::ErrorNo(result.at(1).get<int>());
    if (m.error == measure::ErrorNo::None) m.costs = result.at(0).get<std::vector<double>>();
    m.all_cost = result.at(2).get<double>();
    m.timestamp = result.at(3).get<double>();
    m.repeat = int(m.costs.size());
    auto stats = measure::summarize(m.costs);
    m.median = stats.median;
    m.spread = stats.spread;
    if (j.contains("chameleon")) {
      const json& c = j.at("chameleon");
      r.workload = task::workload_from_json(c.at("workload"));
      r.template_name = c.at("template").get<std::string>();
      r.template_fingerprint = c.value("template_fingerprint", std::string());
      r.target = c.value("target", std::string());
      r.arch = c.value("arch", std::string());
      r.nvrtc = c.value("nvrtc", std::string());
      r.device = c.value("device", std::string());
      r.device_fingerprint = c.value("device_fingerprint", std::string());
      r.tuner = c.value("tuner", std::string());
      r.iteration = c.value("iteration", 0);
      r.network = c.value("network", std::string());
      r.task_index = c.value("task", 0);
      r.layer_count = c.value("layer_count", 0);
      m.simulated = c.value("simulated", false);
      if (c.contains("median") && m.error == measure::ErrorNo::None)
        m.median = c.at("median").get<double>();
      m.spread = c.value("spread", m.spread);
      m.number = c.value("number", 0);
      m.repeat = c.value("repeat", m.repeat);
      m.compile_seconds = c.value("compile_seconds", 0.0);
      m.run_seconds = c.value("run_seconds", 0.0);
      m.message = c.value("message", std::string());
      if (c.contains("resources")) m.resources = target::resources_from_json(c.at("resources"));
      m.settings = c.value("settings", json::object());
    } else {
      r.foreign = true;
      r.workload = workload_from_args(input.at(2));
      std::string target = input.at(0).get<std::string>();
      r.target = target;
      r.device = target;
      r.tuner = "autotvm";
      r.arch = arch_of_autotvm_target(target);
    }
    // A time that is no time (a damaged or edited line) would rank first everywhere.
    if (m.error == measure::ErrorNo::None && !(std::isfinite(m.median) && m.median > 0)) {
      std::ostringstream got;
      got << m.median;
      throw Error("a measured record (error 0) needs a positive time, got " + got.str());
    }
    return r;
  } catch (const json::exception& e) {
    throw Error(std::string("malformed record: ") + e.what());
  }
}

bool current_version(const Record& r, const codegen::Template& tmpl) {
  return r.foreign || r.template_fingerprint == tmpl.fingerprint();
}

} // namespace chameleon::tune
