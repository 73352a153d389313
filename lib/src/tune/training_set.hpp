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
// With transfer_rows > 0, the transfer rows together weigh at most as much as that many rows
// (before the discount), however many there are: a history of thousands of records then informs
// the first batches without outvoting the task's own records later.
class TrainingSet {
public:
  explicit TrainingSet(int cols, int transfer_rows = 0)
      : cols_(cols), transfer_rows_(transfer_rows) {}

  void add_own(const float* features, double throughput);
  void add_transfer(const std::string& group, std::vector<float> features, double throughput);
  size_t own_rows() const { return own_tp_.size(); }

  // What a fit trains on: rows (x, row-major), labels (each row's throughput over its group's
  // best) and weights. Empty when there is nothing to learn from (no successful measurement).
  struct Rows {
    std::vector<float> x, y, w;
  };
  Rows rows() const;
  // Fits the model on rows(); false when they are empty.
  bool fit(model::CostModel& m) const;

private:
  struct Group {
    std::vector<float> x;
    std::vector<double> tp;
  };
  int cols_;
  int transfer_rows_;
  std::vector<float> own_x_;
  std::vector<double> own_tp_;
  std::map<std::string, Group> transfer_;
};

} // namespace chameleon::tune
