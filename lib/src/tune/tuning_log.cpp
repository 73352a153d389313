#include "chameleon/tune/tuning_log.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <unistd.h>

namespace chameleon::tune {

namespace {
constexpr int kDamagedShown = 5; // damaged lines warned about one by one
constexpr const char* kAnotherLog = "give this one another --log (`chameleon merge` joins logs)";

std::string in_use_message(const std::string& path, const std::string& advice) {
  return "tuning log '" + path +
         "' is being written by another tune that is still running: wait for "
         "it to end, or " +
         advice;
}

// Takes a lock without waiting: false when another process holds a conflicting one.
bool lock_log(int fd, bool exclusive) {
  while (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    // A file system without locks (some network mounts): go on unlocked, as before locks.
    spdlog::debug("cannot lock a tuning log: {}", std::strerror(errno));
    return true;
  }
  return true;
}

// Whether the file at `path` starts as gzip data does.
bool starts_gzip(const std::string& path) {
  char head[2] = {0, 0};
  std::ifstream in(path, std::ios::binary);
  return in.read(head, 2) && util::is_gzip(std::string(head, 2));
}

} // namespace

bool log_in_use(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool free = lock_log(fd, false);
  ::close(fd); // the shared lock goes with it
  return !free;
}

LogLock::LogLock(const std::string& path, const std::string& advice) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return; // nothing there yet: nobody writes it
  if (!lock_log(fd_, true)) {
    ::close(fd_);
    throw Error(in_use_message(path, advice));
  }
}

void check_log_free(const std::string& path) {
  if (log_in_use(path)) throw Error(in_use_message(path, kAnotherLog));
}

LogLock::~LogLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> log_files(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return {path};
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    auto ends = [&](const std::string& suffix) {
      return name.size() > suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (entry.is_regular_file() && (ends(".jsonl") || ends(".jsonl.gz")))
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

LogContents read_log(const std::string& path, bool repair) {
  const std::string text = util::read_file(path, "tuning log"); // a .jsonl.gz is decompressed

  LogContents out;
  // A reader of a log that a tune is still writing (replay or status during a tune): the last
  // line may be half written, which is no damage.
  const bool being_written = !repair && log_in_use(path);
  if (being_written) spdlog::info("{} is being written by a running tune: read as it is now", path);
  std::string first_damage;
  auto damaged = [&](size_t line_no, const std::string& why) {
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    if (first_damage.empty()) first_damage = where + why;
    out.damaged.push_back(int(line_no));
    if (out.damaged.size() <= size_t(kDamagedShown))
      spdlog::warn("{}{} (line skipped)", where, why);
  };
  size_t pos = 0, line_no = 0, good_end = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const bool last = nl == std::string::npos;
    std::string line = text.substr(pos, last ? std::string::npos : nl - pos);
    ++line_no;
    const size_t next = last ? text.size() : nl + 1;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') {
      if (first != std::string::npos) {
        size_t text = line.find_first_not_of(" \t", first + 1);
        out.comments.push_back(text == std::string::npos ? "" : line.substr(text));
      }
      ++out.skipped;
      pos = good_end = next;
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      if (last) { // a line cut short by a killed writer, or one still being written
        out.repaired = true;
        if (!being_written)
          spdlog::warn("{}:{}: dropping a cut-off last record ({} bytes)", path, line_no,
                       line.size());
        break;
      }
      damaged(line_no, std::string("not a JSON record: ") + e.what());
      pos = good_end = next;
      continue;
    }
    std::string task = autotvm_task_name(j);
    if (!task.empty() && task != "conv2d_nchw.cuda" && !j.contains("chameleon")) {
      ++out.skipped; // another operator's record in an AutoTVM log
      ++out.other_tasks[task];
    } else {
      try {
        out.records.push_back(record_from_json(j));
        out.records.back().line = int(line_no);
      } catch (const Error& e) {
        damaged(line_no, e.what());
      } catch (const std::exception& e) { // whatever a damaged line throws, it is that line's
        damaged(line_no, std::string("malformed record: ") + e.what());
      }
    }
    pos = good_end = next;
  }
  if (!out.damaged.empty() && out.records.empty()) {
    // Nothing readable: not a tuning log (a network file given as --log, say), never appended to.
    throw Error(first_damage +
                (out.damaged.size() > 1
                     ? " (and " + std::to_string(out.damaged.size() - 1) + " more bad lines)"
                     : "") +
                "; no tuning record could be read, so this is not a tuning log");
  }
  if (out.damaged.size() > size_t(kDamagedShown)) {
    spdlog::warn("{}: {} damaged lines skipped in all ({} shown)", path, out.damaged.size(),
                 kDamagedShown);
  }
  if (out.repaired && repair) std::filesystem::resize_file(path, good_end);
  if (!out.repaired && !text.empty() && text.back() != '\n' && repair) {
    // A complete last record without its newline: add it so that the next append starts a line.
    std::ofstream(path, std::ios::app) << '\n';
  }
  return out;
}

TuningLog::TuningLog(std::string path) : path_(std::move(path)) {
  if (auto parent = std::filesystem::path(path_).parent_path();
      !parent.empty() && !std::filesystem::exists(path_)) {
    util::make_folder(parent.string(), "the tuning log's folder");
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("cannot open tuning log '" + path_ + "' for writing: " + std::strerror(errno));
  try {
    // Locked before it is read: a second tune on the same log would repair a line the first one
    // is still writing, measure the same configs again and make both runs' trial counts wrong.
    if (!lock_log(fd_, true)) throw Error(in_use_message(path_, kAnotherLog));
    if (starts_gzip(path_)) {
      throw Error("tuning log '" + path_ +
                  "' is compressed and cannot be appended to: tune into another " +
                  "--log (--history '" + path_ + "' lets the tune learn from it)");
    }
    LogContents contents = read_log(path_, true);
    records_ = std::move(contents.records);
    repaired_ = contents.repaired;
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

TuningLog::~TuningLog() {
  if (fd_ >= 0) ::close(fd_);
}

void TuningLog::append(const Record& r) {
  const std::string line = to_json(r).dump() + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  write_line(line);
  records_.push_back(r);
}

namespace {

// Whether two records are of one batch: the same task, template, device, tuner and iteration
// (with one lane, a batch's records are contiguous in the log).
bool same_batch(const Record& a, const Record& b) {
  return a.iteration == b.iteration && a.task_index == b.task_index &&
         a.template_name == b.template_name && a.device == b.device && a.tuner == b.tuner &&
         a.workload == b.workload;
}

} // namespace

std::vector<Record> TuningLog::snapshot() const {
  std::vector<Record> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = records_;
  }
  for (size_t begin = 0; begin < out.size();) {
    size_t end = begin + 1;
    while (end < out.size() && same_batch(out[begin], out[end])) ++end;
    std::stable_sort(out.begin() + long(begin), out.begin() + long(end),
                     [](const Record& a, const Record& b) { return a.index < b.index; });
    begin = end;
  }
  return out;
}

size_t TuningLog::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_.size();
}

void TuningLog::append_comment(const std::string& text) {
  std::string line = "# " + text;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::lock_guard<std::mutex> lock(mu_);
  write_line(line + "\n");
}

void TuningLog::write_line(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot write to tuning log '" + path_ + "': " + std::strerror(errno));
    done += size_t(n);
  }
}

} // namespace chameleon::tune
