#pragma once

#include "chameleon/task/workload.hpp"

#include <cstdint>
#include <vector>

namespace chameleon::measure {

enum class Tensor : int { Data = 0, Weight = 1, Bias = 2, Residual = 3 };

// The deterministic inputs of a measurement: uniform in [-1, 1), a pure function of the seed, the
// tensor and the element index, so that every process and machine sees the same numbers.
float input_value(uint64_t seed, Tensor which, int64_t index);
std::vector<float> make_tensor(uint64_t seed, Tensor which, int64_t count);

// The definition of conv2d (NCHW, KCRS, groups), accumulated in double: the ground truth that
// the GPU reference kernel is checked against.
std::vector<float> conv2d_cpu(const task::Conv2dWorkload& wl, const std::vector<float>& data,
                              const std::vector<float>& weight);

// The tensors of a measurement of `wl`, drawn from `seed` (make_tensor) and rounded to the task's
// type: data and weight, and the bias (float32, [K]) and residual (the output's shape) when its
// epilogue reads them, else empty.
struct TaskInputs {
  std::vector<float> data, weight, bias, residual;
};
TaskInputs make_inputs(const task::Conv2dWorkload& wl, uint64_t seed);
// The task's epilogue applied to a convolution's output, in place: act(conv + bias + residual),
// in float32, as the kernels compute it (templates/epilogue.cu).
void apply_epilogue(const task::Conv2dWorkload& wl, const TaskInputs& in, std::vector<float>& out);
// A tensor of the canonical order (data [N][C][H][W], weight [K][C/G][R][S], residual and output
// [N][K][OH][OW] as Tensor::Residual, bias [K]) in the task's layout: unchanged for an NCHW task;
// for an NHWC one data [N][H][W][C], weight [K][R][S][C/G], residual and output [N][OH][OW][K].
// make_inputs, conv2d_cpu and apply_epilogue work in the canonical order; a kernel's tensors are
// these.
std::vector<float> to_task_layout(const task::Conv2dWorkload& wl, Tensor which,
                                  const std::vector<float>& v);
// Each value rounded to the nearest value of type `t` (ties to even).
void round_to(task::DataType t, std::vector<float>& v);
// The values in the storage of type `t` (4 or 2 bytes each, little-endian), rounded as round_to.
std::vector<uint8_t> to_bytes(task::DataType t, const std::vector<float>& v);
// The value of one element of type `t` stored at `p`.
float from_bytes(task::DataType t, const void* p);

} // namespace chameleon::measure
