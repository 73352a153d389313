#pragma once

#include "chameleon/task/workload.hpp"

#include <cstdint>
#include <vector>

namespace chameleon::measure {

enum class Tensor : int { Data = 0, Weight = 1 };

// The deterministic inputs of a measurement: uniform in [-1, 1), a pure function of the seed, the
// tensor and the element index, so that every process and machine sees the same numbers.
float input_value(uint64_t seed, Tensor which, int64_t index);
std::vector<float> make_tensor(uint64_t seed, Tensor which, int64_t count);

// The definition of conv2d (NCHW, KCRS, groups), accumulated in double: the ground truth that
// the GPU reference kernel is checked against.
std::vector<float> conv2d_cpu(const task::Conv2dWorkload& wl, const std::vector<float>& data,
                              const std::vector<float>& weight);

} // namespace chameleon::measure
