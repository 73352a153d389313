#include "chameleon/util/file_lock.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace chameleon::util {

FileLock::FileLock(std::string path, std::function<void()> on_wait)
    : path_(std::move(path)), on_wait_(std::move(on_wait)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ >= 0) {
    ::fchmod(fd_, 0666); // past the umask; fails harmlessly on another user's file
  } else {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC); // another user's file, read-only to us
  }
  if (fd_ < 0)
    spdlog::debug("cannot open lock file {}: {}; going on without it", path_, std::strerror(errno));
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_); // releases the lock too
}

void FileLock::lock() {
  if (fd_ < 0) return;
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  if (errno == EWOULDBLOCK) {
    if (on_wait_) on_wait_();
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) break;
    }
    return;
  }
  spdlog::debug("cannot lock {}: {}; going on without it", path_, std::strerror(errno));
}

void FileLock::unlock() {
  if (fd_ >= 0) ::flock(fd_, LOCK_UN);
}

} // namespace chameleon::util
