#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// 3x3 convolutions with stride 1, no dilation and no groups by Winograd's F(2x2, 3x3) or
// F(4x4, 3x3) (templates/conv2d_winograd.cu): one fused kernel transforms input patches and weights
// into 16 or 36 components in shared memory, multiplies them as small GEMMs over the input channels
// (16 multiply-adds per channel for a 2x2 output tile, 36 for a 4x4 one, where the direct form
// takes 36 and 144) and transforms the sums back to outputs. Knobs: the output tile, the channels
// of a reduction slice, each component's thread tile and lanes, split-K. float32, float16 and
// bfloat16 tensors, all arithmetic in float32.
class Conv2dWinograd : public Template {
public:
  std::string name() const override { return "conv2d_winograd"; }
  bool takes(task::DataType) const override { return true; }
  std::string autotvm_task_name() const override { return "conv2d_nchw_winograd.chameleon"; }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  // 2 x K x C x (output tiles) x (tile + 2)^2: the element-wise products of F(m x m, 3 x 3)
  // (the transforms' additions not counted).
  double arithmetic_flops(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;

protected:
  std::string source_fingerprint() const override;
  std::string shape_decline_reason(const task::Conv2dWorkload& wl) const override;
};

// The same fused F(2x2, 3x3) kernel with its 16 component GEMMs on the fp16/bf16 tensor cores
// (mma.sync m16n8k16, float32 accumulation): the transforms in float32, the components rounded
// to the task's type in shared memory, each warp multiplying whole components. Float16 and
// bfloat16 tasks, sm_80 and newer. Knobs: the channels of a slice, the block's output channels
// and tiles, its warps, split-K (through the workspace).
class Conv2dWinogradTc final : public Conv2dWinograd {
public:
  std::string name() const override { return "conv2d_winograd_tc"; }
  bool takes(task::DataType t) const override { return t != task::DataType::f32; }
  std::string autotvm_task_name() const override { return "conv2d_nchw_winograd_tc.chameleon"; }
  int min_sm() const override { return 80; }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  // 2 x K x C x (output tiles) x 16.
  double arithmetic_flops(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;

protected:
  std::string source_fingerprint() const override;
  std::string type_decline_reason(const task::Conv2dWorkload& wl) const override;
};

} // namespace chameleon::codegen
