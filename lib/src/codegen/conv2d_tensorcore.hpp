#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// conv2d as an implicit GEMM on fp16/bf16 tensor cores (templates/conv2d_tensorcore.cu):
// mma.sync m16n8k16 with float32 accumulation, ldmatrix fragments, a 2-4 stage cp.async ring,
// warp and block tiles, split-K through a float32 workspace. Float16 and bfloat16 tasks only,
// sm_80 and newer.
class TensorCoreGemm final : public Template {
public:
  std::string name() const override { return "conv2d_tensorcore"; }
  std::string autotvm_task_name() const override { return "conv2d_nchw_tensorcore.chameleon"; }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string source_fingerprint() const override;

  int min_sm() const override { return 80; }
  bool takes(task::DataType t) const override { return t != task::DataType::f32; }
  bool takes(task::Layout) const override { return true; }

protected:
  std::string shape_decline_reason(const task::Conv2dWorkload& wl) const override;
  std::string type_decline_reason(const task::Conv2dWorkload& wl) const override;
};

} // namespace chameleon::codegen
