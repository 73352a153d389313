#include "chameleon/tune/tuner.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace chameleon::tune {

namespace {

// How unlike two convolutions are: log ratios of the GEMM sizes (channels per group, output
// channels per group, output pixels) and of the groups, plus a step for another kernel or stride.
double unlikeness(const task::Conv2dWorkload& a, const task::Conv2dWorkload& b) {
  auto log_ratio = [](double x, double y) {
    return std::abs(std::log(std::max(x, 1.0) / std::max(y, 1.0)));
  };
  double d = log_ratio(a.c / a.groups, b.c / b.groups) + log_ratio(a.k / a.groups, b.k / b.groups) +
             log_ratio(double(a.n) * a.out_h() * a.out_w(), double(b.n) * b.out_h() * b.out_w()) +
             log_ratio(a.groups, b.groups);
  if (a.r != b.r || a.s != b.s) d += 1.0;
  if (a.stride_h != b.stride_h || a.stride_w != b.stride_w) d += 0.5;
  return d;
}

} // namespace

std::vector<space::Config> transfer_seeds(const std::vector<const Record*>& records,
                                          const codegen::Template& tmpl,
                                          const task::Conv2dWorkload& wl,
                                          const space::ConfigSpace& space,
                                          const std::function<bool(const space::Config&)>& valid,
                                          const std::unordered_set<int64_t>& skip, size_t count) {
  if (count == 0) return {};
  // Each other workload's verified records of the template as it is today (an older version's
  // times describe other kernels, and its configs may lack a knob), per device (times compare
  // only there).
  std::map<std::string, std::vector<const Record*>> groups;
  for (const Record* r : records) {
    if (r->template_name != tmpl.name() || !current_version(*r, tmpl) || !r->ok() ||
        r->workload == wl) {
      continue;
    }
    groups[r->workload.key() + "@" + r->device].push_back(r);
  }
  struct Candidate {
    size_t rank;       // 0: the group's fastest, 1: its second
    double unlikeness; // of its workload to this one
    const Record* record;
  };
  std::vector<Candidate> candidates;
  for (auto& [key, group] : groups) {
    std::sort(group.begin(), group.end(),
              [](const Record* a, const Record* b) { return a->seconds() < b->seconds(); });
    for (size_t i = 0; i < group.size() && i < 2; ++i) {
      candidates.push_back({i, unlikeness(wl, group[i]->workload), group[i]});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) {
                     return a.rank != b.rank ? a.rank < b.rank : a.unlikeness < b.unlikeness;
                   });
  std::vector<space::Config> out;
  std::unordered_set<int64_t> taken;
  for (const Candidate& c : candidates) {
    if (out.size() >= count) break;
    try {
      space::Config config = space.from_entity(c.record->entity);
      if (skip.count(config.index) || !taken.insert(config.index).second || !valid(config))
        continue;
      out.push_back(config);
    } catch (const Error&) {
      // The config does not fit this workload's space (shape-dependent knobs).
    }
  }
  return out;
}

} // namespace chameleon::tune
