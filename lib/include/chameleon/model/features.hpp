#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/target/resources.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/workload.hpp"

#include <functional>
#include <string>
#include <vector>

namespace chameleon::model {

// The cost model's view of a config: the knob values (split parts on a log2 scale, other knobs
// as log2(1+v)) followed by derived figures (threads, blocks, waves on the target, shared memory,
// registers, virtual threads, work per thread, reduction steps, access efficiencies, unrolling).
// The layout depends only on the template's knobs, so records of different tasks of one template
// can train one model (transfer).
class FeatureExtractor {
public:
  // One more feature, last, computed by a layer above (tune's sim estimate, --sim-feature) from
  // the workload, the config's kernel features and its compiled resources (null: not compiled).
  struct Extra {
    std::string name;
    std::function<float(const task::Conv2dWorkload&, const codegen::KernelFeatures&,
                        const target::Resources*)>
        value;
  };
  FeatureExtractor(const codegen::Template& tmpl, const task::Conv2dWorkload& wl,
                   const space::ConfigSpace& space, const target::Target& target, Extra extra = {});

  int size() const { return size_; }
  std::vector<std::string> names() const;
  // Registers: the compiled count when known, else the template's prediction.
  void extract(const space::Config& c, const target::Resources* compiled, float* out) const;
  // Row-major matrix, one row per config.
  std::vector<float> matrix(const std::vector<space::Config>& configs) const;

private:
  const codegen::Template& tmpl_;
  task::Conv2dWorkload wl_;
  const space::ConfigSpace& space_;
  target::Target target_;
  Extra extra_;
  int size_ = 0;
};

} // namespace chameleon::model
