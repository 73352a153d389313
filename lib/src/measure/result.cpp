#include "chameleon/measure/result.hpp"

namespace chameleon::measure {

const char* error_name(ErrorNo e) {
  switch (e) {
  case ErrorNo::None:
    return "NO_ERROR";
  case ErrorNo::Instantiation:
    return "INSTANTIATION_ERROR";
  case ErrorNo::CompileHost:
    return "COMPILE_HOST";
  case ErrorNo::CompileDevice:
    return "COMPILE_DEVICE";
  case ErrorNo::RuntimeDevice:
    return "RUNTIME_DEVICE";
  case ErrorNo::WrongAnswer:
    return "WRONG_ANSWER";
  case ErrorNo::BuildTimeout:
    return "BUILD_TIMEOUT";
  case ErrorNo::RunTimeout:
    return "RUN_TIMEOUT";
  case ErrorNo::Unknown:
    return "UNKNOWN_ERROR";
  }
  return "UNKNOWN_ERROR";
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
          {"resources", target::to_json(r.resources)},
          {"settings", r.settings}};
}

} // namespace chameleon::measure
