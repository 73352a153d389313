#include "chameleon/measure/recorded_runner.hpp"

#include "chameleon/util/error.hpp"

#include <algorithm>
#include <chrono>
#include <queue>

namespace chameleon::measure {

std::vector<double> pipeline_finish_times(const std::vector<double>& compile_s,
                                          const std::vector<double>& run_s, int jobs) {
  const size_t n = compile_s.size();
  if (run_s.size() != n) throw Error("pipeline_finish_times: one measurement time per compile");
  // Compiles: each worker takes the next config of the batch when it is free.
  std::priority_queue<double, std::vector<double>, std::greater<double>> free_at;
  for (int i = 0; i < std::max(1, jobs); ++i) free_at.push(0.0);
  std::vector<double> built(n);
  for (size_t i = 0; i < n; ++i) {
    const double start = free_at.top();
    free_at.pop();
    built[i] = start + std::max(0.0, compile_s[i]);
    free_at.push(built[i]);
  }
  // Measurements: one at a time, the config whose compile ended first (the lower index on a tie).
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return built[a] < built[b]; });
  std::vector<double> done(n);
  double device_free = 0;
  for (size_t i : order) {
    device_free = std::max(device_free, built[i]) + std::max(0.0, run_s[i]);
    done[i] = device_free;
  }
  return done;
}

RecordedRunner::RecordedRunner(RecordedSource source, std::vector<RecordedSlice> slices)
    : source_(std::move(source)), slices_(std::move(slices)) {}

const RecordedSlice* RecordedRunner::find(const std::string& template_name,
                                          const task::Conv2dWorkload& wl) const {
  for (const RecordedSlice& s : slices_) {
    if (s.template_name == template_name && s.workload == wl) return &s;
  }
  return nullptr;
}

std::string RecordedRunner::cannot_hold(const task::Conv2dWorkload& wl) const {
  for (const RecordedSlice& s : slices_) {
    if (s.workload == wl) return "";
  }
  return "no recorded slice of this workload in " + source_.path;
}

std::string RecordedRunner::cannot_measure(const codegen::Template& tmpl,
                                           const task::Conv2dWorkload& wl) const {
  if (find(tmpl.name(), wl) != nullptr) return "";
  return "no recorded slice of " + tmpl.name() + " for this workload in " + source_.path;
}

space::ConfigSpace RecordedRunner::measurable_space(const codegen::Template& tmpl,
                                                    const task::Conv2dWorkload& wl) const {
  const RecordedSlice* s = find(tmpl.name(), wl);
  if (s == nullptr) throw Error(cannot_measure(tmpl, wl));
  return tmpl.make_space(wl).restrict(s->knobs);
}

MeasureResult RecordedRunner::run(const task::Conv2dWorkload& wl, const BuildResult& build) {
  MeasureResult r;
  if (!build.ok()) { // the static check: nothing would have reached the device
    r.error = build.error;
    r.message = build.message;
    r.simulated = true;
    return r;
  }
  const MeasureResult* answer = nullptr;
  if (const RecordedSlice* s = find(build.template_name, wl)) {
    auto it = s->answers.find(build.config);
    if (it != s->answers.end()) answer = &it->second;
  }
  if (answer == nullptr) {
    // The loader checked that every tunable config of each slice is recorded.
    throw Error("the recording " + source_.path + " has no measurement of " + build.template_name +
                " " + build.config + " for " + wl.str() + ": it is not part of a recorded slice");
  }
  r = *answer;
  r.simulated = true;
  r.settings["recorded_at"] = r.timestamp;
  r.settings["device"] = device_name();
  r.timestamp = double(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()) /
                1000.0;
  return r;
}

} // namespace chameleon::measure
