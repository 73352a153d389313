#pragma once

#include <vector>

namespace chameleon::measure {

struct RoundStats {
  double median = 0, min = 0, max = 0;
  double spread = 0; // (max - min) / median
};

// Statistics of per-launch times; the median of an even count is the mean of the middle two.
RoundStats summarize(const std::vector<double>& values);

// Launches per round so that a round lasts at least min_repeat_ms, given one launch's time.
int launches_per_round(double single_launch_ms, double min_repeat_ms, int max_number);

} // namespace chameleon::measure
