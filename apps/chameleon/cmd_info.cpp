// Commands that inspect without measuring: tasks, targets, compile, devices.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/cuda/device.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <set>

namespace chameleon::app {

namespace {

using util::Table;
using Align = util::Table::Align;

// The NVRTC that compiles for arch `sm` ("NVRTC 13.0"), or what it needs (`targets` says more).
std::string compiler_of(int sm) {
  if (const cuda::NvrtcLibrary* l = cuda::nvrtc_for(sm)) return "NVRTC " + l->version();
  return sm < 75 ? "needs NVRTC 12" : "needs a newer NVRTC";
}

// The templates a task can be tuned over (on a target of arch `sm`, 0: any), and in `too_new` those
// that would take it but need a newer arch than the target's.
std::vector<const codegen::Template*> task_templates(const task::Task& t, bool allow_tf32, int sm,
                                                     std::vector<std::string>& too_new) {
  std::vector<const codegen::Template*> tmpls;
  for (const codegen::Template* tmpl : codegen::templates()) {
    if ((!allow_tf32 && tmpl->tf32()) || !tmpl->decline_reason(t.workload).empty()) continue;
    if (!tmpl->runs_on(sm)) {
      too_new.push_back(tmpl->name() + " (" +
                        (tmpl->max_sm() == tmpl->min_sm()
                             ? "sm_" + std::to_string(tmpl->min_sm()) + " only"
                             : "needs sm_" + std::to_string(tmpl->min_sm())) +
                        ")");
      continue;
    }
    tmpls.push_back(tmpl);
  }
  return tmpls;
}

void run_tasks(const NetworkOptions& opts, bool allow_tf32, const std::string& target_name,
               bool as_json) {
  LoadedNetwork loaded = load(opts);
  allow_tf32 = allow_tf32 || loaded.tf32();
  const int sm = target_name.empty() ? 0 : target::find_preset(target_name).sm();
  std::set<std::string> too_new_all;
  nlohmann::json out = {{"network", loaded.net.name},
                        {"source", loaded.net.source},
                        {"input", loaded.net.input_shape.empty()
                                      ? nlohmann::json()
                                      : nlohmann::json(loaded.net.input_shape)},
                        {"precision", loaded.precision},
                        {"fused", loaded.fused},
                        {"layout", task::layout_name(loaded.layout)},
                        {"tasks", nlohmann::json::array()}};
  Table table({"task", "workload", "GFLOP", "count", "templates", "spaces"},
              {Align::Right, Align::Left, Align::Right, Align::Right, Align::Left, Align::Left});
  double total_gflop = 0;
  int conv_layers = 0;
  std::vector<std::string> declined;
  bool any_named_only = false; // a template marked *: tuned only when named
  for (const auto& t : loaded.tasks) {
    double gflop = double(t.workload.flops()) / 1e9;
    total_gflop += gflop * t.count;
    conv_layers += t.count;
    nlohmann::json j = {{"index", t.index},          {"workload", task::to_json(t.workload)},
                        {"shape", t.workload.str()}, {"gflop", gflop},
                        {"count", t.count},          {"layers", t.layers}};
    if (loaded.fused) j["fused"] = t.fused;
    // Every template the task can be tuned over, with its design space; those tune leaves out
    // unless named (--templates) are marked.
    std::vector<std::string> too_new;
    const std::vector<const codegen::Template*> tmpls = task_templates(t, allow_tf32, sm, too_new);
    too_new_all.insert(too_new.begin(), too_new.end());
    if (!too_new.empty()) j["needs_newer_arch"] = too_new;
    if (!tmpls.empty()) {
      std::vector<std::string> names, sizes;
      nlohmann::json all = nlohmann::json::array();
      for (const codegen::Template* tmpl : tmpls) {
        int64_t size = tmpl->make_space(t.workload).size();
        names.push_back(tmpl->name() + (tmpl->tuned_by_default() ? "" : "*"));
        any_named_only = any_named_only || !tmpl->tuned_by_default();
        sizes.push_back(util::with_commas(size));
        all.push_back({{"name", tmpl->name()},
                       {"space_size", size},
                       {"tuned_by_default", tmpl->tuned_by_default()}});
      }
      j["template"] = tmpls.front()->name();
      j["space_size"] = all.front().at("space_size");
      j["templates"] = all;
      table.add_row({std::to_string(t.index), t.workload.str(), util::fixed(gflop, 3),
                     std::to_string(t.count), util::join(names, " / "), util::join(sizes, " / ")});
    } else {
      j["template"] = nullptr;
      j["declined"] = codegen::decline_reasons(t.workload);
      declined.push_back(std::to_string(t.index));
      table.add_row({std::to_string(t.index), t.workload.str(), util::fixed(gflop, 3),
                     std::to_string(t.count), "-", "no template"});
    }
    out["tasks"].push_back(j);
  }
  out["conv2d_layers"] = conv_layers;
  out["total_gflop"] = total_gflop;
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (sm > 0) {
    std::cout << "for " << target_name << " (sm_" << sm << ", " << compiler_of(sm) << ")\n";
  }
  std::cout << loaded.net.name << " (" << loaded.net.source << "): "
            << (loaded.net.input_shape.empty()
                    ? std::string("inputs per layer")
                    : "input " + network::shape_str(loaded.net.input_shape))
            << ", " << conv_layers << " conv2d layers, " << loaded.tasks.size() << " unique tasks, "
            << util::fixed(total_gflop, 3) << " GFLOP of conv2d, " << loaded.precision
            << (loaded.layout == task::Layout::nhwc ? ", NHWC" : "")
            << (loaded.fused ? ", epilogues fused" : "") << "\n";
  table.print(std::cout);
  if (any_named_only) {
    std::cout << "* tuned only when named in --templates (conv2d_direct, AutoTVM's space, is "
                 "conv2d_direct_splitk's "
                 "with split 1)\n";
  }
  if (!too_new_all.empty()) {
    std::cout << "not for " << target_name << ": "
              << util::join(std::vector<std::string>(too_new_all.begin(), too_new_all.end()), ", ")
              << "\n";
  }
  if (!declined.empty()) {
    std::cout << "tasks " << util::join(declined, ", ")
              << " have no template that supports them (`chameleon compile --task N` says why): "
                 "tuning skips them\n";
  }
}

void run_targets(bool as_json) {
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : target::presets()) {
      auto j = target::to_json(t);
      const cuda::NvrtcLibrary* l = cuda::nvrtc_for(t.sm());
      j["nvrtc_supported"] = l != nullptr;
      j["nvrtc"] = l != nullptr ? nlohmann::json({{"version", l->version()}, {"path", l->path}})
                                : nlohmann::json();
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  Table table({"name", "arch", "SMs", "MHz", "FP32 TFLOPS", "smem/block (opt-in)", "L2 MB",
               "DRAM GB/s", "compiler", "description"},
              {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right,
               Align::Right, Align::Right, Align::Left, Align::Left});
  for (const auto& t : target::presets()) {
    table.add_row({t.name, t.arch(), std::to_string(t.sm_count), util::fixed(t.clock_mhz, 0),
                   util::fixed(t.peak_fp32_gflops() / 1000, 1),
                   std::to_string(t.smem_per_block_optin / 1024) + " KB",
                   util::fixed(double(t.l2_bytes) / (1 << 20), 1),
                   util::fixed(t.mem_bandwidth_gbs, 0), compiler_of(t.sm()), t.description});
  }
  table.print(std::cout);
  const auto& libs = cuda::nvrtc_libraries();
  if (libs.empty()) std::cout << "no NVRTC found: " << cuda::nvrtc_arch_problem(90) << "\n";
  for (const cuda::NvrtcLibrary& l : libs) {
    std::cout << "NVRTC " << l.version() << " (" << l.path << ") compiles for sm_"
              << util::join_numbers(l.archs, ", sm_") << "\n";
  }
  std::cout << "each target compiles with the newest NVRTC that can; 'auto' reads GPU 0\n";
}

struct CompileArgs {
  NetworkOptions net;
  int task = 1;
  std::string tmpl; // --template
  std::string config = "random";
  std::string target = "h100";
  bool source = false;
  std::string cubin; // --cubin: where to write the compiled cubin
  bool as_json = false;
  uint64_t seed = 0;
};

void run_compile(const CompileArgs& a) {
  LoadedNetwork loaded = load(a.net);
  TaskContext ctx = task_context(loaded, a.task, a.tmpl);
  target::Target tgt = resolve_target(a.target);
  space::Config cfg = parse_config(ctx, tgt, a.config, a.seed);
  if (a.source) {
    std::cout << ctx.tmpl->render(ctx.task.workload, ctx.space, cfg).code;
    return;
  }
  std::string warning;
  std::string arch = measure::compile_arch_for(tgt, false, &warning);
  measure::BuildOptions bopts;
  bopts.jobs = 1;
  bopts.isolate = false;
  measure::Builder builder(tgt, arch, bopts);
  measure::BuildResult b = builder.build({ctx.tmpl, ctx.task.workload, &ctx.space, cfg});
  const auto& g = b.features.geometry;
  nlohmann::json out = {{"task", ctx.task.index},
                        {"workload", ctx.task.workload.str()},
                        {"template", ctx.tmpl->name()},
                        {"target", tgt.name},
                        {"arch", arch},
                        {"config", {{"index", cfg.index}, {"entity", ctx.space.entity_json(cfg)}}},
                        {"grid", g.grid},
                        {"block", g.block},
                        {"ok", b.ok()},
                        {"error_no", int(b.error)},
                        {"error", measure::error_name(b.error)},
                        {"message", b.message},
                        {"resources", target::to_json(b.resources)},
                        {"compile_seconds", b.compile_seconds},
                        {"cubin_bytes", b.cubin.size()}};
  if (b.ok() && !a.cubin.empty()) {
    util::write_file(a.cubin, b.cubin);
    out["cubin"] = a.cubin;
  }
  if (a.as_json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "task " << ctx.task.index << " (" << ctx.task.workload.str() << "), "
              << ctx.tmpl->name() << ", config " << cfg.index << ":\n  " << ctx.space.str(cfg)
              << "\n  grid "
              << util::join_numbers(std::vector<uint32_t>(g.grid.begin(), g.grid.end()), "x")
              << ", block "
              << util::join_numbers(std::vector<uint32_t>(g.block.begin(), g.block.end()), "x")
              << ", target " << tgt.name << " (" << arch << ")\n";
    if (b.ok()) {
      const auto& r = b.resources;
      std::cout << "  compiled in " << util::fixed(b.compile_seconds, 3) << " s: " << r.registers
                << " registers, " << shared_memory_text(b) << ", " << r.spill_stores << "/"
                << r.spill_loads << " bytes spill stores/loads, " << b.cubin.size()
                << " bytes of cubin\n";
      if (!a.cubin.empty())
        std::cout << "  wrote the cubin to " << a.cubin
                  << " (cuobjdump -sass or nvdisasm shows its SASS)\n";
    } else {
      std::cout << "  " << measure::error_name(b.error) << " (" << int(b.error)
                << "): " << b.message << "\n";
    }
  }
  if (!b.ok()) throw Error("config " + std::to_string(cfg.index) + " did not build");
}

void run_devices(bool as_json) {
  std::string why;
  if (!measure::gpu_available(&why)) {
    if (as_json) {
      std::cout << nlohmann::json({{"devices", nlohmann::json::array()}, {"reason", why}}).dump(2)
                << "\n";
    } else {
      std::cout << "no GPU: " << why << "\n";
    }
    return;
  }
  auto devices = cuda::list_devices();
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : devices) out.push_back(cuda::to_json(d));
    std::cout << nlohmann::json({{"devices", out}}).dump(2) << "\n";
    return;
  }
  for (const auto& d : devices) {
    auto j = cuda::to_json(d);
    const std::string pci = cuda::pci_bus_id(d);
    std::cout << "GPU " << d.ordinal << ": " << d.name << ", sm_" << d.cc_major << d.cc_minor
              << ", " << d.sm_count << " SMs, " << util::fixed(j["memory_gib"].get<double>(), 1)
              << " GiB, L2 " << d.l2_bytes / (1 << 20) << " MB, driver "
              << j["driver_version"].get<std::string>()
              << (pci.empty() ? std::string() : ", PCI " + pci) << ", compiler "
              << compiler_of(d.cc_major * 10 + d.cc_minor) << "\n";
  }
}

} // namespace

void add_info_commands(CLI::App& app) {
  {
    auto opts = std::make_shared<NetworkOptions>();
    auto as_json = std::make_shared<bool>(false);
    auto* cmd =
        app.add_subcommand("tasks", "List a network's unique conv2d tasks and their design spaces");
    add_network_options(*cmd, *opts);
    auto allow_tf32 = std::make_shared<bool>(false);
    cmd->add_flag("--allow-tf32", *allow_tf32, "Also list the TF32 templates");
    auto target_name = std::make_shared<std::string>();
    cmd->add_option("--target", *target_name,
                    "Only the templates that run on this target (a preset: chameleon targets)");
    cmd->add_flag("--json", *as_json, "Print JSON");
    cmd->callback([opts, allow_tf32, target_name, as_json] {
      run_tasks(*opts, *allow_tf32, *target_name, *as_json);
    });
  }
  {
    auto as_json = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("targets", "List the GPU targets chameleon knows");
    cmd->add_flag("--json", *as_json, "Print JSON");
    cmd->callback([as_json] { run_targets(*as_json); });
  }
  {
    auto a = std::make_shared<CompileArgs>();
    auto* cmd = app.add_subcommand(
        "compile", "Generate and compile one config of a task with NVRTC (no GPU needed)");
    add_network_options(*cmd, a->net);
    add_config_options(*cmd, a->task, a->tmpl, a->config);
    cmd->add_option("--target", a->target, "Target preset, or auto")->capture_default_str();
    cmd->add_option("--seed", a->seed, "Seed for --config random")->capture_default_str();
    cmd->add_flag("--source", a->source, "Print the generated CUDA source instead of compiling");
    cmd->add_option("--cubin", a->cubin, "Also write the compiled cubin to this file");
    cmd->add_flag("--json", a->as_json, "Print JSON");
    cmd->callback([a] { run_compile(*a); });
  }
  {
    auto as_json = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("devices", "Report the GPUs the CUDA driver sees");
    cmd->add_flag("--json", *as_json, "Print JSON");
    cmd->callback([as_json] { run_devices(*as_json); });
  }
}

} // namespace chameleon::app
