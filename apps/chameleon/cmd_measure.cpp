// `chameleon measure`: build, verify and time one config on the GPU or the sim device.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>

namespace chameleon::app {

namespace {

struct MeasureArgs {
  NetworkOptions net;
  DeviceOptions dev;
  int task = 1;
  std::string tmpl; // --template
  std::string config = "random";
  int count = 1;
  bool as_json = false;
};

void print_one(const TaskContext& ctx, const space::Config& cfg, const measure::BuildResult& b,
               const measure::MeasureResult& r, const measure::Runner& runner,
               const target::Target& tgt) {
  const double flops = double(ctx.task.workload.flops());
  std::cout << "task " << ctx.task.index << " (" << ctx.task.workload.str() << "), config "
            << ctx.space.full_index(cfg) << " on " << runner.device_name()
            << (r.simulated ? " [simulated]" : "") << ":\n  " << ctx.space.str(cfg) << "\n";
  if (r.ok()) {
    double gflops = flops / r.median / 1e9;
    std::cout << "  " << util::fixed(r.median * 1e6, 3) << " us (median of " << r.repeat
              << " rounds x " << r.number << " launches, spread " << util::fixed(r.spread * 100, 1)
              << "%), " << util::fixed(gflops, 1) << " GFLOPS ("
              << util::fixed(100 * gflops / tgt.peak_fp32_gflops(), 1) << "% of the FP32 peak)\n";
    const std::string note = flops_count_note({ctx.tmpl->name()});
    if (!note.empty()) std::cout << "  " << note;
  } else {
    std::cout << "  " << measure::error_name(r.error) << " (" << int(r.error) << "): " << r.message
              << "\n";
  }
  const auto& res = r.resources;
  std::cout << "  " << res.registers << " registers, " << shared_memory_text(b) << ", "
            << res.spill_stores + res.spill_loads << " bytes spilled; compile "
            << (b.cached ? "cached" : util::fixed(r.compile_seconds, 3) + " s") << ", run "
            << util::fixed(r.run_seconds, 3) << " s\n";
}

nlohmann::json one_json(const TaskContext& ctx, const space::Config& cfg,
                        const measure::BuildResult& b, const measure::MeasureResult& r) {
  nlohmann::json out = {
      {"config", {{"index", ctx.space.full_index(cfg)}, {"entity", ctx.space.entity_json(cfg)}}},
      {"cached_build", b.cached},
      {"result", measure::to_json(r)}};
  if (r.ok()) out["gflops"] = double(ctx.task.workload.flops()) / r.median / 1e9;
  return out;
}

void run_measure(const MeasureArgs& a) {
  LoadedNetwork loaded = load(a.net);
  TaskContext ctx = task_context(loaded, a.task, a.tmpl);
  ResolvedDevice rd = resolve_device(a.dev);
  auto runner = make_device_runner(a.dev, rd, a.dev.gpu);
  // A recorded device measures its slices only: configs are drawn from the slice.
  if (const std::string why = runner->cannot_measure(*ctx.tmpl, ctx.task.workload); !why.empty()) {
    throw Error("task " + std::to_string(ctx.task.index) + " on " + runner->device_name() + ": " +
                why);
  }
  ctx.space = runner->measurable_space(*ctx.tmpl, ctx.task.workload);
  if (a.count > 1 && a.config != "random") throw Error("--count needs --config random");
  std::vector<space::Config> configs;
  for (int i = 0; i < a.count; ++i) {
    configs.push_back(parse_config(ctx, rd.target, a.config, a.dev.measure.seed + uint64_t(i)));
  }

  auto start = std::chrono::steady_clock::now();
  auto builder_ptr = make_builder(a.dev, rd);
  measure::Builder& builder = *builder_ptr;
  // All builds are queued at once: compiling the next configs overlaps measuring this one.
  std::vector<std::future<measure::BuildResult>> builds;
  for (const auto& c : configs)
    builds.push_back(builder.submit({ctx.tmpl, ctx.task.workload, &ctx.space, c}));

  nlohmann::json results = nlohmann::json::array();
  int failed = 0;
  std::map<std::string, int> by_error;
  double best = 0;
  for (size_t i = 0; i < configs.size(); ++i) {
    auto config_start = std::chrono::steady_clock::now();
    measure::BuildResult b = builds[i].get();
    measure::MeasureResult r = runner->run(ctx.task.workload, b);
    r.all_cost =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - config_start).count() +
        b.compile_seconds;
    if (!r.ok()) {
      ++failed;
      ++by_error[measure::error_name(r.error)];
    } else if (best == 0 || r.median < best) {
      best = r.median;
    }
    if (a.as_json) {
      results.push_back(one_json(ctx, configs[i], b, r));
    } else {
      print_one(ctx, configs[i], b, r, *runner, rd.target);
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = double(ctx.task.workload.flops());
  if (a.as_json) {
    nlohmann::json out = {{"task", ctx.task.index},
                          {"workload", task::to_json(ctx.task.workload)},
                          {"template", ctx.tmpl->name()},
                          {"target", rd.target.name},
                          {"device", runner->device_name()},
                          {"device_fingerprint", runner->fingerprint()},
                          {"simulated", runner->simulated()},
                          {"wall_seconds", wall},
                          {"configs_per_second", double(configs.size()) / wall},
                          {"failed", failed},
                          {"results", results}};
    if (best > 0) out["best_gflops"] = flops / best / 1e9;
    std::cout << out.dump(2) << "\n";
  } else if (configs.size() > 1) {
    std::cout << configs.size() << " configs in " << util::fixed(wall, 2) << " s ("
              << util::fixed(double(configs.size()) / wall, 1) << " configs/s, compile included, "
              << builder.jobs() << " compile jobs); " << configs.size() - size_t(failed) << " ok";
    for (const auto& [name, n] : by_error) std::cout << ", " << n << " " << name;
    if (best > 0)
      std::cout << "; best " << util::fixed(best * 1e6, 3) << " us ("
                << util::fixed(flops / best / 1e9, 1) << " GFLOPS)";
    std::cout << "\n";
  }
  if (failed > 0) {
    throw Error(std::to_string(failed) + " of " + std::to_string(configs.size()) +
                " configs failed to build or measure");
  }
}

} // namespace

void add_measure_commands(CLI::App& app) {
  auto a = std::make_shared<MeasureArgs>();
  auto* cmd = app.add_subcommand("measure", "Build, verify and time one config of a task");
  add_network_options(*cmd, a->net);
  add_config_options(*cmd, a->task, a->tmpl, a->config);
  cmd->add_option("--count", a->count,
                  "With --config random: measure this many random valid configs")
      ->check(at_least(1));
  add_device_options(*cmd, a->dev);
  cmd->add_flag("!--no-static-checks", a->dev.build.static_checks,
                "Build and run a config that the static checks rule out (to look into it)");
  cmd->add_flag("--json", a->as_json, "Print JSON");
  cmd->callback([a] { run_measure(*a); });
}

} // namespace chameleon::app
