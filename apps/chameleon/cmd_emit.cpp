// `replay`, `bench` and `report`: from a tuning log to deployable kernels, their speed against
// cuDNN, and figures.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/emit/bench.hpp"
#include "chameleon/emit/replay.hpp"
#include "chameleon/emit/report.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

namespace chameleon::app {

namespace {

namespace fs = std::filesystem;

std::string default_kernels_dir(const std::string& log) {
  fs::path p(log);
  return (p.parent_path() / (p.stem().string() + "-kernels")).string();
}

void run_replay(const std::string& log, std::string out, emit::ReplayOptions options,
                bool as_json) {
  if (out.empty()) out = default_kernels_dir(log);
  options.cache_dir = measure::default_cache_dir();
  auto result = emit::replay(log, out, options);
  const auto& sel = result.selection;
  if (as_json) {
    std::cout << to_json(result.manifest).dump(2) << "\n";
  } else {
    std::cout << "replayed " << log << " (" << sel.device << ") into " << out << ": "
              << util::count_of(int64_t(sel.best.size()), "kernel") << "\n";
    using Align = util::Table::Align;
    util::Table table(
        {"kernel", "workload", "count", "us", "GFLOPS", "template", "config", "registers"},
        {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Left,
         Align::Right, Align::Right});
    for (const emit::ManifestKernel& k : result.manifest.kernels) {
      table.add_row({k.name, k.workload.str(), std::to_string(k.count),
                     util::fixed(k.seconds * 1e6, 2), util::fixed(k.gflops, 0), k.template_name,
                     std::to_string(k.config_index), std::to_string(k.resources.registers)});
    }
    table.print(std::cout);
    if (result.manifest.simulated) {
      std::cout << "note: the times are from the sim device, not a GPU\n";
    }
    if (sel.devices.size() > 1) {
      std::cout << "the log also has records of: " << util::join(sel.devices, ", ")
                << " (--device to pick)\n";
    }
  }
  emit::warn_selection(sel);
  if (sel.best.empty()) throw Error(log + ": no kernel to emit (above: why for each task)");
}

struct BenchArgs {
  std::string input; // kernels folder or log
  std::string device_name;
  std::string log_arch;        // with a log: --arch
  std::string device = "auto"; // cuda, sim or auto (cuda; there is no cuDNN on the sim)
  std::string target;          // sim only: the preset to simulate (default: the manifest's)
  DeviceOptions dev;
  bool allow_tf32 = false;
  bool as_json = false;
  std::vector<std::string> baselines;
};

// After the table: a kernel that could not be timed fails the bench (exit 1), so that a CI job
// notices a damaged folder or a kernel that no longer runs.
void throw_if_failed(int failed, size_t kernels) {
  if (failed > 0) {
    std::cout.flush();
    throw Error(std::to_string(failed) + " of " + util::count_of(int64_t(kernels), "kernel") +
                " could not be timed (the warnings above say why)");
  }
}

nlohmann::json bench_json(const emit::BenchResult& r, bool allow_tf32) {
  nlohmann::json rows = nlohmann::json::array();
  for (const emit::BenchRow& row : r.rows) {
    rows.push_back({{"kernel", row.kernel},
                    {"workload", row.shape},
                    {"count", row.count},
                    {"template", row.template_name},
                    {"flops", row.flops},
                    {"arithmetic_flops", row.arithmetic_flops},
                    {"ours", measure::to_json(row.ours)},
                    {"cudnn", r.simulated ? nlohmann::json() : measure::to_json(row.cudnn)}});
    if (!r.baselines.empty()) {
      nlohmann::json b = nlohmann::json::array();
      for (size_t i = 0; i < row.baselines.size(); ++i) {
        const auto& e = row.baselines[i];
        b.push_back({{"name", r.baselines[i].name},
                     {"seconds", e.seconds > 0 ? nlohmann::json(e.seconds) : nlohmann::json()},
                     {"error", e.error}});
      }
      rows.back()["baselines"] = b;
      rows.back()["fastest_baseline"] = row.fastest_s > 0 ? nlohmann::json(row.fastest) : nullptr;
      rows.back()["fastest_baseline_seconds"] =
          row.fastest_s > 0 ? nlohmann::json(row.fastest_s) : nullptr;
    }
  }
  nlohmann::json baselines = nlohmann::json::array();
  for (size_t i = 0; i < r.baselines.size(); ++i) {
    const emit::Baseline& b = r.baselines[i];
    baselines.push_back({{"name", b.name},
                         {"file", b.file},
                         {"description", b.description},
                         {"device", b.device},
                         {"date", b.date},
                         {"total_seconds", r.baseline_total_s[i]},
                         {"complete", bool(r.baseline_complete[i])}});
  }
  nlohmann::json missing = nlohmann::json::array();
  for (const emit::MissingKernel& m : r.missing)
    missing.push_back({{"shape", m.shape}, {"reason", m.reason}});
  return {{"device", r.device_name},
          {"simulated", r.simulated},
          {"manifest", r.manifest_log},
          {"allow_tf32", allow_tf32},
          {"dtypes", r.dtypes},
          {"fused_kernels", r.fused},
          {"cudnn_convolution_alone", r.cudnn_conv_alone},
          {"kernels", rows},
          {"failed", r.failed},
          {"missing", missing},
          {"total_ours_seconds", r.ours_total_s},
          {"total_cudnn_seconds", r.cudnn_total_s},
          {"cudnn_complete", r.cudnn_complete},
          {"baselines", baselines},
          {"total_fastest_baseline_seconds", r.fastest_total_s},
          {"fastest_baseline_complete", r.fastest_complete}};
}

// What bench prints under its table: the totals, and what the figures count.
void print_bench_totals(const emit::BenchResult& r, bool vs_fastest) {
  const bool none_timed = size_t(r.failed) == r.rows.size();
  std::cout << "total weighted by layer counts: ours "
            << (none_timed ? std::string("none timed")
                           : util::fixed(r.ours_total_s * 1e6, 2) + " us")
            << (r.failed > 0 ? " (" + util::count_of(r.failed, "kernel") + " failed, not counted)"
                             : "")
            << ", cuDNN "
            << (r.simulated        ? "not run"
                : r.cudnn_complete ? util::fixed(r.cudnn_total_s * 1e6, 2) + " us"
                                   : "incomplete");
  for (size_t i = 0; i < r.baselines.size(); ++i) {
    std::cout << ", " << r.baselines[i].name << " "
              << (r.baseline_complete[i] ? util::fixed(r.baseline_total_s[i] * 1e6, 2) + " us"
                                         : std::string("incomplete"));
  }
  std::cout << "\n";
  if (vs_fastest) {
    std::cout << "fastest baseline per kernel, summed: "
              << (r.fastest_complete && r.failed == 0
                      ? util::fixed(r.fastest_total_s * 1e6, 2) + " us, ours " +
                            util::fixed(r.fastest_total_s / r.ours_total_s, 2) + "x faster"
                      : std::string("incomplete"))
              << "\n";
  }
  std::cout << flops_count_note(r.timed_templates);
  // Kernels that compute fewer products than the direct convolution, at the rate of their own.
  std::vector<std::string> own;
  for (const emit::BenchRow& row : r.rows) {
    if (row.ours.ok() && row.arithmetic_flops > 0 && row.arithmetic_flops < row.flops) {
      own.push_back(row.kernel + " " +
                    util::fixed(row.arithmetic_flops / row.ours.median / 1e9, 0) + " (" +
                    util::fixed(row.flops / row.arithmetic_flops, 2) + "x fewer)");
    }
  }
  if (!own.empty()) {
    std::cout << "GFLOPS of the products they compute (partial tiles included, the transforms' "
                 "additions not): "
              << util::join(own, ", ") << "\n";
  }
  if (!r.missing.empty()) {
    std::vector<std::string> shapes;
    for (const auto& m : r.missing) shapes.push_back(m.shape);
    std::cout << "not in the totals: " << util::count_of(int64_t(r.missing.size()), "task")
              << " of the log without a kernel (" << util::join(shapes, "; ") << ")\n";
  }
}

void print_bench(const emit::BenchResult& r, bool allow_tf32) {
  using Align = util::Table::Align;
  const bool sim = r.simulated;
  const bool only_fp32 = r.dtypes.empty() || r.dtypes == std::vector<std::string>{"float32"};
  // On the sim, no cuDNN columns: there is nothing to compare against. A baseline file gets a
  // column of its own, and on a GPU the speedup against the fastest of all ("vs fastest").
  const bool vs_fastest = !sim && !r.baselines.empty();
  std::vector<std::string> head = {"kernel", "workload", "count", "ours us"};
  if (!sim) head.insert(head.end(), {"cuDNN us", "speedup"});
  for (const emit::Baseline& b : r.baselines) head.push_back(b.name + " us");
  if (vs_fastest) head.push_back("vs fastest");
  head.insert(head.end(), {"GFLOPS", "% peak", "template"});
  if (!sim) head.push_back("cuDNN algorithm");
  std::vector<Align> align(head.size(), Align::Right);
  for (size_t i = 0; i < head.size(); ++i) {
    if (i < 2 || head[i] == "template" || head[i] == "cuDNN algorithm") align[i] = Align::Left;
  }
  util::Table table(head, align);
  auto ratio = [](double baseline_s, const measure::MeasureResult& ours) {
    return ours.ok() && baseline_s > 0 ? util::fixed(baseline_s / ours.median, 2) + "x"
                                       : std::string("-");
  };
  for (const emit::BenchRow& row : r.rows) {
    const auto& ours = row.ours;
    const auto& dnn = row.cudnn;
    std::vector<std::string> cells = {row.kernel, row.shape, std::to_string(row.count),
                                      ours.ok() ? util::fixed(ours.median * 1e6, 2)
                                                : measure::error_name(ours.error)};
    if (!sim) {
      cells.push_back(dnn.ok() ? util::fixed(dnn.median * 1e6, 2) : "n/a");
      cells.push_back(ratio(dnn.ok() ? dnn.median : 0, ours));
    }
    for (const auto& e : row.baselines)
      cells.push_back(e.seconds > 0 ? util::fixed(e.seconds * 1e6, 2) : "n/a");
    if (vs_fastest) cells.push_back(ratio(row.fastest_s, ours));
    cells.push_back(ours.ok() ? util::fixed(row.flops / ours.median / 1e9, 0) : "-");
    cells.push_back(
        ours.ok()
            ? util::fixed(100 * row.flops / ours.median / 1e9 / r.target.peak_fp32_gflops(), 1)
            : "-");
    cells.push_back(row.template_name);
    if (!sim) cells.push_back(dnn.ok() ? dnn.message : dnn.message.substr(0, 60));
    table.add_row(cells);
  }
  if (sim) {
    std::cout << "bench on " << r.device_name << " (" << r.target.arch()
              << "): the sim model's times, not a GPU's; cuDNN is not run\n";
  } else {
    std::cout << "bench on " << r.device_name << " (" << r.target.arch() << "), cuDNN "
              << (!only_fp32   ? "in each kernel's type (" + util::join(r.dtypes, ", ") + ")"
                  : allow_tf32 ? std::string("with TF32 allowed")
                               : std::string("fp32 (TF32 off)"))
              << ", same tensors and protocol for both; times per launch\n";
  }
  if (!sim && r.fused > 0) {
    std::cout << util::count_of(r.fused, "kernel")
              << " fuse an epilogue (bias, residual, activation): cuDNN's time includes it, with "
                 "its graph API's fused graph, its legacy fused call or its separate operators, "
                 "whichever is fastest";
    if (r.cudnn_conv_alone > 0) {
      std::cout << ", except " << r.cudnn_conv_alone
                << " where cuDNN cannot (its algorithm column says why): the convolution alone";
    }
    std::cout << "\n";
  }
  if (!sim) {
    // Which of cuDNN's APIs answered: its legacy algorithms or its graph API's engines.
    int graph = 0, legacy = 0;
    for (const emit::BenchRow& row : r.rows) {
      const std::string api = row.cudnn.settings.value("cudnn_api", std::string());
      graph += api == "graph";
      legacy += api == "legacy";
    }
    if (graph + legacy > 0) {
      std::cout << "cuDNN's faster API per kernel: the graph API's engines on " << graph
                << ", the legacy API's algorithms on " << legacy << "\n";
    }
  }
  if (!only_fp32) {
    std::cout << "% peak is of the FP32 peak, for every type\n";
  }
  for (const emit::Baseline& b : r.baselines) {
    std::cout << b.name << " us: " << (b.description.empty() ? b.file : b.description) << ", on "
              << (b.device.empty() ? "an unnamed device" : b.device)
              << (b.date.empty() ? "" : " at " + b.date) << " (" << b.file << ")\n";
  }
  table.print(std::cout);
  print_bench_totals(r, vs_fastest);
}

void run_bench(const BenchArgs& a) {
  emit::BenchOptions o;
  o.input = a.input;
  o.log_device = a.device_name;
  o.log_arch = a.log_arch;
  o.sim = a.device == "sim";
  o.target = a.target;
  o.gpu = a.dev.gpu;
  o.measure = a.dev.measure;
  o.allow_tf32 = a.allow_tf32;
  o.baselines = a.baselines;
  const emit::BenchResult r = emit::bench(o);
  if (a.as_json) {
    std::cout << bench_json(r, a.allow_tf32).dump(2) << "\n";
  } else {
    print_bench(r, a.allow_tf32);
  }
  throw_if_failed(r.failed, r.rows.size());
}

} // namespace

void add_emit_commands(CLI::App& app) {
  {
    auto log = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto options = std::make_shared<emit::ReplayOptions>();
    auto as_json = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "replay",
        "Emit the best kernel of every task of a log: sources, cubins, PTX, manifest, header");
    cmd->add_option("log", *log, "Tuning log")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", *out, "Output folder (default: LOG-kernels next to the log)");
    cmd->add_option("--device", options->device,
                    "Records of this device (default: the log's last)");
    cmd->add_flag("--allow-tf32", options->allow_tf32,
                  "Let the log's TF32 kernels compete (left out by default)");
    cmd->add_option(
        "--arch", options->arch,
        "Compile for this arch (sm_XY) instead of each record's own (its target's GPU)");
    cmd->add_flag("--json", *as_json, "Print the manifest");
    cmd->callback([=] { run_replay(*log, *out, *options, *as_json); });
  }
  {
    auto a = std::make_shared<BenchArgs>();
    auto* cmd =
        app.add_subcommand("bench", "Re-time emitted kernels on the GPU, verified, against cuDNN");
    cmd->add_option("input", a->input, "A kernels folder (chameleon replay) or a tuning log")
        ->required();
    cmd->add_option("--log-device", a->device_name, "With a log: records of this device");
    cmd->add_option("--arch", a->log_arch, "With a log: the arch to compile for (replay's --arch)");
    cmd->add_flag("--allow-tf32", a->allow_tf32,
                  "Let cuDNN use TF32 tensor cores and, with a log, our TF32 kernels compete");
    cmd->add_flag("--json", a->as_json, "Print JSON");
    cmd->add_option(
           "--device", a->device,
           "cuda (a real GPU, against cuDNN), sim (the sim model's times, no cuDNN; to check a "
           "kernels folder without a GPU), or auto (cuda)")
        ->check(CLI::IsMember({"cuda", "sim", "auto"}))
        ->capture_default_str();
    cmd->add_option("--target", a->target,
                    "With --device sim: the preset to simulate (default: the manifest's)");
    cmd->add_option("--baseline", a->baselines,
                    "Times of another engine for the same workloads, a column each "
                    "(scripts/torch_baseline.py: what a PyTorch user gets); repeatable");
    add_timing_options(*cmd, a->dev);
    cmd->add_option("--seed", a->dev.measure.seed, "Seed of inputs and weights")
        ->capture_default_str();
    cmd->callback([a] { run_bench(*a); });
  }
  {
    auto logs = std::make_shared<std::vector<std::string>>();
    auto out = std::make_shared<std::string>("report");
    auto chart_spec = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(
        "report", "Tuning curves (SVG) and a summary (markdown) of one or more logs");
    cmd->add_option("logs", *logs, "Tuning logs (several: side by side)")->check(CLI::ExistingFile);
    cmd->add_option("--out", *out, "Output folder")->capture_default_str();
    cmd->add_option("--charts", *chart_spec,
                    "Instead of logs: draw the line charts a JSON file describes "
                    "(scripts/bench_tuners.py writes one)")
        ->check(CLI::ExistingFile);
    cmd->callback([=] {
      if (!chart_spec->empty()) {
        if (!logs->empty()) throw Error("report takes logs or --charts, not both");
        std::cout << "charts in " << *out << ": "
                  << util::join(emit::charts(*chart_spec, *out), ", ") << "\n";
        return;
      }
      if (logs->empty()) throw Error("report needs at least one tuning log (or --charts FILE)");
      auto r = emit::report(*logs, *out);
      std::cout << "report in " << *out << ": " << util::join(r.files, ", ") << "\n";
    });
  }
}

} // namespace chameleon::app
