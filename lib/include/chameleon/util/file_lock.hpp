#pragma once

#include <functional>
#include <string>

namespace chameleon::util {

// An exclusive lock that processes take in turns, on a file (flock): the GPU that several
// chameleon processes measure on (measure::gpu_turn_path). The file is created when missing,
// readable and writable by every user, so that anyone's process can take its turn. Where it cannot
// be opened or locked, lock() does nothing: a turn is a courtesy, never a reason to fail.
// Usable with std::lock_guard.
class FileLock {
public:
  // `on_wait` runs when lock() finds the lock taken, before it waits.
  explicit FileLock(std::string path, std::function<void()> on_wait = {});
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  void lock(); // blocks until this object holds the lock
  void unlock();
  bool usable() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

private:
  std::string path_;
  std::function<void()> on_wait_;
  int fd_ = -1;
};

} // namespace chameleon::util
