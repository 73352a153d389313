#pragma once

#include <string>
#include <vector>

namespace chameleon::emit {

struct ReportResult {
  std::vector<std::string> files; // written, relative to the report folder
  std::string markdown;           // also written as report.md
};

// Tuning curves and a summary of one or more logs (several tuners side by side on the same
// axes): per task, best GFLOPS against measurements (task_NN_trials.svg) and against wall time
// (task_NN_time.svg); overview.svg, every log's best-so-far relative to the best found, averaged
// over tasks; report.md, the best kernel per task with invalid and failed counts and the time
// spent compiling, measuring and exploring. Each log contributes the records of its last device.
ReportResult report(const std::vector<std::string>& logs, const std::string& dir);

// Line charts drawn as the report draws its curves, from a JSON file of series computed elsewhere
// (scripts/bench_tuners.py's medians over seeds): {"charts": [{"file": "x.svg", "title": ...,
// "x_label": ..., "y_label": ..., "series": [{"name": ..., "points": [[x, y], ...]}]}]}. Returns
// the files written into `dir`.
std::vector<std::string> charts(const std::string& spec_path, const std::string& dir);

} // namespace chameleon::emit
