#include "training_set.hpp"

#include "chameleon/tune/fidelity.hpp"

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

size_t TrainingSet::transfer_rows() const {
  size_t count = 0;
  for (const auto& [name, g] : transfer_) count += g.tp.size();
  return count;
}

bool TrainingSet::append_transfer(Rows& r, double weight) const {
  const size_t count = transfer_rows();
  const double share = transfer_rows_ > 0 && count > size_t(transfer_rows_)
                           ? double(transfer_rows_) / double(count)
                           : 1.0;
  bool learnable = false;
  for (const auto& [name, g] : transfer_) {
    const double group_best = *std::max_element(g.tp.begin(), g.tp.end());
    if (group_best <= 0) continue;
    learnable = true;
    r.x.insert(r.x.end(), g.x.begin(), g.x.end());
    for (double v : g.tp) {
      r.y.push_back(float(v / group_best));
      r.w.push_back(float(weight * share));
    }
  }
  return learnable;
}

TrainingSet::Rows TrainingSet::rows() const {
  Rows r;
  const double transfer_weight = trust_ * std::pow(0.5, double(own_tp_.size()) / 64.0);
  const double best = own_tp_.empty() ? 0.0 : *std::max_element(own_tp_.begin(), own_tp_.end());
  bool learnable = best > 0;
  if (best > 0) {
    r.x = own_x_;
    for (double v : own_tp_) {
      r.y.push_back(float(v / best));
      r.w.push_back(1.0f);
    }
  }
  if (transfer_weight >= kMinTransferWeight && append_transfer(r, transfer_weight))
    learnable = true;
  if (!learnable) return {};
  return r;
}

bool TrainingSet::fit(model::CostModel& m) const {
  const Rows r = rows();
  if (r.y.empty()) return false;
  m.fit(r.x, int(r.y.size()), cols_, r.y, r.w);
  return true;
}

bool TrainingSet::fit_transfer(model::CostModel& m) const {
  Rows r;
  if (!append_transfer(r, 1.0)) return false;
  m.fit(r.x, int(r.y.size()), cols_, r.y, r.w);
  return true;
}

double TrainingSet::agreement(const model::CostModel& m) const {
  const std::vector<float> scores = m.predict(own_x_, int(own_tp_.size()), cols_);
  return spearman(std::vector<double>(scores.begin(), scores.end()), own_tp_);
}

} // namespace chameleon::tune
