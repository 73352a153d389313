#pragma once

#include "chameleon/measure/runner.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <unordered_map>
#include <vector>

namespace chameleon::measure {

// The recorded answers for one slice: every config of a sub-space of a template's space for one
// workload, as a device measured it (docs/measurement.md, "The measurement dataset").
struct RecordedSlice {
  std::string name;
  std::string template_name;
  task::Conv2dWorkload workload;
  nlohmann::json knobs =
      nlohmann::json::object(); // the slice's knob values (ConfigSpace::restrict)
  // Keyed by the config's knob values (ConfigSpace::str).
  std::unordered_map<std::string, MeasureResult> answers;
};

// Where recorded answers came from: the device that measured them and the host that compiled.
struct RecordedSource {
  std::string path;        // the file or folder they were read from
  std::string device;      // "NVIDIA H100 80GB HBM3", or "sim:h100" for a slice recorded on the sim
  std::string fingerprint; // the device fingerprint of the records
  int compile_jobs = 1;    // compile workers side by side on the recording host
};

// The recorded device (`--device recorded:PATH`): answers each measurement from a slice recorded
// on a GPU (or the sim), exactly as it was measured there (time, rounds, error and message,
// registers and shared memory), and charges the recorded compile and measurement seconds. It
// measures only the slices' templates and workloads, within the slices' knob values. Its results
// are marked simulated: nothing was measured by this run.
class RecordedRunner final : public Runner {
public:
  RecordedRunner(RecordedSource source, std::vector<RecordedSlice> slices);
  std::string device_name() const override { return "recorded:" + source_.device; }
  bool simulated() const override { return true; }
  std::string fingerprint() const override { return "recorded:" + source_.fingerprint; }
  MeasureResult run(const task::Conv2dWorkload& wl, const BuildResult& build) override;
  std::string cannot_hold(const task::Conv2dWorkload& wl) const override;
  std::string cannot_measure(const codegen::Template& tmpl,
                             const task::Conv2dWorkload& wl) const override;
  space::ConfigSpace measurable_space(const codegen::Template& tmpl,
                                      const task::Conv2dWorkload& wl) const override;
  int charged_compile_jobs() const override { return source_.compile_jobs; }

  const RecordedSource& source() const { return source_; }
  const std::vector<RecordedSlice>& slices() const { return slices_; }

private:
  const RecordedSlice* find(const std::string& template_name, const task::Conv2dWorkload& wl) const;

  RecordedSource source_;
  std::vector<RecordedSlice> slices_;
};

} // namespace chameleon::measure
