#pragma once

#include "chameleon/tune/record.hpp"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace chameleon::tune {

struct LogContents {
  std::vector<Record> records;
  int skipped = 0;                        // records of other AutoTVM tasks, comment and blank lines
  std::map<std::string, int> other_tasks; // records of other AutoTVM tasks, by task name
  std::vector<std::string> comments; // "# ..." lines without the "# " (run headers, iterations)
  bool repaired = false;             // a cut-off last line was dropped
  std::vector<int>
      damaged; // other lines that are not records (numbers from 1; skipped, with a warning each)
};

// Reads a log. A last line cut off by a killed process is dropped (and, with `repair`, removed
// from the file). Any other bad line (not JSON, not a record) is skipped with a warning naming
// the file and line, and left in the file; a file with bad lines and no record at all is not a
// tuning log: a chameleon::Error.
LogContents read_log(const std::string& path, bool repair = false);

// The logs at `path`: the file itself, or the .jsonl and .jsonl.gz files directly in a folder
// (a device's folder of the measurement dataset), sorted by name.
std::vector<std::string> log_files(const std::string& path);

// A tune holds an exclusive lock (flock) on its log from opening to the end, so that a second
// tune on the same log is refused instead of writing into it too (where the file system has no
// locks, nothing is refused). log_in_use: whether a running tune holds `path`.
bool log_in_use(const std::string& path);
// A chameleon::Error when a running tune holds `path`: the early check of a tune, before its
// workers start.
void check_log_free(const std::string& path);

// The exclusive lock of a log that is about to be replaced (merge's output): a chameleon::Error
// when a running tune holds it, ending with `advice`. Nothing to lock when the file does not exist.
class LogLock {
public:
  LogLock(const std::string& path, const std::string& advice);
  ~LogLock();
  LogLock(const LogLock&) = delete;
  LogLock& operator=(const LogLock&) = delete;

private:
  int fd_ = -1;
};

// The append-only tuning log (JSON lines), safe to append to from several threads. Each record is
// written with a single write() as soon as it is measured, so a tune killed at any moment loses at
// most the record being written.
class TuningLog {
public:
  // Opens `path` for appending and locks it (a chameleon::Error when another tune holds it), then
  // reads what it holds (repairing a cut-off last line).
  explicit TuningLog(std::string path);
  ~TuningLog();
  TuningLog(const TuningLog&) = delete;
  TuningLog& operator=(const TuningLog&) = delete;

  const std::string& path() const { return path_; }
  // The records so far (a copy: other threads may be appending), each batch's in config order:
  // a batch's records reach the log as their compiles finish, and a tuner that learns from them
  // (transfer) must see them in an order that does not depend on that timing.
  std::vector<Record> snapshot() const;
  size_t size() const;
  bool repaired() const { return repaired_; }
  void append(const Record& r);
  // A "# ..." line: readers of AutoTVM logs skip those. Used for the settings of a tuning run.
  void append_comment(const std::string& text);

private:
  void write_line(const std::string& line);

  std::string path_;
  mutable std::mutex mu_; // appends come from several tuning threads
  std::vector<Record> records_;
  bool repaired_ = false;
  int fd_ = -1;
};

} // namespace chameleon::tune
