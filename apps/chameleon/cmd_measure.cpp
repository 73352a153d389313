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
#include <memory>

namespace chameleon::app {

namespace {

struct MeasureArgs {
  NetworkOptions net;
  DeviceOptions dev;
  int task = 1;
  std::string config = "random";
  bool as_json = false;
};

void run_measure(const MeasureArgs& a) {
  LoadedNetwork loaded = load(a.net);
  TaskContext ctx = task_context(loaded, a.task);
  ResolvedDevice rd = resolve_device(a.dev);
  space::Config cfg = parse_config(ctx, rd.target, a.config, a.dev.measure.seed);

  std::string warning;
  std::string arch = measure::compile_arch_for(rd.target, rd.device == "sim", &warning);
  if (!warning.empty()) spdlog::warn("{}", warning);
  measure::BuildOptions bopts = a.dev.build;
  bopts.cache_dir = a.dev.no_cache ? "" : measure::default_cache_dir();
  bopts.jobs = 1;
  auto start = std::chrono::steady_clock::now();
  measure::Builder builder(rd.target, arch, bopts);
  auto runner = measure::make_runner(rd.device, rd.target, a.dev.measure, a.dev.gpu);
  measure::BuildResult b = builder.build({ctx.tmpl, ctx.task.workload, &ctx.space, cfg});
  measure::MeasureResult r = runner->run(ctx.task.workload, b);
  r.all_cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const double flops = double(ctx.task.workload.flops());
  if (a.as_json) {
    nlohmann::json out = {{"task", ctx.task.index},
                          {"workload", task::to_json(ctx.task.workload)},
                          {"template", ctx.tmpl->name()},
                          {"config", {{"index", cfg.index}, {"entity", ctx.space.entity_json(cfg)}}},
                          {"target", rd.target.name},
                          {"device", runner->device_name()},
                          {"device_fingerprint", runner->fingerprint()},
                          {"cached_build", b.cached},
                          {"result", measure::to_json(r)}};
    if (r.ok()) out["gflops"] = flops / r.median / 1e9;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "task " << ctx.task.index << " (" << ctx.task.workload.str() << "), config "
              << cfg.index << " on " << runner->device_name()
              << (r.simulated ? " [simulated]" : "") << ":\n  " << ctx.space.str(cfg) << "\n";
    if (r.ok()) {
      double gflops = flops / r.median / 1e9;
      std::cout << "  " << util::fixed(r.median * 1e6, 3) << " us (median of " << r.repeat
                << " rounds x " << r.number << " launches, spread "
                << util::fixed(r.spread * 100, 1) << "%), " << util::fixed(gflops, 1) << " GFLOPS ("
                << util::fixed(100 * gflops / rd.target.peak_fp32_gflops(), 1)
                << "% of the FP32 peak)\n";
    } else {
      std::cout << "  " << measure::error_name(r.error) << " (" << int(r.error) << "): " << r.message << "\n";
    }
    const auto& res = r.resources;
    std::cout << "  " << res.registers << " registers, " << res.static_smem << " bytes shared memory, "
              << res.spill_stores + res.spill_loads << " bytes spilled; compile "
              << (b.cached ? "cached" : util::fixed(b.compile_seconds, 3) + " s") << ", run "
              << util::fixed(r.run_seconds, 3) << " s, all " << util::fixed(r.all_cost, 3) << " s\n";
  }
  if (!r.ok()) throw Error("config " + std::to_string(cfg.index) + ": " + measure::error_name(r.error));
}

} // namespace

void add_measure_commands(CLI::App& app) {
  auto a = std::make_shared<MeasureArgs>();
  auto* cmd = app.add_subcommand("measure", "Build, verify and time one config of a task");
  add_network_options(*cmd, a->net);
  cmd->add_option("--task", a->task, "Task index (1-based, as 'chameleon tasks' lists)")->required();
  cmd->add_option("--config", a->config, "Config: index, entity JSON, or random")->capture_default_str();
  add_device_options(*cmd, a->dev);
  cmd->add_flag("--json", a->as_json, "Print JSON");
  cmd->callback([a] { run_measure(*a); });
}

} // namespace chameleon::app
