#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// Depthwise convolutions (one input channel per group; any channel multiplier) as a direct kernel
// (templates/conv2d_depthwise.cu): each block stages the input patch of its output tile, for a
// few channels, in shared memory once, and each thread computes a small tile of one channel. The
// implicit GEMM also takes these layers, as a GEMM of one row per group, which leaves it nothing
// to reuse: on an H200 it ran MobileNetV2's depthwise layers 1.2-3.7x slower than cuDNN.
class Conv2dDepthwise final : public Template {
public:
  std::string name() const override { return "conv2d_depthwise"; }
  std::string autotvm_task_name() const override { return "depthwise_conv2d_nchw.chameleon"; }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string source_fingerprint() const override;

  // Every type: 16-bit tensors are staged as float32 (a depthwise layer has no GEMM for the
  // tensor cores to speed up: one input channel per output).
  bool takes(task::DataType) const override { return true; }
  bool takes(task::Layout) const override { return true; }

protected:
  std::string shape_decline_reason(const task::Conv2dWorkload& wl) const override;
};

} // namespace chameleon::codegen
