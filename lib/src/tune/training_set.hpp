#pragma once

#include "chameleon/model/cost_model.hpp"

#include <map>
#include <string>
#include <vector>

namespace chameleon::tune {

// The cost model's training data for one task: the task's own records plus, for transfer, the
// records of other workloads (and of this one on other devices or template versions), each group
// labelled relative to its own best throughput. Transfer rows lose weight as the task's own
// records accumulate (AutoTVM discounts its base model by 1/2^(n/64)) and are dropped below 0.05.
class TrainingSet {
public:
  explicit TrainingSet(int cols) : cols_(cols) {}

  void add_own(const float* features, double throughput);
  void add_transfer(const std::string& group, std::vector<float> features, double throughput);
  size_t own_rows() const { return own_tp_.size(); }

  // Fits the model; false when there is nothing to learn from (no successful measurement).
  bool fit(model::CostModel& m) const;

private:
  struct Group {
    std::vector<float> x;
    std::vector<double> tp;
  };
  int cols_;
  std::vector<float> own_x_;
  std::vector<double> own_tp_;
  std::map<std::string, Group> transfer_;
};

} // namespace chameleon::tune
