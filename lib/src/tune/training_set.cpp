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

void TrainingSet::add_transfer(const std::string& group, std::vector<float> features,
                               double throughput) {
  auto& g = transfer_[group];
  g.x.insert(g.x.end(), features.begin(), features.end());
  g.tp.push_back(throughput);
}

TrainingSet::Rows TrainingSet::rows() const {
  Rows r;
  const double transfer_weight = std::pow(0.5, double(own_tp_.size()) / 64.0);
  const double best = own_tp_.empty() ? 0.0 : *std::max_element(own_tp_.begin(), own_tp_.end());
  bool learnable = best > 0;
  if (best > 0) {
    r.x = own_x_;
    for (double v : own_tp_) {
      r.y.push_back(float(v / best));
      r.w.push_back(1.0f);
    }
  }
  if (transfer_weight >= kMinTransferWeight) {
    size_t count = 0;
    for (const auto& [name, g] : transfer_) count += g.tp.size();
    const double share = transfer_rows_ > 0 && count > size_t(transfer_rows_)
                             ? double(transfer_rows_) / double(count)
                             : 1.0;
    for (const auto& [name, g] : transfer_) {
      const double group_best = *std::max_element(g.tp.begin(), g.tp.end());
      if (group_best <= 0) continue;
      learnable = true;
      r.x.insert(r.x.end(), g.x.begin(), g.x.end());
      for (double v : g.tp) {
        r.y.push_back(float(v / group_best));
        r.w.push_back(float(transfer_weight * share));
      }
    }
  }
  if (!learnable) return {};
  return r;
}

bool TrainingSet::fit(model::CostModel& m) const {
  const Rows r = rows();
  if (r.y.empty()) return false;
  m.fit(r.x, int(r.y.size()), cols_, r.y, r.w);
  return true;
}

} // namespace chameleon::tune
