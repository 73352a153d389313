#include "chameleon/measure/result.hpp"

namespace chameleon::measure {

const char* error_name(ErrorNo e) {
  switch (e) {
  case ErrorNo::None: return "NO_ERROR";
  case ErrorNo::Instantiation: return "INSTANTIATION_ERROR";
  case ErrorNo::CompileHost: return "COMPILE_HOST";
  case ErrorNo::CompileDevice: return "COMPILE_DEVICE";
  case ErrorNo::RuntimeDevice: return "RUNTIME_DEVICE";
  case ErrorNo::WrongAnswer: return "WRONG_ANSWER";
  case ErrorNo::BuildTimeout: return "BUILD_TIMEOUT";
  case ErrorNo::RunTimeout: return "RUN_TIMEOUT";
  case ErrorNo::Unknown: return "UNKNOWN_ERROR";
  }
  return "UNKNOWN_ERROR";
}

nlohmann::json to_json(const Resources& r) {
  return {{"registers", r.registers},
          {"static_smem", r.static_smem},
          {"spill_stores", r.spill_stores},
          {"spill_loads", r.spill_loads},
          {"stack_frame", r.stack_frame}};
}

Resources resources_from_json(const nlohmann::json& j) {
  Resources r;
  r.registers = j.value("registers", 0);
  r.static_smem = j.value("static_smem", 0);
  r.spill_stores = j.value("spill_stores", 0);
  r.spill_loads = j.value("spill_loads", 0);
  r.stack_frame = j.value("stack_frame", 0);
  return r;
}

nlohmann::json to_json(const MeasureResult& r) {
  return {{"error_no", int(r.error)},
          {"error", error_name(r.error)},
          {"message", r.message},
          {"costs", r.costs},
          {"median", r.median},
          {"spread", r.spread},
          {"number", r.number},
          {"repeat", r.repeat},
          {"compile_seconds", r.compile_seconds},
          {"run_seconds", r.run_seconds},
          {"all_cost", r.all_cost},
          {"timestamp", r.timestamp},
          {"simulated", r.simulated},
          {"resources", to_json(r.resources)},
          {"settings", r.settings}};
}

} // namespace chameleon::measure
