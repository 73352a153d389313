#pragma once

#include "chameleon/util/error.hpp"

#include <csignal>

namespace chameleon::util {

// Ctrl-C (SIGINT) and SIGTERM during a long command. After install_interrupt_handler(), the first
// such signal only raises a flag that the command checks where it can stop cleanly (a tune stops
// after the batch in flight, whose records are already in its log, and prints what it has); the
// second ends the process at once, as if there were no handler. Without the handler, both keep
// their default action.
void install_interrupt_handler();
bool interrupt_requested();
// Raises or lowers the flag by hand (tests).
void set_interrupt_requested(bool requested);
// The signals above, SIGINT and SIGTERM, as a set: what worker processes block while they start.
sigset_t interrupt_signals();

// Thrown by a command that stopped because of the flag, after saying what it kept: the CLI prints
// its message and exits with 130, the shell's code for an interrupted command.
class Interrupted : public Error {
public:
  using Error::Error;
};

} // namespace chameleon::util
