#pragma once

#include "chameleon/task/task.hpp"
#include "chameleon/tune/record.hpp"
#include "chameleon/tune/stop.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chameleon::tune {

// The result of tuning one task.
struct TaskOutcome {
  task::Task task;
  std::string template_name;
  std::string skipped; // why the task was not tuned, or empty
  int trials = 0;      // records of this task on this device, resumed ones included
  int new_trials = 0;  // measured by this run
  int invalid = 0;     // error 1 (after compiling: registers or shared memory)
  int failed = 0;      // errors 2..8
  std::optional<Record> best;
  int best_trial =
      0;     // the trial that found the best (of its template's, on a task tuned over several)
  Stop stop; // why a template's turn ended (a task over one template: why the task did)
  // A task tuned over several templates: each one's name and why its last turn ended.
  std::vector<std::pair<std::string, Stop>> template_stops;
  double wall_s = 0, build_wait_s = 0, measure_s = 0, explore_s = 0, fit_s = 0, sample_s = 0;
  // The task's time as the device counts it: the wall time, but on a recorded device the recorded
  // compile and measurement seconds (as the recording host spent them) plus the tuner's own work.
  double modelled_s = 0;
  bool charged = false; // modelled_s was charged by a recorded device
  std::vector<Record>
      new_records; // measured by this call (a later call on the template resumes them)

  // Why it ended, as the log and the summary say it: "trial budget reached", or over several
  // templates "conv2d_a: trial budget reached; conv2d_b: design space exhausted".
  std::string stop_text() const;
  bool interrupted() const; // by Ctrl-C (a template's turn, or any of the task's)
};

// The state after one iteration of a task, for progress reports.
struct Progress {
  int position = 0, count = 0; // this task's place among the tasks being tuned
  int task_index = 0;
  std::string workload;
  int iteration = 0;
  int batch = 0;
  int trials = 0, target_trials = 0, new_trials = 0;
  double best_seconds = 0, best_gflops = 0;
  int invalid = 0, failed = 0;
  double elapsed_s = 0;                          // this task
  double task_left_s = 0;                        // estimate
  double explore_s = 0, fit_s = 0, sample_s = 0; // CPU time of this iteration
};

// Where a run of several tasks stands, after each task ends.
struct RunProgress {
  int done = 0, count = 0; // tasks ended (tuned, skipped or stopped) of the run's
  double elapsed_s = 0;    // since the run began
  // The tasks not ended, at the mean wall time of the ended ones that measured something, shared
  // by the loops side by side, and at most the time limit's rest; negative: no estimate (no
  // ended task measured anything yet, or the run was interrupted).
  double left_s = -1;
};

class ProgressSink {
public:
  virtual ~ProgressSink() = default;
  virtual void task_start(const task::Task& t, const std::string& tmpl, int position, int count,
                          int resumed) = 0;
  virtual void iteration(const Progress& p) = 0;
  virtual void task_end(const TaskOutcome& o, int position, int count) = 0;
  virtual void run_progress(const RunProgress&) {}
};

// Human-readable lines on stderr; JSON lines on stdout (one object per event); or nothing.
std::unique_ptr<ProgressSink> make_progress(const std::string& mode);

} // namespace chameleon::tune
