#pragma once

#include <chrono>

namespace chameleon::tune {

// The tuner's clock: wall time on a steady clock.
using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The point `fraction` (at most 1) of the way from now to `deadline`; the deadline once it is past.
inline Clock::time_point share_of(Clock::time_point deadline, double fraction) {
  const auto now = Clock::now();
  if (now >= deadline || fraction >= 1) return deadline;
  return now + std::chrono::duration_cast<Clock::duration>((deadline - now) * fraction);
}

} // namespace chameleon::tune
