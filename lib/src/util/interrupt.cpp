#include "chameleon/util/interrupt.hpp"

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace chameleon::util {

namespace {

std::atomic<bool> g_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void on_interrupt(int sig) {
  // Only async-signal-safe calls here: the flag, write(2), and the default action back for the
  // next signal, so that a second Ctrl-C ends the process at once.
  g_requested.store(true);
  static const char kMessage[] =
      "\nchameleon: interrupted: stopping after the measurements in flight, which go to the log "
      "(Ctrl-C again to quit at once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGINT, &dfl, nullptr);
  ::sigaction(SIGTERM, &dfl, nullptr);
  (void)sig;
}

} // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_requested.load(std::memory_order_relaxed); }

void set_interrupt_requested(bool requested) { g_requested.store(requested); }

} // namespace chameleon::util
