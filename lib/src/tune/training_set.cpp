#include "training_set.hpp"

#include <algorithm>
#include <cmath>

namespace chameleon::tune {

namespace {
constexpr double kMinTransferWeight = 0.05;
} // namespace

void TrainingSet::add_own(const float* features, double throughput) {
  own_x_.insert(own_x_.end(), features, features + cols_);
  own_tp_.push_back(throughput);
}

void TrainingSet::add_transfer(const std::string& group, std::vector<float> features, double throughput) {
  auto& g = transfer_[group];
  g.x.insert(g.x.end(), features.begin(), features.end());
  g.tp.push_back(throughput);
}

bool TrainingSet::fit(model::CostModel& m) const {
  std::vector<float> x, y, w;
  const double transfer_weight = std::pow(0.5, double(own_tp_.size()) / 64.0);
  const double best = own_tp_.empty() ? 0.0 : *std::max_element(own_tp_.begin(), own_tp_.end());
  bool learnable = best > 0;
  if (best > 0) {
    x = own_x_;
    for (double v : own_tp_) {
      y.push_back(float(v / best));
      w.push_back(1.0f);
    }
  }
  if (transfer_weight >= kMinTransferWeight) {
    for (const auto& [name, g] : transfer_) {
      const double group_best = *std::max_element(g.tp.begin(), g.tp.end());
      if (group_best <= 0) continue;
      learnable = true;
      x.insert(x.end(), g.x.begin(), g.x.end());
      for (double v : g.tp) {
        y.push_back(float(v / group_best));
        w.push_back(float(transfer_weight));
      }
    }
  }
  if (!learnable) return false;
  m.fit(x, int(y.size()), cols_, y, w);
  return true;
}

} // namespace chameleon::tune
