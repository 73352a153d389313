#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <sys/types.h>

namespace chameleon::util {

// One request or reply between chameleon and a worker process: a JSON header and a binary blob
// (a cubin, a source file).
struct Message {
  nlohmann::json header;
  std::string blob;
};

// Framing over a stream socket: [u64 header bytes][header][u64 blob bytes][blob]. write returns
// false when the peer is gone; read returns nullopt on a clean end of stream.
bool write_message(int fd, const Message& m);
std::optional<Message> read_message(int fd);

// A child process running this same executable in a worker role (`<exe> __chameleon_worker
// ROLE`), spoken to through a socket on its fd 3. A call that times out or finds the child dead
// kills and reaps it; the next call starts a fresh one. This is how a compile that hangs or a
// kernel that faults or hangs costs one config instead of the whole tuning run.
class WorkerProcess {
public:
  enum class Outcome { Ok, Timeout, Died };
  struct Reply {
    Outcome outcome = Outcome::Ok;
    Message message;
    std::string detail; // for Timeout/Died: what happened ("killed by signal 11")
  };

  explicit WorkerProcess(std::string role);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  Reply call(const Message& request, double timeout_s);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int starts() const { return starts_; } // how many processes were started so far
  void stop();                           // kills the child, if any

private:
  void start();
  std::string reap(bool kill_first);

  std::string role_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int starts_ = 0;
};

// The argv[1] that marks a worker invocation.
inline constexpr const char* kWorkerFlag = "__chameleon_worker";

} // namespace chameleon::util
