#include "chameleon/measure/sim_runner.hpp"

#include "chameleon/measure/stats.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

namespace chameleon::measure {

namespace {

// Bump when the model changes: results of another model version are not comparable.
constexpr const char* kModelVersion = "sim-v2";
constexpr double kLaunchOverheadS = 2e-6;   // kernel launch inside a graph, end to end
constexpr double kStepLatencyCycles = 800;  // global load latency + two barriers per stage
constexpr double kL2ToSmBytesPerCycle = 64; // per SM
constexpr double kL2OverDram = 2.5;         // L2 bandwidth over DRAM bandwidth
constexpr double kNoise = 0.015;            // +- relative noise of a simulated measurement

double unit_hash(uint64_t key) {
  key += 0x9e3779b97f4a7c15ull;
  key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ull;
  key = (key ^ (key >> 27)) * 0x94d049bb133111ebull;
  key ^= key >> 31;
  return double(key >> 11) / double(1ull << 53);
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

} // namespace

SimEstimate simulate(const target::Target& t, const task::Conv2dWorkload& wl,
                     const codegen::KernelFeatures& f, const target::Resources& res,
                     uint64_t noise_key) {
  SimEstimate e;
  const auto& g = f.geometry;
  const int64_t threads = g.threads();
  const int64_t warps = target::warps_per_block(t, threads);
  // Uncompiled kernels (compile-free estimation) use the predicted registers.
  const int regs = std::max(1, target::kernel_registers(t, f.predicted_registers, &res));
  const int64_t smem = (res.static_smem > 0 ? res.static_smem : f.static_smem) + g.dynamic_smem;

  if (const target::LaunchCheck launch = target::check_launch(t, threads, regs); !launch.ok) {
    e.launchable = false;
    e.reason = "too many resources requested for launch (" + launch.reason + ")";
    return e;
  }
  const int64_t bps = target::blocks_per_sm(t, threads, regs, smem);
  if (bps < 1) {
    e.launchable = false;
    e.reason = "too many resources requested for launch (a block does not fit on an SM)";
    return e;
  }
  e.blocks_per_sm = int(bps);
  const int64_t blocks = g.blocks();
  const int64_t slots = bps * t.sm_count;
  e.waves = ceil_div(blocks, slots);
  e.active_sms = int(std::min<int64_t>(t.sm_count, blocks));

  // One block's work per reduction step, in SM cycles, when it has the SM to itself.
  const double steps = double(std::max<int64_t>(1, f.reduction_steps));
  const double acc = double(std::max<int64_t>(1, f.accumulators));
  const double iters = double(f.fma_per_thread) / (acc * steps);
  const double operands = f.smem_reads_per_fma * acc;
  const double loop_overhead = f.unrolled_loops >= 3 ? 0.5 : (f.unrolled_loops > 0 ? 1.5 : 3.0);
  const double spill_words = double(res.spill_loads + res.spill_stores) / 4.0;
  // TF32 tensor cores: one mma.sync per 32 multiply-adds of a lane, about 8x the FP32 FMA rate;
  // fp16/bf16 ones (m16n8k16): one per 64, about 16x.
  const double math_issue = f.f16_mma ? acc / 64.0 : f.tf32 ? acc / 32.0 : acc;
  const double math_rate = f.f16_mma ? 16.0 : f.tf32 ? 8.0 : 1.0;
  const double issue =
      double(warps) * iters * (math_issue + operands + loop_overhead + spill_words) / 4.0;
  const double fma = double(threads) * iters * acc / double(t.fp32_lanes_per_sm) / math_rate;
  const double lds = double(warps) * iters * operands * f.smem_conflict_ways;
  const double load_eff =
      std::max(0.05, 0.5 * (f.input_load_efficiency + f.weight_load_efficiency));
  const double gload = double(f.global_loads_per_block) / steps * task::dtype_bytes(f.dtype) /
                       load_eff / kL2ToSmBytesPerCycle;
  const double ilp = std::min(acc, 4.0);

  // A wave with b blocks per SM. The blocks share the SM's throughput, and hide each other's
  // latencies: the SM needs about 16 independent warp instructions in flight (4 schedulers x
  // 4 cycles). One block alone is bound by its own load latency and dependency chains.
  const double work = std::max({issue, fma, lds, gload});
  auto hiding = [&](int64_t b) { return std::min(1.0, double(b * warps) * ilp / 16.0); };
  auto wave_cycles = [&](int64_t b) {
    const double shared = double(b) * work / hiding(b);
    const double alone = kStepLatencyCycles + work / hiding(1);
    const double epilogue = 500.0 + double(warps * b) * acc / 4.0;
    return steps * std::max(shared, alone) + epilogue;
  };
  const int64_t full_waves = blocks / slots;
  const int64_t rest = blocks % slots;
  double cycles = double(full_waves) * wave_cycles(bps);
  if (rest > 0) cycles += wave_cycles(ceil_div(rest, t.sm_count));
  e.compute_s = cycles / (t.clock_mhz * 1e6);

  // Memory: compulsory DRAM traffic and L2 traffic (tile reloads, uncoalesced sectors, spills);
  // few active SMs cannot pull the full bandwidth.
  const double active = double(e.active_sms) / double(t.sm_count);
  const double dram_bytes = double(task::dtype_bytes(wl.dtype)) *
                            double(wl.input_elems() + wl.weight_elems() +
                                   wl.output_elems() * (wl.epilogue.residual ? 2 : 1));
  // Split-K blocks add into the output: every one of them reads and writes it through L2 (with a
  // workspace, each writes its own slice).
  const double out_passes = f.split_k <= 1 ? 1.0 : (g.workspace_splits > 0 ? 1.0 : 2.0) * f.split_k;
  const double l2_bytes =
      double(blocks) * double(f.global_loads_per_block) * 4.0 / load_eff +
      out_passes * 4.0 * double(wl.output_elems()) / std::max(0.05, f.store_efficiency) +
      double(res.spill_loads + res.spill_stores) * double(threads * blocks) * steps;
  const double dram_bw = t.mem_bandwidth_gbs * 1e9 * std::min(1.0, 2.0 * active);
  const double l2_bw = kL2OverDram * t.mem_bandwidth_gbs * 1e9 * active;
  e.memory_s = std::max(dram_bytes / dram_bw, l2_bytes / l2_bw);

  const double noise = 1.0 + kNoise * (2.0 * unit_hash(noise_key) - 1.0);
  // Zeroing the output first is another launch, bound by DRAM bandwidth; so is the reduction of
  // a workspace split-K (it reads every split's partial output and writes the output).
  const double out_bytes = 4.0 * double(wl.output_elems());
  const double bandwidth = t.mem_bandwidth_gbs * 1e9;
  double extra = 0.0;
  if (g.zero_output) extra += kLaunchOverheadS + out_bytes / bandwidth;
  if (g.workspace_splits > 0)
    extra += kLaunchOverheadS + double(g.workspace_splits + 1) * out_bytes / bandwidth;
  e.noiseless_s = std::max(e.compute_s, e.memory_s) + kLaunchOverheadS + extra;
  e.seconds = e.noiseless_s * noise;
  return e;
}

SimRunner::SimRunner(target::Target target, MeasureOptions options)
    : target_(std::move(target)), options_(options) {}

std::string SimRunner::device_name() const {
  return "sim:" + target_.name;
}

std::string SimRunner::fingerprint() const {
  return "sim:" + target_.name + " | " + target_.arch() + " | " + std::to_string(target_.sm_count) +
         " SMs | model " + kModelVersion;
}

MeasureResult SimRunner::run(const task::Conv2dWorkload& wl, const BuildResult& build) {
  auto start = std::chrono::steady_clock::now();
  MeasureResult r;
  r.simulated = true;
  r.resources = build.resources;
  r.compile_seconds = build.compile_seconds;
  r.settings = to_json(options_);
  r.settings["device"] = device_name();
  r.settings["model"] = kModelVersion;
  r.timestamp = double(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()) /
                1000.0;
  if (!build.ok()) {
    r.error = build.error;
    r.message = build.message;
    return r;
  }
  if (build.estimated) r.settings["resources"] = "estimated without compiling";
  uint64_t key = std::hash<std::string>{}(build.cache_key + wl.key()) ^ (options_.seed * 0x9e37ull);
  SimEstimate est = simulate(target_, wl, build.features, build.resources, key);
  if (!est.launchable) {
    r.error = ErrorNo::RuntimeDevice;
    r.message = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (simulated): " + est.reason;
    return r;
  }
  r.number = launches_per_round(est.seconds * 1e3, options_.min_repeat_ms, options_.max_number);
  r.repeat = std::max(1, options_.repeat);
  for (int i = 0; i < r.repeat; ++i) {
    // Round-to-round jitter, much smaller than the config-to-config noise.
    double jitter = 1.0 + 0.004 * (2.0 * unit_hash(key + uint64_t(i) + 1) - 1.0);
    r.costs.push_back(est.seconds * jitter);
  }
  RoundStats s = summarize(r.costs);
  r.median = s.median;
  r.spread = s.spread;
  r.run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

} // namespace chameleon::measure
