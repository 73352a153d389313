// `replay`, `bench` and `report`: from a tuning log to deployable kernels, their speed against
// cuDNN, and figures.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/emit/replay.hpp"
#include "chameleon/emit/report.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <unistd.h>

namespace chameleon::app {

namespace {

namespace fs = std::filesystem;

std::string default_kernels_dir(const std::string& log) {
  fs::path p(log);
  return (p.parent_path() / (p.stem().string() + "-kernels")).string();
}

void run_replay(const std::string& log, std::string out, const std::string& device, bool allow_tf32,
                bool as_json) {
  if (out.empty()) out = default_kernels_dir(log);
  auto result = emit::replay(log, out, device, measure::default_cache_dir(), allow_tf32);
  const auto& sel = result.selection;
  if (as_json) {
    std::cout << result.manifest.dump(2) << "\n";
  } else {
    std::cout << "replayed " << log << " (" << sel.device << ") into " << out << ": "
              << sel.best.size() << " kernels\n";
    using Align = util::Table::Align;
    util::Table table({"kernel", "workload", "count", "us", "GFLOPS", "template", "config", "registers"},
                      {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Left, Align::Right,
                       Align::Right});
    for (const auto& k : result.manifest.at("kernels")) {
      table.add_row({k.at("name").get<std::string>(), k.at("shape").get<std::string>(),
                     std::to_string(k.at("count").get<int>()),
                     util::fixed(k.at("measured").at("seconds").get<double>() * 1e6, 2),
                     util::fixed(k.at("measured").at("gflops").get<double>(), 0),
                     k.value("template", std::string("-")),
                     std::to_string(k.at("config").at("index").get<int64_t>()),
                     std::to_string(k.at("resources").at("registers").get<int>())});
    }
    table.print(std::cout);
    if (result.manifest.value("simulated", false)) {
      std::cout << "note: the times are from the sim device, not a GPU\n";
    }
    if (sel.devices.size() > 1) {
      std::cout << "the log also has records of: " << util::join(sel.devices, ", ") << " (--device to pick)\n";
    }
  }
  for (const auto& [wl, why] : sel.missing) spdlog::warn("no kernel for {}: {}", wl.str(), why);
  for (const auto& note : sel.stale) spdlog::warn("{}", note);
  if (sel.tf32_skipped > 0) {
    spdlog::info("{} TF32 records left out (--allow-tf32 lets them compete)", sel.tf32_skipped);
  }
  if (sel.best.empty()) throw Error(log + ": no kernel to emit (above: why for each task)");
}

struct BenchArgs {
  std::string input; // kernels folder or log
  std::string device_name;
  DeviceOptions dev;
  bool allow_tf32 = false;
  bool as_json = false;
};

void run_bench(BenchArgs a) {
  std::string why;
  if (!measure::gpu_available(&why)) {
    // The sim has nothing to compare against cuDNN: drop the hint at it.
    if (auto hint = why.find("; use --device sim"); hint != std::string::npos) why.resize(hint);
    throw Error("bench times kernels against cuDNN on a GPU: " + why);
  }
  fs::path dir = a.input;
  // A replay made for this bench only is removed when it ends.
  struct Scratch {
    fs::path path;
    ~Scratch() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
    }
  } scratch;
  if (!fs::is_directory(dir)) {
    dir = fs::temp_directory_path() / ("chameleon-bench-" + std::to_string(::getpid()));
    spdlog::info("replaying {} into {}", a.input, dir.string());
    scratch.path = dir;
    emit::replay(a.input, dir.string(), a.device_name, measure::default_cache_dir(), a.allow_tf32);
  }
  std::ifstream in(dir / "manifest.json");
  if (!in) throw Error("no manifest.json in " + dir.string() + " (run chameleon replay first)");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / "manifest.json").string() + ": not valid JSON: " + e.what());
  }
  measure::CudaRunner runner(a.dev.gpu, a.dev.measure);
  target::Target gpu = measure::target_from_device(a.dev.gpu);
  const bool use_ptx = manifest.value("arch", std::string()) != gpu.arch();
  int tf32_kernels = 0;
  for (const auto& k : manifest.at("kernels")) tf32_kernels += k.value("tf32", false) ? 1 : 0;
  if (tf32_kernels > 0 && !a.allow_tf32) {
    spdlog::warn("{} of our kernels compute in TF32 while cuDNN is held to fp32: pass --allow-tf32 to "
                 "compare like with like", tf32_kernels);
  }
  if (use_ptx) {
    spdlog::warn("kernels were built for {}, this GPU is {}: loading their PTX", manifest.value("arch", std::string("?")),
                 gpu.arch());
  }
  using Align = util::Table::Align;
  util::Table table({"kernel", "workload", "count", "ours us", "cuDNN us", "speedup", "GFLOPS", "% peak", "template",
                     "cuDNN algorithm"},
                    {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right,
                     Align::Right, Align::Right, Align::Left, Align::Left});
  nlohmann::json rows = nlohmann::json::array();
  double ours_total = 0, dnn_total = 0;
  bool dnn_complete = true;
  for (const auto& k : manifest.at("kernels")) {
    task::Conv2dWorkload wl = task::workload_from_json(k.at("workload"));
    measure::BuildResult b;
    const fs::path image_path = dir / k.at("files").at(use_ptx ? "ptx" : "cubin").get<std::string>();
    std::ifstream image(image_path, std::ios::binary);
    std::stringstream bytes;
    bytes << image.rdbuf();
    b.cubin = bytes.str();
    if (b.cubin.empty()) { // recorded as this kernel's failure; the others are benched
      b.error = measure::ErrorNo::CompileHost;
      b.message = "missing or empty " + image_path.string() + " (replay again)";
    }
    if (use_ptx) b.cubin.push_back('\0');
    b.entry = k.at("entry").get<std::string>();
    b.features.geometry = codegen::geometry_from_json(k);
    b.features.tf32 = k.value("tf32", false);
    b.resources = measure::resources_from_json(k.at("resources"));
    const int count = k.value("count", 1);
    measure::MeasureResult ours = runner.run(wl, b);
    measure::MeasureResult dnn = runner.run_cudnn(wl, a.allow_tf32);
    const double flops = double(wl.flops());
    const std::string tmpl = k.value("template", std::string("-"));
    nlohmann::json row = {{"kernel", k.at("name")}, {"workload", wl.str()}, {"count", count}, {"template", tmpl},
                          {"ours", measure::to_json(ours)}, {"cudnn", measure::to_json(dnn)}};
    std::string ours_us = ours.ok() ? util::fixed(ours.median * 1e6, 2) : measure::error_name(ours.error);
    std::string dnn_us = dnn.ok() ? util::fixed(dnn.median * 1e6, 2) : "n/a";
    std::string speedup = ours.ok() && dnn.ok() ? util::fixed(dnn.median / ours.median, 2) + "x" : "-";
    std::string gflops = ours.ok() ? util::fixed(flops / ours.median / 1e9, 0) : "-";
    std::string peak = ours.ok() ? util::fixed(100 * flops / ours.median / 1e9 / gpu.peak_fp32_gflops(), 1) : "-";
    if (ours.ok()) ours_total += ours.median * count;
    if (dnn.ok()) dnn_total += dnn.median * count; else dnn_complete = false;
    if (!ours.ok()) spdlog::warn("{}: {}", k.at("name").get<std::string>(), ours.message);
    table.add_row({k.at("name").get<std::string>(), wl.str(), std::to_string(count), ours_us, dnn_us, speedup,
                   gflops, peak, tmpl, dnn.ok() ? dnn.message : dnn.message.substr(0, 60)});
    rows.push_back(row);
  }
  if (a.as_json) {
    std::cout << nlohmann::json({{"device", runner.device_name()}, {"manifest", manifest.value("log", "")},
                                 {"allow_tf32", a.allow_tf32}, {"kernels", rows},
                                 {"total_ours_seconds", ours_total}, {"total_cudnn_seconds", dnn_total},
                                 {"cudnn_complete", dnn_complete}})
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "bench on " << runner.device_name() << " (" << gpu.arch() << "), cuDNN "
            << (a.allow_tf32 ? "with TF32 allowed" : "fp32 (TF32 off)")
            << ", same tensors and protocol for both; times per launch\n";
  table.print(std::cout);
  std::cout << "total weighted by layer counts: ours " << util::fixed(ours_total * 1e6, 2) << " us, cuDNN "
            << (dnn_complete ? util::fixed(dnn_total * 1e6, 2) + " us" : "incomplete") << "\n";
}

} // namespace

void add_emit_commands(CLI::App& app) {
  {
    auto log = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto device = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto allow_tf32 = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("replay", "Emit the best kernel of every task of a log: sources, cubins, PTX, manifest, header");
    cmd->add_option("log", *log, "Tuning log")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", *out, "Output folder (default: LOG-kernels next to the log)");
    cmd->add_option("--device", *device, "Records of this device (default: the log's last)");
    cmd->add_flag("--allow-tf32", *allow_tf32, "Let the log's TF32 kernels compete (left out by default)");
    cmd->add_flag("--json", *as_json, "Print the manifest");
    cmd->callback([=] { run_replay(*log, *out, *device, *allow_tf32, *as_json); });
  }
  {
    auto a = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand("bench", "Re-time emitted kernels on the GPU, verified, against cuDNN");
    cmd->add_option("input", a->input, "A kernels folder (chameleon replay) or a tuning log")->required();
    cmd->add_option("--log-device", a->device_name, "With a log: records of this device");
    cmd->add_flag("--allow-tf32", a->allow_tf32,
                  "Let cuDNN use TF32 tensor cores and, with a log, our TF32 kernels compete");
    cmd->add_flag("--json", a->as_json, "Print JSON");
    add_timing_options(*cmd, a->dev);
    cmd->add_option("--seed", a->dev.measure.seed, "Seed of inputs and weights")->capture_default_str();
    cmd->callback([a] { run_bench(*a); });
  }
  {
    auto logs = std::make_shared<std::vector<std::string>>();
    auto out = std::make_shared<std::string>("report");
    auto* cmd = app.add_subcommand("report", "Tuning curves (SVG) and a summary (markdown) of one or more logs");
    cmd->add_option("logs", *logs, "Tuning logs (several: side by side)")->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--out", *out, "Output folder")->capture_default_str();
    cmd->callback([=] {
      auto r = emit::report(*logs, *out);
      std::cout << "report in " << *out << ": " << util::join(r.files, ", ") << "\n";
    });
  }
}

} // namespace chameleon::app
