#pragma once

#include "chameleon/tune/tuner.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace chameleon::tune {

// Where a batch is measured and what its records say besides their results.
struct BatchContext {
  const task::Task& task;
  const codegen::Template& tmpl;
  const space::ConfigSpace& space;
  TuneEnv& env;
  std::string tuner;
  int iteration = 0;
  nlohmann::json tune_settings; // each record's settings.tune, with its elapsed_s added
  // The task's clock when the batch starts, in seconds: on a measuring device the wall time since
  // the task started (`started` is when); on a recorded device the time charged so far.
  std::chrono::steady_clock::time_point started;
  double clock_offset_s = 0; // time the task spent before `started` (earlier templates' turns)
  double charged_s = 0;      // recorded devices: the task's charged time at the batch's start
};

// What a batch cost.
struct BatchCost {
  double build_wait_s = 0, measure_s = 0; // wall time here
  double charged_s = 0; // a recorded device: the batch's compiles and measurements as charged
};

// Queues every config of `batch` on the builder at once and measures each as its build finishes
// (a slow compile does not hold the device idle), appending each record to the log as soon as it
// is measured; a recorded device's records are appended once the batch's time is charged
// (measure::pipeline_finish_times). Each record's settings.tune.elapsed_s is the task's clock when
// its measurement ended. Records come back in batch order.
std::vector<Record> measure_batch(const BatchContext& ctx, const std::vector<space::Config>& batch,
                                  BatchCost& cost);

} // namespace chameleon::tune
