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
// the first batches without outvoting the task's own records later. set_trust scales the transfer
// rows' weight once more: how far a model of the transfer rows alone ranks the task's own records
// as they measured (agreement()).
class TrainingSet {
public:
  explicit TrainingSet(int cols, int transfer_rows = 0)
      : cols_(cols), transfer_rows_(transfer_rows) {}

  void add_own(const float* features, double throughput);
  void add_transfer(const std::string& group, std::vector<float> features, double throughput);
  size_t own_rows() const { return own_tp_.size(); }
  size_t transfer_rows() const;
  // Multiplies the transfer rows' weight (1 at first; 0 drops them).
  void set_trust(double trust) { trust_ = trust; }
  double trust() const { return trust_; }

  // What a fit trains on: rows (x, row-major), labels (each row's throughput over its group's
  // best) and weights. Empty when there is nothing to learn from (no successful measurement).
  struct Rows {
    std::vector<float> x, y, w;
  };
  Rows rows() const;
  // Fits the model on rows(); false when they are empty.
  bool fit(model::CostModel& m) const;
  // Fits the model on the transfer rows alone, each weighing 1; false when there are none.
  bool fit_transfer(model::CostModel& m) const;
  // Spearman's rank correlation of m's scores for the task's own rows and their throughputs
  // (failures 0): 1 when m ranks them as they measured, about 0 when no better than chance.
  double agreement(const model::CostModel& m) const;

private:
  // Appends the transfer rows, each group labelled against its own best, weighing `weight`
  // together with the transfer_rows cap; false when no group has a success.
  bool append_transfer(Rows& r, double weight) const;
  struct Group {
    std::vector<float> x;
    std::vector<double> tp;
  };
  int cols_;
  int transfer_rows_;
  double trust_ = 1.0;
  std::vector<float> own_x_;
  std::vector<double> own_tp_;
  std::map<std::string, Group> transfer_;
};

} // namespace chameleon::tune
