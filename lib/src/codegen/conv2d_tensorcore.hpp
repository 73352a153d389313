#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// conv2d as an implicit GEMM on fp16/bf16 tensor cores (templates/conv2d_tensorcore.cu):
// mma.sync m16n8k16 with float32 accumulation, ldmatrix fragments, a 2-4 stage cp.async ring,
// warp and block tiles, split-K through a float32 workspace. Float16 and bfloat16 tasks only,
// sm_80 and newer.
class TensorCoreGemm : public Template {
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

// The same implicit GEMM on sm_90a's warpgroup-wide tensor-core multiply
// (wgmma.mma_async m64nNk16, both operands read from shared memory through descriptors), in
// warpgroups of 128 threads: 64-row tiles per warpgroup (mma_m), N = wgmma_n pixels per
// warpgroup, warpgroups_m x warpgroups_n warpgroups a block. Its kernels are compiled for sm_90a
// (arch-specific: H100 and H200 only).
class TensorCoreWgmma final : public TensorCoreGemm {
public:
  std::string name() const override { return "conv2d_wgmma"; }
  std::string autotvm_task_name() const override { return "conv2d_nchw_wgmma.chameleon"; }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string source_fingerprint() const override;

  int min_sm() const override { return 90; }
  int max_sm() const override { return 90; }
};

} // namespace chameleon::codegen
