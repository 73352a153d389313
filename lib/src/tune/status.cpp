#include "chameleon/tune/status.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/tune/tuner.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>
#include <unordered_map>

namespace chameleon::tune {

namespace fs = std::filesystem;

const char* state_name(TaskState s) {
  switch (s) {
  case TaskState::UpToDate:
    return "up to date";
  case TaskState::Stale:
    return "stale";
  case TaskState::Missing:
    return "missing";
  case TaskState::NoTemplate:
    return "no template";
  case TaskState::Unfinished:
    return "unfinished";
  }
  return "?";
}

namespace {

constexpr const char* kTaskEnd = "chameleon-task-end ";

std::vector<std::string> parts_of(const std::string& fp) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t bar = fp.find(" | ", start);
    out.push_back(fp.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 3;
  }
  return out;
}
} // namespace

std::string fingerprint_change(const std::string& before, const std::string& now) {
  auto a = parts_of(before), b = parts_of(now);
  if (a.size() != b.size()) return "device '" + before + "' -> '" + now + "'";
  std::vector<std::string> changes;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) changes.push_back(a[i] + " -> " + b[i]);
  }
  return changes.empty() ? "" : util::join(changes, "; ");
}

std::vector<TaskEnd> read_task_ends(const std::vector<std::string>& comments) {
  std::vector<TaskEnd> out;
  const size_t tag = std::char_traits<char>::length(kTaskEnd);
  for (const std::string& c : comments) {
    if (c.rfind(kTaskEnd, 0) != 0) continue;
    try {
      const auto j = nlohmann::json::parse(c.substr(tag));
      out.push_back({j.value("run", std::string()), j.at("workload").get<std::string>(),
                     j.at("template").get<std::string>(),
                     j.at("device_fingerprint").get<std::string>(),
                     stop_from_text(j.at("stop_reason").get<std::string>()), j.value("task", 0),
                     j.value("trials", 0), j.value("new_trials", 0)});
    } catch (const std::exception&) {
      // A damaged line tells nothing.
    }
  }
  return out;
}

std::string task_end_comment(const std::string& run, const task::Task& t,
                             const std::string& template_name,
                             const std::string& device_fingerprint, int trials, int new_trials,
                             const Stop& stop) {
  return kTaskEnd + nlohmann::json({{"run", run},
                                    {"task", t.index},
                                    {"workload", t.workload.key()},
                                    {"template", template_name},
                                    {"device_fingerprint", device_fingerprint},
                                    {"trials", trials},
                                    {"new_trials", new_trials},
                                    {"stop_reason", to_text(stop)}})
                        .dump();
}

std::vector<TaskStatus> task_status(const std::vector<task::Task>& tasks,
                                    const std::vector<Record>& records, const std::string& target,
                                    const std::string& device_fingerprint,
                                    const std::vector<std::string>& templates, bool allow_tf32,
                                    int target_sm, const std::vector<std::string>& log_comments) {
  // The task-end lines on this device, by workload, in log order.
  std::unordered_map<std::string, std::vector<TaskEnd>> ends;
  for (TaskEnd& e : read_task_ends(log_comments)) {
    if (e.device_fingerprint == device_fingerprint) ends[e.workload].push_back(std::move(e));
  }
  std::vector<TaskStatus> out;
  for (const auto& t : tasks) {
    TaskStatus s;
    s.task = t;
    const auto tmpls = codegen::templates_for(t.workload, templates, allow_tf32, target_sm);
    if (tmpls.empty()) {
      s.state = TaskState::NoTemplate;
      s.reason = codegen::no_template_reason(t.workload, templates, target_sm);
      out.push_back(s);
      continue;
    }
    // Every template the task is tuned over must be current.
    std::vector<std::string> why, missing;
    bool any_record = false;
    for (const codegen::Template* tmpl : tmpls) {
      const Record* latest_other = nullptr;
      int current = 0;
      for (const auto& r : records) {
        if (r.workload != t.workload || r.template_name != tmpl->name()) continue;
        if (is_current(r, *tmpl, target, device_fingerprint)) {
          ++current;
          if (r.ok() && (!s.best || r.seconds() < s.best->seconds())) s.best = r;
        } else {
          ++s.outdated;
          latest_other = &r;
        }
      }
      s.current += current;
      any_record = any_record || current > 0 || latest_other != nullptr;
      if (current > 0) continue;
      if (latest_other == nullptr) {
        missing.push_back(tmpl->name());
        continue;
      }
      std::vector<std::string> change;
      if (latest_other->target != target)
        change.push_back("target " + latest_other->target + " -> " + target);
      if (latest_other->device_fingerprint != device_fingerprint) {
        std::string diff = fingerprint_change(latest_other->device_fingerprint, device_fingerprint);
        change.push_back(latest_other->foreign
                             ? "records from AutoTVM (" + latest_other->device + ")"
                         : diff.empty() ? "another device"
                                        : diff);
      }
      if (!current_version(*latest_other, *tmpl)) {
        change.push_back("template " + tmpl->name() + " changed (" +
                         latest_other->template_fingerprint + " -> " + tmpl->fingerprint() + ")");
      }
      if (change.empty()) change.push_back("outdated records");
      // The target and device changes are the same for every template: each said once.
      for (const auto& c : change) {
        if (std::find(why.begin(), why.end(), c) == why.end()) why.push_back(c);
      }
    }
    if (why.empty() && missing.empty()) {
      s.state = TaskState::UpToDate;
      // The last turn of one of its templates on this device, as the log tells it.
      const TaskEnd* last = nullptr;
      if (auto it = ends.find(t.workload.key()); it != ends.end()) {
        for (const TaskEnd& e : it->second) {
          for (const codegen::Template* tmpl : tmpls) {
            if (tmpl->name() == e.template_name) last = &e;
          }
        }
      }
      if (last != nullptr && last->stop == StopReason::Interrupted) {
        s.state = TaskState::Unfinished;
        s.reason = "its last tune was interrupted (" + last->template_name + " at " +
                   std::to_string(last->trials) + " trials): the same tune command finishes it";
      }
    } else if (!why.empty()) {
      s.state = TaskState::Stale;
      if (!missing.empty()) why.push_back("no records of " + util::join(missing, ", "));
      s.reason = util::join(why, "; ");
    } else {
      s.state = any_record ? TaskState::Stale : TaskState::Missing;
      if (any_record) s.reason = "no records of " + util::join(missing, ", ");
    }
    out.push_back(s);
  }
  return out;
}

MergeStats merge_logs(const std::vector<std::string>& logs, const std::string& out) {
  MergeStats stats;
  std::set<std::string> seen;
  std::string merged;
  // The output is replaced by a rename: a tune still appending to it would go on writing into the
  // file the rename unlinks, and every record from then on would be lost.
  LogLock out_lock(out, "merge into another --out");
  for (const auto& path : logs) {
    // Read first: a file that is no log stops the merge before anything is written; damaged lines
    // (warned about there) are left out.
    const LogContents contents = read_log(path);
    const std::set<int> damaged(contents.damaged.begin(), contents.damaged.end());
    stats.damaged += int(damaged.size());
    // The records read_log parsed, by line: their lines need no second parse.
    std::unordered_map<int, const Record*> by_line;
    for (const Record& r : contents.records) by_line.emplace(r.line, &r);
    auto record_key = [](const Record& r) {
      return r.workload.key() + "|" + r.template_name + "|" + r.template_fingerprint + "|" +
             r.device_fingerprint + "|" + r.device + "|" + std::to_string(r.index) + "|" +
             util::fixed(r.result.timestamp, 6) + "|" + std::to_string(int(r.result.error));
    };
    std::ifstream in(path, std::ios::binary);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      if (damaged.count(++line_no)) continue;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::string key;
      const bool comment = line[line.find_first_not_of(" \t")] == '#';
      if (comment) {
        key = line;
      } else if (auto it = by_line.find(line_no); it != by_line.end()) {
        key = record_key(*it->second);
      } else {
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error&) {
          continue; // the cut-off last line read_log already reported
        }
        try {
          key = record_key(record_from_json(j));
        } catch (const Error&) {
          key = j.dump(); // another operator's record: kept as it is
        }
      }
      if (!seen.insert(key).second) {
        if (!comment) ++stats.duplicates;
        continue;
      }
      (comment ? stats.comments : stats.records) += 1;
      merged += line + "\n";
    }
  }
  const fs::path target(out);
  util::make_folder(target.parent_path().string(), "the folder of the merged log");
  const fs::path tmp = target.string() + ".merge" + std::to_string(::getpid());
  util::write_file(tmp.string(), merged);
  fs::rename(tmp, target);
  return stats;
}

} // namespace chameleon::tune
