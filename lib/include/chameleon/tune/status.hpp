#pragma once

#include "chameleon/task/task.hpp"
#include "chameleon/tune/record.hpp"
#include "chameleon/tune/stop.hpp"

#include <optional>
#include <string>
#include <vector>

namespace chameleon::tune {

// Unfinished: current records of every template, but the last tune of the task on this device
// was interrupted (its log's task-end line says so), so its trial budget was not spent.
enum class TaskState { UpToDate, Stale, Missing, NoTemplate, Unfinished };
// "up to date", "stale", "missing", "no template", "unfinished"
const char* state_name(TaskState s);

struct TaskStatus {
  task::Task task;
  TaskState state = TaskState::Missing;
  int current = 0;            // records made with this device, toolkit and template
  int outdated = 0;           // records of this task made otherwise
  std::string reason;         // for stale: what changed
  std::optional<Record> best; // the best current record
};

// Where every task of a network stands in a log, for this target and device fingerprint: up to
// date when every template it is tuned over (`templates`, empty: all that support it) has
// current records, unless the log's comment lines (LogContents::comments) say that the last tune
// of the task on this device ended interrupted. Templates that need a newer architecture than
// `target_sm` (when above 0) are not counted, as tune skips them.
std::vector<TaskStatus> task_status(const std::vector<task::Task>& tasks,
                                    const std::vector<Record>& records, const std::string& target,
                                    const std::string& device_fingerprint,
                                    const std::vector<std::string>& templates = {},
                                    bool allow_tf32 = false, int target_sm = 0,
                                    const std::vector<std::string>& log_comments = {});

// A "chameleon-task-end" line read back: how a template's turn on a task ended.
struct TaskEnd {
  std::string run, workload, template_name, device_fingerprint;
  Stop stop;
  int task = 0, trials = 0, new_trials = 0;
};
// The task-end lines among a log's comment lines (LogContents::comments), in log order; damaged
// ones are passed over.
std::vector<TaskEnd> read_task_ends(const std::vector<std::string>& comments);

// The comment line a tune writes when a template's turn on a task ends ("chameleon-task-end {...}",
// without the "# "): what status reads to tell an interrupted task.
std::string task_end_comment(const std::string& run, const task::Task& t,
                             const std::string& template_name,
                             const std::string& device_fingerprint, int trials, int new_trials,
                             const Stop& stop);

// What differs between two device fingerprints ("driver 12.4 -> 13.0"), part by part.
std::string fingerprint_change(const std::string& before, const std::string& now);

struct MergeStats {
  int records = 0;    // written
  int duplicates = 0; // dropped: the same measurement in several logs
  int comments = 0;   // run and iteration lines written
  int damaged = 0;    // lines left out: not records (see read_log)
};

// Merges logs (e.g. the shards of one network) into `out`: every distinct record once, in order
// of first appearance, lines kept verbatim. `out` may be one of the inputs. Throws on an
// unreadable file, or one that is no tuning log, before writing anything.
MergeStats merge_logs(const std::vector<std::string>& logs, const std::string& out);

} // namespace chameleon::tune
