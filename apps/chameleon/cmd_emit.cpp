// `replay`, `bench` and `report`: from a tuning log to deployable kernels, their speed against
// cuDNN, and figures.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/emit/replay.hpp"
#include "chameleon/emit/report.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/sha256.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
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

// What a log's replay left out or took with a caveat, as warnings: the records left out as
// damaged, the tasks without a kernel (and why), the kernels timed on an older template, and the
// TF32 records not allowed. `replay` and `bench LOG` both say it.
void warn_selection(const emit::Selection& sel) {
  for (const auto& note : sel.damaged) spdlog::warn("{}", note);
  for (const auto& [wl, why] : sel.missing) spdlog::warn("no kernel for {}: {}", wl.str(), why);
  for (const auto& note : sel.stale) spdlog::warn("{}", note);
  if (sel.tf32_skipped > 0) {
    spdlog::info("{} TF32 records left out (--allow-tf32 lets them compete)", sel.tf32_skipped);
  }
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
              << util::count_of(int64_t(sel.best.size()), "kernel") << "\n";
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
  warn_selection(sel);
  if (sel.best.empty()) throw Error(log + ": no kernel to emit (above: why for each task)");
}

struct BenchArgs {
  std::string input; // kernels folder or log
  std::string device_name;
  std::string device = "auto"; // cuda, sim or auto (cuda; there is no cuDNN on the sim)
  std::string target;          // sim only: the preset to simulate (default: the manifest's)
  DeviceOptions dev;
  bool allow_tf32 = false;
  bool as_json = false;
};

// The preset the sim stands in for when benching `manifest`: --target, else the manifest's target
// when it is a preset, else the preset of the manifest's arch whose name is in its device
// ("NVIDIA H200" is h200), else the first preset of that arch (with a warning).
target::Target sim_target(const std::string& flag, const nlohmann::json& manifest) {
  if (!flag.empty()) return target::find_preset(flag);
  const std::string named = manifest.value("target", std::string());
  const std::string arch = manifest.value("arch", std::string());
  const std::string device = manifest.value("device", std::string());
  for (const target::Target& t : target::presets()) {
    if (t.name == named) return t;
  }
  const int sm = arch.rfind("sm_", 0) == 0 ? std::atoi(arch.c_str() + 3) : 0;
  const target::Target* closest = target::closest_preset(device, sm);
  if (closest == nullptr) {
    throw Error("the manifest names no known target (target '" + named + "', device '" + device + "', arch '" +
                arch + "'): pass --target");
  }
  if (util::lower(device).find(closest->name) == std::string::npos) {
    spdlog::warn("no preset is named in the manifest's device '{}': simulating {}, the first of its arch {} "
                 "(--target picks another)",
                 device, closest->name, arch);
  }
  return *closest;
}

// One kernel of a manifest, read for timing. A damaged entry is that kernel's failure (its
// build's error), never the bench's: the other kernels are still timed.
struct BenchKernel {
  std::string name, shape = "-", tmpl = "-";
  int count = 1;
  bool has_workload = false;
  task::Conv2dWorkload wl;
  measure::BuildResult build;
};

BenchKernel read_bench_kernel(const fs::path& dir, const nlohmann::json& k, size_t position, bool use_ptx,
                              bool sim, const std::string& arch) {
  BenchKernel bk;
  bk.name = "kernel #" + std::to_string(position + 1);
  auto fail = [&](const std::string& why) {
    bk.build.error = measure::ErrorNo::CompileHost;
    bk.build.message = why;
  };
  try {
    if (!k.is_object()) throw Error("not a JSON object");
    bk.name = k.value("name", bk.name);
    bk.tmpl = k.value("template", std::string("-"));
    bk.count = k.value("count", 1);
    bk.wl = task::workload_from_json(k.at("workload"));
    task::validate(bk.wl);
    bk.shape = bk.wl.str();
    bk.has_workload = true;
    measure::BuildResult& b = bk.build;
    b.entry = k.at("entry").get<std::string>();
    b.features.geometry = codegen::geometry_from_json(k);
    b.features.tf32 = k.value("tf32", false);
    b.resources = measure::resources_from_json(k.at("resources"));
    const fs::path image_path = dir / k.at("files").at(use_ptx ? "ptx" : "cubin").get<std::string>();
    std::ifstream image(image_path, std::ios::binary);
    std::stringstream bytes;
    bytes << image.rdbuf();
    b.cubin = bytes.str();
    if (b.cubin.empty()) {
      fail("missing or empty " + image_path.string() + " (replay again)");
      return bk;
    }
    // Manifests of older versions carry no checksums.
    const std::string file_kind = use_ptx ? "ptx" : "cubin";
    if (k.contains("sha256") && k.at("sha256").contains(file_kind) &&
        k.at("sha256").at(file_kind).get<std::string>() != util::sha256_hex(b.cubin)) {
      fail(image_path.string() + " is not the file replay wrote (its SHA-256 differs): damaged or replaced "
           "(replay again)");
      return bk;
    }
    if (use_ptx) b.cubin.push_back('\0');
    if (sim) {
      // The sim times a kernel from what its template says of the config (the cubin only has to
      // be there), keyed as the tune keyed it: the same kernel gets the same time.
      const codegen::Template* t = codegen::template_named(bk.tmpl);
      if (t == nullptr) {
        fail("template '" + bk.tmpl + "' is not one of this chameleon's (replay with it)");
        return bk;
      }
      const std::string fp = k.value("template_fingerprint", std::string());
      if (fp != t->fingerprint()) {
        fail(bk.tmpl + " has changed since this replay (fingerprint " + fp + ", now " + t->fingerprint() +
             "): replay the log again");
        return bk;
      }
      const auto sp = t->make_space(bk.wl);
      const auto cfg = sp.get(k.at("config").at("index").get<int64_t>());
      b.features = t->features(bk.wl, sp, cfg);
      b.cache_key = measure::compile_key(t->render(bk.wl, sp, cfg).code, arch);
    }
  } catch (const std::exception& e) {
    fail("manifest entry " + bk.name + ": " + e.what());
  }
  return bk;
}

// A kernels folder's manifest.json: an object with a list of kernels, or chameleon::Error.
nlohmann::json read_manifest(const fs::path& dir) {
  const fs::path path = dir / "manifest.json";
  std::ifstream in(path);
  if (!in) throw Error("no manifest.json in " + dir.string() + " (run chameleon replay first)");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  if (!manifest.is_object() || !manifest.contains("kernels") || !manifest.at("kernels").is_array()) {
    throw Error(path.string() + ": not a chameleon manifest (no 'kernels' list)");
  }
  // The fields bench reads about the whole folder; a kernel's own are checked kernel by kernel.
  for (const char* key : {"device", "target", "arch", "log"}) {
    if (manifest.contains(key) && !manifest.at(key).is_string()) {
      throw Error(path.string() + ": '" + key + "' must be a string, got " + manifest.at(key).dump() +
                  " (replay again)");
    }
  }
  return manifest;
}

// After the table: a kernel that could not be timed fails the bench (exit 1), so that a CI job
// notices a damaged folder or a kernel that no longer runs.
void throw_if_failed(int failed, size_t kernels) {
  if (failed > 0) {
    std::cout.flush();
    throw Error(std::to_string(failed) + " of " + util::count_of(int64_t(kernels), "kernel") +
                " could not be timed (the warnings above say why)");
  }
}

void run_bench(BenchArgs a) {
  const bool sim = a.device == "sim";
  if (!sim) {
    if (!a.target.empty()) throw Error("--target is for --device sim: on a GPU the target is the GPU");
    std::string why;
    if (!measure::gpu_available(&why)) {
      // The sim has nothing to compare against cuDNN: point at its own bench instead.
      if (auto hint = why.find("; use --device sim"); hint != std::string::npos) why.resize(hint);
      throw Error("bench times kernels against cuDNN on a GPU: " + why +
                  " (--device sim re-times the kernels on the sim model, without cuDNN)");
    }
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
    auto replayed = emit::replay(a.input, dir.string(), a.device_name, measure::default_cache_dir(), a.allow_tf32);
    warn_selection(replayed.selection);
    if (replayed.selection.best.empty()) throw Error(a.input + ": no kernel to bench (above: why for each task)");
  }
  const nlohmann::json manifest = read_manifest(dir);
  // Tasks of the tuned network without a kernel (replay's list, with why): not in the totals.
  nlohmann::json missing = nlohmann::json::array();
  if (manifest.contains("missing") && manifest.at("missing").is_array()) {
    for (const auto& e : manifest.at("missing")) {
      auto text = [&](const char* key) {
        return e.is_object() && e.value(key, nlohmann::json()).is_string() ? e.at(key).get<std::string>() : "?";
      };
      missing.push_back({{"shape", text("shape")}, {"reason", text("reason")}});
      // From a folder: its replay said why; say it again, as the totals leave the task out.
      if (scratch.path.empty()) spdlog::warn("no kernel for {}: {}", text("shape"), text("reason"));
    }
  }
  if (manifest.at("kernels").empty()) {
    throw Error((dir / "manifest.json").string() + " lists no kernel (above: why for each task)");
  }
  std::unique_ptr<measure::CudaRunner> gpu_runner;
  std::unique_ptr<measure::SimRunner> sim_runner;
  measure::Runner* runner = nullptr;
  target::Target tgt;
  if (sim) {
    tgt = sim_target(a.target, manifest);
    sim_runner = std::make_unique<measure::SimRunner>(tgt, a.dev.measure);
    runner = sim_runner.get();
  } else {
    gpu_runner = std::make_unique<measure::CudaRunner>(a.dev.gpu, a.dev.measure);
    tgt = measure::target_from_device(a.dev.gpu);
    runner = gpu_runner.get();
  }
  const std::string arch = manifest.value("arch", std::string("?"));
  const bool use_ptx = !sim && arch != tgt.arch();
  int tf32_kernels = 0;
  for (const auto& k : manifest.at("kernels")) tf32_kernels += k.is_object() && k.value("tf32", false) ? 1 : 0;
  if (tf32_kernels > 0 && !a.allow_tf32 && !sim) {
    spdlog::warn("{} of our kernels compute in TF32 while cuDNN is held to fp32: pass --allow-tf32 to "
                 "compare like with like", tf32_kernels);
  }
  if (use_ptx) spdlog::warn("kernels were built for {}, this GPU is {}: loading their PTX", arch, tgt.arch());
  using Align = util::Table::Align;
  // On the sim, no cuDNN columns: there is nothing to compare against.
  util::Table table = sim ? util::Table({"kernel", "workload", "count", "ours us", "GFLOPS", "% peak", "template"},
                                        {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right,
                                         Align::Right, Align::Left})
                          : util::Table({"kernel", "workload", "count", "ours us", "cuDNN us", "speedup", "GFLOPS",
                                         "% peak", "template", "cuDNN algorithm"},
                                        {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right,
                                         Align::Right, Align::Right, Align::Right, Align::Left, Align::Left});
  nlohmann::json rows = nlohmann::json::array();
  double ours_total = 0, dnn_total = 0;
  bool dnn_complete = !sim;
  int failed = 0;
  std::vector<std::string> timed_templates;
  const auto& kernels = manifest.at("kernels");
  for (size_t i = 0; i < kernels.size(); ++i) {
    const BenchKernel k = read_bench_kernel(dir, kernels[i], i, use_ptx, sim, arch);
    measure::MeasureResult ours, dnn;
    if (k.has_workload) {
      ours = runner->run(k.wl, k.build);
    } else {
      ours.error = k.build.error;
      ours.message = k.build.message;
    }
    if (sim) {
      dnn.error = measure::ErrorNo::Unknown;
    } else if (k.has_workload) {
      dnn = gpu_runner->run_cudnn(k.wl, a.allow_tf32);
    } else {
      dnn.error = measure::ErrorNo::Unknown;
      dnn.message = "not run: no workload";
    }
    const double flops = k.has_workload ? double(k.wl.flops()) : 0;
    nlohmann::json row = {{"kernel", k.name}, {"workload", k.shape}, {"count", k.count}, {"template", k.tmpl},
                          {"ours", measure::to_json(ours)}};
    row["cudnn"] = sim ? nlohmann::json() : measure::to_json(dnn);
    std::string ours_us = ours.ok() ? util::fixed(ours.median * 1e6, 2) : measure::error_name(ours.error);
    std::string dnn_us = dnn.ok() ? util::fixed(dnn.median * 1e6, 2) : "n/a";
    std::string speedup = ours.ok() && dnn.ok() ? util::fixed(dnn.median / ours.median, 2) + "x" : "-";
    std::string gflops = ours.ok() ? util::fixed(flops / ours.median / 1e9, 0) : "-";
    std::string peak = ours.ok() ? util::fixed(100 * flops / ours.median / 1e9 / tgt.peak_fp32_gflops(), 1) : "-";
    if (ours.ok()) {
      ours_total += ours.median * k.count;
      timed_templates.push_back(k.tmpl);
    } else {
      ++failed;
    }
    if (dnn.ok()) dnn_total += dnn.median * k.count; else dnn_complete = false;
    if (!ours.ok()) spdlog::warn("{}: {}", k.name, ours.message);
    if (sim) {
      table.add_row({k.name, k.shape, std::to_string(k.count), ours_us, gflops, peak, k.tmpl});
    } else {
      table.add_row({k.name, k.shape, std::to_string(k.count), ours_us, dnn_us, speedup, gflops, peak, k.tmpl,
                     dnn.ok() ? dnn.message : dnn.message.substr(0, 60)});
    }
    rows.push_back(row);
  }
  if (a.as_json) {
    std::cout << nlohmann::json({{"device", runner->device_name()}, {"simulated", sim},
                                 {"manifest", manifest.value("log", "")}, {"allow_tf32", a.allow_tf32},
                                 {"kernels", rows}, {"failed", failed}, {"missing", missing}, {"total_ours_seconds", ours_total},
                                 {"total_cudnn_seconds", dnn_total}, {"cudnn_complete", dnn_complete}})
                     .dump(2)
              << "\n";
    throw_if_failed(failed, kernels.size());
    return;
  }
  if (sim) {
    std::cout << "bench on " << runner->device_name() << " (" << tgt.arch()
              << "): the sim model's times, not a GPU's; cuDNN is not run\n";
  } else {
    std::cout << "bench on " << runner->device_name() << " (" << tgt.arch() << "), cuDNN "
              << (a.allow_tf32 ? "with TF32 allowed" : "fp32 (TF32 off)")
              << ", same tensors and protocol for both; times per launch\n";
  }
  table.print(std::cout);
  const bool none_timed = size_t(failed) == kernels.size();
  std::cout << "total weighted by layer counts: ours "
            << (none_timed ? std::string("none timed") : util::fixed(ours_total * 1e6, 2) + " us")
            << (failed > 0 ? " (" + util::count_of(failed, "kernel") + " failed, not counted)" : "") << ", cuDNN "
            << (sim ? "not run" : dnn_complete ? util::fixed(dnn_total * 1e6, 2) + " us" : "incomplete") << "\n"
            << flops_count_note(timed_templates);
  if (!missing.empty()) {
    std::vector<std::string> shapes;
    for (const auto& m : missing) shapes.push_back(m.at("shape").get<std::string>());
    std::cout << "not in the totals: " << util::count_of(int64_t(missing.size()), "task")
              << " of the log without a kernel (" << util::join(shapes, "; ") << ")\n";
  }
  throw_if_failed(failed, kernels.size());
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
    cmd->add_option("--device", a->device,
                    "cuda (a real GPU, against cuDNN), sim (the sim model's times, no cuDNN; to check a "
                    "kernels folder without a GPU), or auto (cuda)")
        ->check(CLI::IsMember({"cuda", "sim", "auto"}))
        ->capture_default_str();
    cmd->add_option("--target", a->target, "With --device sim: the preset to simulate (default: the manifest's)");
    add_timing_options(*cmd, a->dev);
    cmd->add_option("--seed", a->dev.measure.seed, "Seed of inputs and weights")->capture_default_str();
    cmd->callback([a] { run_bench(*a); });
  }
  {
    auto logs = std::make_shared<std::vector<std::string>>();
    auto out = std::make_shared<std::string>("report");
    auto chart_spec = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("report", "Tuning curves (SVG) and a summary (markdown) of one or more logs");
    cmd->add_option("logs", *logs, "Tuning logs (several: side by side)")->check(CLI::ExistingFile);
    cmd->add_option("--out", *out, "Output folder")->capture_default_str();
    cmd->add_option("--charts", *chart_spec,
                    "Instead of logs: draw the line charts a JSON file describes (scripts/bench_tuners.py writes one)")
        ->check(CLI::ExistingFile);
    cmd->callback([=] {
      if (!chart_spec->empty()) {
        if (!logs->empty()) throw Error("report takes logs or --charts, not both");
        std::cout << "charts in " << *out << ": " << util::join(emit::charts(*chart_spec, *out), ", ") << "\n";
        return;
      }
      if (logs->empty()) throw Error("report needs at least one tuning log (or --charts FILE)");
      auto r = emit::report(*logs, *out);
      std::cout << "report in " << *out << ": " << util::join(r.files, ", ") << "\n";
    });
  }
}

} // namespace chameleon::app
