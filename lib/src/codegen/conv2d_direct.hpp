#pragma once

#include "chameleon/codegen/template.hpp"

namespace chameleon::codegen {

// AutoTVM's direct conv2d schedule (templates/conv2d_direct.cu): the baseline's design space.
class Conv2dDirect final : public Template {
public:
  std::string name() const override { return "conv2d_direct"; }
  std::string autotvm_task_name() const override { return "conv2d_nchw.cuda"; }
  std::string decline_reason(const task::Conv2dWorkload& wl) const override;
  space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const override;
  KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                      const space::Config& cfg) const override;
  KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                          const space::Config& cfg) const override;
  std::string fingerprint() const override;
};

} // namespace chameleon::codegen
