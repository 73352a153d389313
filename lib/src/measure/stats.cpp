#include "chameleon/measure/stats.hpp"

#include <algorithm>
#include <cmath>

namespace chameleon::measure {

RoundStats summarize(const std::vector<double>& values) {
  RoundStats s;
  if (values.empty()) return s;
  std::vector<double> v = values;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  s.max = v.back();
  s.spread = s.median > 0 ? (s.max - s.min) / s.median : 0;
  return s;
}

int launches_per_round(double single_launch_ms, double min_repeat_ms, int max_number) {
  if (max_number < 1) max_number = 1;
  if (!(single_launch_ms > 0)) return max_number;
  double n = std::ceil(min_repeat_ms / single_launch_ms);
  return int(std::clamp(n, 1.0, double(max_number)));
}

} // namespace chameleon::measure
