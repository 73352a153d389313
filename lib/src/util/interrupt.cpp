#include "chameleon/util/interrupt.hpp"

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace chameleon::util {

namespace {

std::atomic<bool> g_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

// SIGINT and SIGTERM both go to `handler` (sigaction is async-signal-safe: the handler uses it).
void handle_interrupts_with(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

extern "C" void on_interrupt(int) {
  // Only async-signal-safe calls here: the flag, write(2), and the default action back for the
  // next signal, so that a second Ctrl-C ends the process at once.
  g_requested.store(true);
  static const char kMessage[] =
      "\nchameleon: interrupted: stopping after the measurements in flight, which go to the log "
      "(Ctrl-C again to quit at once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
  handle_interrupts_with(SIG_DFL);
}

} // namespace

void install_interrupt_handler() {
  handle_interrupts_with(on_interrupt);
}

bool interrupt_requested() {
  return g_requested.load(std::memory_order_relaxed);
}

void set_interrupt_requested(bool requested) {
  g_requested.store(requested);
}

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace chameleon::util
