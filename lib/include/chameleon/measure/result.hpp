#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/target/resources.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace chameleon::measure {

// AutoTVM's MeasureErrorNo, so that logs read the same.
enum class ErrorNo {
  None = 0,
  Instantiation = 1, // the config cannot run on the target (static check)
  CompileHost = 2,
  CompileDevice = 3, // NVRTC rejected the source
  RuntimeDevice = 4, // launch failure, fault, lost worker
  WrongAnswer = 5,   // output differs from the reference
  BuildTimeout = 6,
  RunTimeout = 7,
  Unknown = 8,
};
const char* error_name(ErrorNo e); // "NO_ERROR", "INSTANTIATION_ERROR", ...

struct BuildResult {
  std::string template_name;
  std::string
      config; // the config's knob values (ConfigSpace::str): what a recorded device looks up
  ErrorNo error = ErrorNo::None;
  std::string message; // why it failed (the static check's reason, NVRTC's log, ...)
  std::string cubin;
  std::string entry;
  std::string arch; // what the cubin was compiled for
  codegen::KernelFeatures features;
  target::Resources resources;
  double compile_seconds = 0; // NVRTC time spent for this result (0 when cached)
  bool cached = false;
  bool estimated = false; // resources predicted, nothing compiled (BuildOptions::compile off)
  std::string cache_key;

  bool ok() const { return error == ErrorNo::None; }
};

struct MeasureResult {
  ErrorNo error = ErrorNo::None;
  std::string message;
  std::vector<double> costs; // seconds per launch, one entry per timed round
  double median = 0;         // seconds per launch: the figure to rank by
  double spread = 0;         // (max - min) / median over the rounds
  int number = 0;            // launches per round
  int repeat = 0;            // rounds
  double compile_seconds = 0;
  double run_seconds = 0; // wall time of the measurement itself
  double all_cost = 0;    // wall time of build + measurement
  double timestamp = 0;   // Unix time when measured
  bool simulated = false;
  target::Resources resources;
  nlohmann::json settings; // the protocol that produced the numbers

  bool ok() const { return error == ErrorNo::None; }
};

nlohmann::json to_json(const MeasureResult& r);

} // namespace chameleon::measure
