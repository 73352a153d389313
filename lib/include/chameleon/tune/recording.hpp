#pragma once

#include "chameleon/measure/recorded_runner.hpp"
#include "chameleon/tune/record.hpp"
#include "chameleon/tune/slice.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace chameleon::tune {

// One slice as a recording holds it (a log written by `chameleon collect`).
struct SliceRecording {
  Slice slice;
  std::string file;
  // The records of the slice measured on one device with one version of the template: the
  // device and version with the most of them, the latest record of each config.
  std::vector<Record> records;
  std::string device, device_fingerprint, template_fingerprint;
  nlohmann::json provenance; // of the first collection run on that device
  target::Target target;     // the target it was measured for
  int tunable = 0;           // configs of the slice that tuning measures on that target
  int missing = 0;           // of those, not recorded
  int other_records = 0;     // records of the slice made on another device or template version

  bool complete() const { return missing == 0; }
};

// Reads the slices of a recording: a log file (.jsonl or .jsonl.gz) that `chameleon collect`
// wrote, or a folder of them (the files directly in it; tuning logs without a slice are passed
// over). Throws chameleon::Error when the path holds no slice at all.
std::vector<SliceRecording> read_recording(const std::string& path);

// The recorded device over a recording's complete slices (an incomplete one is left out with a
// warning naming what `collect` would resume). Throws chameleon::Error when no slice is complete,
// or when the slices come from several devices.
std::unique_ptr<measure::RecordedRunner>
make_recorded_runner(const std::string& path, const std::vector<SliceRecording>& slices);

} // namespace chameleon::tune
