#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// conv2d as an implicit GEMM (templates/conv2d_implicit_gemm.cu): output channels x pixels, the
// reduction over C*R*S, two cp.async shared-memory stages, 16-byte copies where aligned, split-K.
// conv2d_implicit_gemm multiplies with FP32 FMAs (block, warp and thread tile knobs);
// conv2d_implicit_gemm_tf32 with TF32 tensor cores (mma.sync m16n8k8, sm_80 and newer), only
// when the user allows TF32.
class ImplicitGemm final : public Template {
public:
  explicit ImplicitGemm(bool tf32) : tf32_(tf32) {}
  std::string name() const override {
    return tf32_ ? "conv2d_implicit_gemm_tf32" : "conv2d_implicit_gemm";
  }
  std::string autotvm_task_name() const override {
    return tf32_ ? "conv2d_nchw_implicit_gemm_tf32.chameleon"
                 : "conv2d_nchw_implicit_gemm.chameleon";
  }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string source_fingerprint() const override;

  bool tf32() const override { return tf32_; }
  int min_sm() const override { return tf32_ ? 80 : 0; }

protected:
  std::string shape_decline_reason(const task::Conv2dWorkload& wl) const override;

private:
  bool tf32_;
};

} // namespace chameleon::codegen
