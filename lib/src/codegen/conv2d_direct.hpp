#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// AutoTVM's direct conv2d schedule (templates/conv2d_direct.cu): the baseline's design space.
// With split_k, conv2d_direct_splitk: tile_rc splits the input channels in three, [RC0, SPLIT_K,
// RC1], and SPLIT_K blocks add their partial sums into a zeroed output, so that layers with few
// output tiles and many channels fill the GPU.
class Conv2dDirect final : public Template {
public:
  explicit Conv2dDirect(bool split_k = false) : split_k_(split_k) {}
  std::string name() const override { return split_k_ ? "conv2d_direct_splitk" : "conv2d_direct"; }
  // AutoTVM has no split-K task: its records would not read as conv2d_nchw.cuda ones.
  std::string autotvm_task_name() const override {
    return split_k_ ? "conv2d_nchw_splitk.chameleon" : "conv2d_nchw.cuda";
  }
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string source_fingerprint() const override;

  // The direct schedule is conv2d_direct_splitk's with split 1: tuned only when named (AutoTVM's
  // baseline space, `--templates conv2d_direct`).
  bool tuned_by_default() const override { return split_k_; }

protected:
  std::string shape_decline_reason(const task::Conv2dWorkload& wl) const override;

private:
  bool split_k_;
};

} // namespace chameleon::codegen
