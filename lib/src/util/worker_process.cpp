#include "chameleon/util/worker_process.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace chameleon::util {

namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= size_t(n);
  }
  return true;
}

// Reads exactly `size` bytes; with a deadline, waits no longer than it. Returns 1 when done,
// 0 at end of stream, -1 at the deadline.
int read_all(int fd, char* data, size_t size, const Clock::time_point* deadline) {
  while (size > 0) {
    if (deadline != nullptr) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) return -1;
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 1 << 30)));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return -1;
    }
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    data += n;
    size -= size_t(n);
  }
  return 1;
}

// -1 deadline, 0 end of stream, 1 message read.
int read_message_until(int fd, Message& out, const Clock::time_point* deadline) {
  uint64_t size = 0;
  std::string header;
  for (int part = 0; part < 2; ++part) {
    int r = read_all(fd, reinterpret_cast<char*>(&size), sizeof(size), deadline);
    if (r != 1) return r;
    std::string& dst = part == 0 ? header : out.blob;
    dst.resize(size_t(size));
    r = read_all(fd, dst.data(), dst.size(), deadline);
    if (r != 1) return r == 0 ? 0 : -1;
  }
  out.header = nlohmann::json::parse(header);
  return 1;
}

std::string self_exe() {
  std::vector<char> buf(4096);
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) throw Error("cannot find this executable (/proc/self/exe) to start a worker");
  return std::string(buf.data(), size_t(n));
}

} // namespace

bool write_message(int fd, const Message& m) {
  std::string header = m.header.dump();
  uint64_t sizes[2] = {header.size(), m.blob.size()};
  return write_all(fd, reinterpret_cast<const char*>(&sizes[0]), 8) &&
         write_all(fd, header.data(), header.size()) &&
         write_all(fd, reinterpret_cast<const char*>(&sizes[1]), 8) &&
         write_all(fd, m.blob.data(), m.blob.size());
}

std::optional<Message> read_message(int fd) {
  Message m;
  if (read_message_until(fd, m, nullptr) != 1) return std::nullopt;
  return m;
}

WorkerProcess::WorkerProcess(std::string role) : role_(std::move(role)) {}

WorkerProcess::~WorkerProcess() {
  stop();
}

void WorkerProcess::start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw Error(std::string("cannot create a worker socket: ") + std::strerror(errno));
  }
  // The child's end must not already be fd 3 (dup2 onto itself would keep close-on-exec).
  int child_end = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  ::close(sv[1]);
  std::string exe = self_exe();
  std::vector<std::string> args = {exe, kWorkerFlag, role_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, 3);
  // The worker starts with Ctrl-C's signals blocked, so that one sent while it loads cannot kill
  // it before it ignores them (a signal pending when it is ignored is dropped).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  const sigset_t blocked = interrupt_signals();
  posix_spawnattr_setsigmask(&attr, &blocked);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(child_end);
  if (rc != 0) {
    ::close(sv[0]);
    throw Error("cannot start a " + role_ + " worker (" + exe + "): " + std::strerror(rc));
  }
  pid_ = pid;
  fd_ = sv[0];
  ++starts_;
}

std::string WorkerProcess::reap(bool kill_first) {
  if (pid_ <= 0) return "";
  if (kill_first) ::kill(pid_, SIGKILL);
  ::close(fd_);
  fd_ = -1;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  if (r > 0 && WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  if (r > 0 && WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "vanished";
}

void WorkerProcess::stop() {
  reap(true);
}

WorkerProcess::Reply WorkerProcess::call(const Message& request, double timeout_s) {
  if (pid_ <= 0) start();
  Reply reply;
  if (!write_message(fd_, request)) {
    reply.outcome = Outcome::Died;
    reply.detail = "the " + role_ + " worker " + reap(false);
    return reply;
  }
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout_s));
  int r = read_message_until(fd_, reply.message, &deadline);
  if (r == 1) return reply;
  if (r < 0) {
    reply.outcome = Outcome::Timeout;
    reap(true);
    reply.detail = "no answer from the " + role_ + " worker within " + fixed(timeout_s, 1) +
                   " s; it was killed";
  } else {
    reply.outcome = Outcome::Died;
    reply.detail = "the " + role_ + " worker " + reap(false);
  }
  return reply;
}

} // namespace chameleon::util
