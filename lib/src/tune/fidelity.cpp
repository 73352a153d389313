#include "chameleon/tune/fidelity.hpp"

#include "chameleon/measure/sim_runner.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace chameleon::tune {

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> out(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean_rank = 0.5 * double(i + j);
    for (size_t k = i; k <= j; ++k) out[order[k]] = mean_rank;
    i = j + 1;
  }
  return out;
}

} // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = std::min(a.size(), b.size());
  if (n < 2) return 0;
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double mean = 0.5 * double(n - 1);
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < n; ++i) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) * (ra[i] - mean);
    vb += (rb[i] - mean) * (rb[i] - mean);
  }
  return va > 0 && vb > 0 ? cov / std::sqrt(va * vb) : 0.0;
}

SimFidelity sim_fidelity(const SliceRecording& rec) {
  SimFidelity out;
  const space::ConfigSpace space = rec.slice.space();
  const codegen::Template& tmpl = rec.slice.tmpl();
  std::vector<double> measured, predicted;
  for (const Record& r : rec.records) {
    const space::Config c = space.from_entity(r.entity);
    const codegen::KernelFeatures f = tmpl.features(rec.slice.workload, space, c);
    const measure::SimEstimate e =
        measure::simulate(rec.target, rec.slice.workload, f, r.result.resources, 0);
    if (!r.ok()) {
      // Resource failures (error 1) are the compiled check's: the sim would not run them either.
      if (e.launchable && r.result.error != measure::ErrorNo::Instantiation)
        ++out.failed_launchable;
      continue;
    }
    if (!e.launchable) {
      ++out.sim_unlaunchable;
      continue;
    }
    measured.push_back(r.seconds());
    predicted.push_back(e.noiseless_s); // the model's ranking, without the sim's made-up noise
  }
  out.compared = int(measured.size());
  if (measured.empty()) return out;
  out.spearman = spearman(measured, predicted);
  const std::vector<double> rm = ranks(measured), rp = ranks(predicted);
  const double n = double(measured.size());
  const double top1 = std::max(1.0, std::floor(0.01 * n));
  const double top5 = std::max(1.0, std::floor(0.05 * n));
  int in = 0;
  for (size_t i = 0; i < measured.size(); ++i) {
    if (rm[i] < top1) {
      ++out.top1;
      if (rp[i] < top5) ++in;
    }
  }
  out.top1_in_sim_top5 = out.top1 > 0 ? double(in) / out.top1 : 0.0;
  const size_t pick =
      size_t(std::min_element(predicted.begin(), predicted.end()) - predicted.begin());
  out.sim_pick = *std::min_element(measured.begin(), measured.end()) / measured[pick];
  return out;
}

} // namespace chameleon::tune
