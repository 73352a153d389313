#include "search.hpp"
#include "clock.hpp"

#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace chameleon::tune {

namespace {

// Bound on the validity and score caches of one task.
constexpr size_t kMaxCached = 2'000'000;
// transfer_trust: the transfer rows are checked once the task has this many records of its own.
constexpr int kTrustMinRows = 16;

double throughput(const Record& r) {
  return r.ok() && r.seconds() > 0 ? double(r.workload.flops()) / r.seconds() : 0.0;
}

// The fastest configs, best first: where PPO episodes start.
std::vector<space::Config> best_first(std::vector<std::pair<double, space::Config>> measured,
                                      size_t count) {
  std::sort(measured.begin(), measured.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<space::Config> out;
  for (size_t i = 0; i < measured.size() && i < count; ++i) out.push_back(measured[i].second);
  return out;
}

// The sim model's noiseless throughput (flop/s) for a kernel on the target, from its compiled
// resources (empty: the predicted registers); 0 when it cannot launch.
double sim_throughput(const target::Target& t, const task::Conv2dWorkload& wl,
                      const codegen::KernelFeatures& f, const target::Resources& res) {
  const measure::SimEstimate e = measure::simulate(t, wl, f, res, 0);
  return e.launchable && e.noiseless_s > 0 ? double(wl.flops()) / e.noiseless_s : 0.0;
}

// With o.sim_feature, sim_throughput over the target's FP32 peak as the cost model's last feature.
model::FeatureExtractor::Extra sim_feature(const TuneOptions& o, const target::Target& t) {
  if (!o.sim_feature) return {};
  return {"sim_efficiency", [t](const task::Conv2dWorkload& wl, const codegen::KernelFeatures& f,
                                const target::Resources* compiled) {
            const double tp = sim_throughput(t, wl, f, compiled ? *compiled : target::Resources{});
            return float(tp / (t.peak_fp32_gflops() * 1e9));
          }};
}

} // namespace

bool goal_met(const TuneOptions& o, const std::optional<Record>& best) {
  return o.goal_s > 0 && best && best->seconds() <= o.goal_s * (1 + 1e-9);
}

TemplateSearch::TemplateSearch(const task::Task& t, const codegen::Template& tmpl,
                               const TuneOptions& o, TuneEnv& env, TunerParts& parts)
    : task_(t), tmpl_(tmpl), o_(o), env_(env), parts_(parts),
      space_(env.runner.measurable_space(tmpl, t.workload)),
      fx_(tmpl, t.workload, space_, env.target, sim_feature(o, env.target)),
      rng_(o.seed ^ std::hash<std::string>{}(t.workload.key())), cost_model_(o.model),
      training_(fx_.size(), o.transfer_rows), compile_model_(o.model),
      compile_training_(fx_.size(), o.transfer_rows), transfer_model_(o.model),
      row_(size_t(fx_.size())) {
  out_.task = t;
  out_.template_name = tmpl.name();
  if (parts_.explorer) parts_.explorer->begin_task(space_);
}

bool TemplateSearch::valid(const space::Config& c) {
  auto it = valid_cache_.find(c.index);
  if (it != valid_cache_.end()) return it->second;
  return valid(c, tmpl_.features(task_.workload, space_, c));
}

bool TemplateSearch::valid(const space::Config& c, const codegen::KernelFeatures& f) {
  if (valid_cache_.size() > kMaxCached) valid_cache_.clear();
  // A config that makes the same kernel as another (KernelFeatures::duplicate) is left to it.
  const bool ok = codegen::tunable(env_.target, f);
  valid_cache_.emplace(c.index, ok);
  return ok;
}

std::vector<float> TemplateSearch::predict(const std::vector<space::Config>& configs) {
  if (score_cache_.size() > kMaxCached) score_cache_.clear();
  std::vector<space::Config> fresh;
  std::unordered_set<int64_t> queued;
  for (const auto& c : configs) {
    if (!score_cache_.count(c.index) && queued.insert(c.index).second) fresh.push_back(c);
  }
  if (!fresh.empty()) {
    std::vector<float> scores =
        cost_model_.predict(fx_.matrix(fresh), int(fresh.size()), fx_.size());
    for (size_t i = 0; i < fresh.size(); ++i) score_cache_[fresh[i].index] = scores[i];
  }
  std::vector<float> out;
  out.reserve(configs.size());
  for (const auto& c : configs) out.push_back(score_cache_.at(c.index));
  return out;
}

void TemplateSearch::consider(const Record& r, const space::Config& c) {
  ++out_.trials;
  if (r.ok()) measured_ok_.emplace_back(r.seconds(), c);
  if (r.result.error == measure::ErrorNo::Instantiation)
    ++out_.invalid;
  else if (!r.ok())
    ++out_.failed;
  if (r.ok() && (!out_.best || r.seconds() < out_.best->seconds())) {
    out_.best = r;
    out_.best_trial = out_.trials;
  }
  fx_.extract(c, &r.result.resources, row_.data());
  training_.add_own(row_.data(), throughput(r));
  if (o_.compile_aware > 0 && r.result.compile_seconds > 0) {
    compile_training_.add_own(row_.data(), 1.0 / r.result.compile_seconds);
  }
}

void TemplateSearch::transfer(const Record& r) {
  if (!o_.transfer || r.template_name != tmpl_.name()) return;
  const std::string key = r.workload.key();
  auto it = others_.find(key);
  if (it == others_.end()) {
    it = others_.emplace(key, std::make_pair(tmpl_.make_space(r.workload), nullptr)).first;
    it->second.second = std::make_unique<model::FeatureExtractor>(
        tmpl_, r.workload, it->second.first, env_.target, sim_feature(o_, env_.target));
  }
  try {
    space::Config c = it->second.first.from_entity(r.entity);
    std::vector<float> f(size_t(fx_.size()));
    it->second.second->extract(c, r.foreign ? nullptr : &r.result.resources, f.data());
    // Labels are relative to the best of the same workload on the same device.
    if (o_.compile_aware > 0 && r.result.compile_seconds > 0) {
      compile_training_.add_transfer(key + "@" + r.device, f, 1.0 / r.result.compile_seconds);
    }
    training_.add_transfer(key + "@" + r.device, std::move(f), throughput(r));
  } catch (const Error&) {
    // A record whose config does not fit this template's space teaches nothing.
  }
}

int TemplateSearch::resume(const std::vector<Record>& snapshot,
                           const std::vector<Record>* earlier) {
  int resumed = 0;
  const std::string fingerprint = env_.runner.fingerprint();
  for (const Record& r : snapshot) {
    const bool mine =
        r.workload == task_.workload && is_current(r, tmpl_, env_.target.name, fingerprint);
    if (!mine || !o_.resume) {
      transfer(r);
      continue;
    }
    try {
      space::Config c = space_.from_entity(r.entity);
      if (!visited_.insert(c.index).second) continue;
      consider(r, c);
      ++resumed;
    } catch (const Error& e) {
      spdlog::warn("{}: ignoring a record of task {}: {}", env_.log.path(), task_.index, e.what());
    }
  }
  if (earlier != nullptr) {
    for (const Record& r : *earlier) {
      space::Config c = space_.from_entity(r.entity);
      if (!visited_.insert(c.index).second) continue; // resumed from the log already
      consider(r, c);
      ++resumed;
    }
  }
  for (const Record& r : env_.history) transfer(r);
  seeds_pending_ = o_.transfer && o_.transfer_seeds > 0 && out_.trials == 0;
  return resumed;
}

std::vector<space::Config> TemplateSearch::find_seeds(const std::vector<Record>& log_records) {
  std::vector<const Record*> pool;
  for (const Record& r : log_records) pool.push_back(&r);
  for (const Record& r : env_.history) pool.push_back(&r);
  auto found = transfer_seeds(
      pool, tmpl_, task_.workload, space_, [this](const space::Config& c) { return valid(c); },
      visited_, size_t(o_.transfer_seeds));
  if (!found.empty()) {
    spdlog::debug("task {} {}: {} configs from similar tasks first", task_.index, tmpl_.name(),
                  found.size());
    seeds_pending_ = false;
  }
  return found;
}

double TemplateSearch::refit() {
  if (!parts_.explorer) return 0.0;
  auto fit_start = std::chrono::steady_clock::now();
  if (tune::transfer_trust(o_) && training_.transfer_rows() > 0 &&
      training_.own_rows() >= size_t(kTrustMinRows)) {
    check_transfer();
  }
  training_.fit(cost_model_);
  if (o_.compile_aware > 0) compile_training_.fit(compile_model_);
  score_cache_.clear();
  return since(fit_start);
}

void TemplateSearch::check_transfer() {
  // Refitted when the transfer rows have grown by a quarter (tasks side by side add theirs as
  // they go), not at every iteration.
  const size_t rows = training_.transfer_rows();
  if (!transfer_model_.trained() || double(rows) > 1.25 * double(transfer_model_rows_)) {
    transfer_model_rows_ = rows;
    if (!training_.fit_transfer(transfer_model_)) return;
  }
  if (!transfer_model_.trained()) return;
  const double agreement = training_.agreement(transfer_model_);
  training_.set_trust(std::clamp(agreement, 0.0, 1.0));
  trust_checked_ = true;
  spdlog::debug("task {} {}: transfer model against {} own records: Spearman {:.2f}", task_.index,
                tmpl_.name(), training_.own_rows(), agreement);
}

Stop TemplateSearch::stop_reason() const {
  if (out_.trials >= o_.trials) return {StopReason::TrialBudget};
  if (util::interrupt_requested()) return {StopReason::Interrupted};
  // Past the deadline, a template that has something for this task stops; one that has nothing
  // yet still measures one batch, so that every task gets kernels to choose from.
  if (o_.deadline && out_.trials > 0 && std::chrono::steady_clock::now() >= *o_.deadline) {
    return {StopReason::TimeLimit};
  }
  if (goal_met(o_, out_.best)) return {StopReason::Goal};
  if (o_.early_stopping > 0 && out_.best && out_.trials - out_.best_trial >= o_.early_stopping) {
    return {StopReason::EarlyStopping, o_.early_stopping};
  }
  return {};
}

std::vector<explore::Candidate> TemplateSearch::sim_ranked() {
  std::vector<explore::Candidate> out;
  const int64_t size = space_.size();
  const int pool = int(std::min<int64_t>(o_.sim_prior, size));
  std::unordered_set<int64_t> drawn;
  // Random draws of the space, as many tries as a sparse valid set needs, then the estimates.
  for (int64_t tries = 0; int(out.size()) < pool && tries < 20 * int64_t(pool); ++tries) {
    const space::Config c = space_.random(rng_);
    if (visited_.count(c.index) || !drawn.insert(c.index).second) continue;
    // The features once, for the validity check and the estimate.
    const codegen::KernelFeatures f = tmpl_.features(task_.workload, space_, c);
    if (!valid(c, f)) continue;
    const double tp = sim_throughput(env_.target, task_.workload, f, {});
    if (!(tp > 0)) continue;
    out.push_back({c, float(tp * 1e-12)});
  }
  std::sort(out.begin(), out.end(), [](const explore::Candidate& a, const explore::Candidate& b) {
    return a.score > b.score;
  });
  return out;
}

std::vector<space::Config> TemplateSearch::neighbors(int count,
                                                     const std::vector<space::Config>& skip) {
  if (count <= 0 || !cost_model_.trained() || measured_ok_.empty()) return {};
  std::unordered_set<int64_t> seen;
  for (const auto& c : skip) seen.insert(c.index);
  std::vector<space::Config> around;
  const size_t knobs = space_.knobs().size();
  for (const space::Config& from : best_first(measured_ok_, 4)) {
    for (size_t k = 0; k < knobs; ++k) {
      for (int d : {-1, 1}) {
        std::vector<int> deltas(knobs, 0);
        deltas[k] = d;
        space::Config c = space_.step(from, deltas);
        if (visited_.count(c.index) || !seen.insert(c.index).second || !valid(c)) continue;
        around.push_back(std::move(c));
      }
    }
  }
  if (around.empty()) return {};
  const std::vector<float> scores = predict(around);
  std::vector<size_t> order(around.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<space::Config> out;
  for (size_t i = 0; i < order.size() && int(out.size()) < count; ++i)
    out.push_back(around[order[i]]);
  return out;
}

std::vector<explore::Candidate> TemplateSearch::explore() {
  if (!parts_.explorer) return {};
  if (!cost_model_.trained())
    return o_.sim_prior > 0 ? sim_ranked() : std::vector<explore::Candidate>{};
  std::vector<space::Config> best_known = best_first(measured_ok_, 32);
  explore::ExploreContext ctx{space_,
                              [this](const std::vector<space::Config>& c) { return predict(c); },
                              [this](const space::Config& c) { return valid(c); },
                              visited_,
                              rng_,
                              plan_size(o_),
                              best_known};
  return parts_.explorer->explore(ctx);
}

std::vector<space::Config> TemplateSearch::sample(const std::vector<explore::Candidate>& candidates,
                                                  int want, std::vector<space::Config> seeds) {
  sample::SampleContext ctx{space_, [this](const space::Config& c) { return valid(c); }, visited_,
                            rng_};
  if (int(seeds.size()) > want) seeds.resize(size_t(want));
  for (const auto& c : seeds) visited_.insert(c.index); // not sampled again
  std::vector<space::Config> batch;
  if (want > int(seeds.size()))
    batch = parts_.sampler->sample(compile_aware(candidates), want - int(seeds.size()), ctx);
  batch.insert(batch.begin(), seeds.begin(), seeds.end());
  return batch;
}

std::vector<explore::Candidate>
TemplateSearch::compile_aware(std::vector<explore::Candidate> candidates) {
  if (o_.compile_aware <= 0 || !compile_model_.trained() || candidates.size() < 2)
    return candidates;
  std::vector<space::Config> configs;
  for (const auto& c : candidates) configs.push_back(c.config);
  const std::vector<float> quick =
      compile_model_.predict(fx_.matrix(configs), int(configs.size()), fx_.size());
  const auto [smin, smax] = std::minmax_element(
      candidates.begin(), candidates.end(),
      [](const explore::Candidate& a, const explore::Candidate& b) { return a.score < b.score; });
  const auto [qmin, qmax] = std::minmax_element(quick.begin(), quick.end());
  const float spread = smax->score - smin->score, qspan = *qmax - *qmin;
  if (spread <= 0 || qspan <= 0) return candidates;
  for (size_t i = 0; i < candidates.size(); ++i) {
    candidates[i].score += float(o_.compile_aware) * spread * (quick[i] - *qmin) / qspan;
  }
  return candidates;
}

void TemplateSearch::take(std::vector<Record> measured, const std::vector<space::Config>& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    visited_.insert(batch[i].index);
    ++out_.new_trials;
    consider(measured[i], batch[i]);
    out_.new_records.push_back(std::move(measured[i]));
  }
}

} // namespace chameleon::tune
