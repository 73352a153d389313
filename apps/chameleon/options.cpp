#include "options.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>

namespace chameleon::app {

namespace {
constexpr const char* kRecorded = "recorded:";

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// A validator of the value read as a number; `ok` decides, `want` says what is expected.
CLI::Validator numeric(std::function<bool(double)> ok, const std::string& want) {
  return CLI::Validator(
      [ok, want](std::string& text) -> std::string {
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return "expected a number, got '" + text + "'";
        return ok(v) ? std::string() : "must be " + want + ", got " + text;
      },
      want);
}
} // namespace

CLI::Validator at_least(double lo) {
  return numeric([lo](double v) { return v >= lo; }, "at least " + number_text(lo));
}

CLI::Validator above(double lo) {
  return numeric([lo](double v) { return v > lo; }, "above " + number_text(lo));
}

CLI::Validator between(double lo, double hi) {
  return numeric([lo, hi](double v) { return v >= lo && v <= hi; },
                 "from " + number_text(lo) + " to " + number_text(hi));
}

void add_network_options(CLI::App& cmd, NetworkOptions& opts) {
  cmd.add_option("network", opts.path,
                 "Network description (JSON, see docs/network-format.md), or the name of a shipped "
                 "one (resnet18, vgg16, ...)")
      ->required();
  cmd.add_option("--batch", opts.batch, "Override the batch size of the network's input")
      ->check(at_least(1));
  cmd.add_option("--precision", opts.precision,
                 "fp32, tf32 (float32 tensors, TF32 tensor cores allowed), fp16 or bf16 (tensors "
                 "of that type, float32 accumulation); default: the network's, else fp32")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
  cmd.add_flag_function(
      "--fuse,!--no-fuse", [&opts](int64_t count) { opts.fuse = count > 0 ? 1 : 0; },
      "Fuse each conv2d's bias, batch_norm, residual add and activation into its kernel (default: "
      "the network's \"fuse\", else on for fp16/bf16, off for fp32/tf32)");
  cmd.add_option("--layout", opts.layout,
                 "nchw, or nhwc (channels last: data NHWC, weights KRSC, output NHWC; fp16/bf16, "
                 "tuned by conv2d_tensorcore, conv2d_wgmma on sm_90 and, depthwise layers, "
                 "conv2d_depthwise); default: "
                 "the network's, else nchw")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
}

void add_config_options(CLI::App& cmd, int& task, std::string& tmpl, std::string& config) {
  cmd.add_option("--task", task, "Task index (1-based, as 'chameleon tasks' lists)")->required();
  cmd.add_option("--template", tmpl, "Template (default: the first that supports the task)");
  cmd.add_option("--config", config, "Config: index, entity JSON, or random")
      ->capture_default_str();
}

std::vector<std::string> shipped_networks() {
  std::vector<std::string> names;
  for (auto f = codegen::embedded_files_begin(); f != codegen::embedded_files_end(); ++f) {
    const std::string path = f->path;
    if (path.rfind("networks/", 0) == 0 && path.size() > 14 &&
        path.compare(path.size() - 5, 5, ".json") == 0) {
      names.push_back(path.substr(9, path.size() - 14));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

network::Network load_network_arg(const std::string& arg, int batch) {
  std::error_code ec;
  if (std::filesystem::exists(arg, ec)) return network::load_network(arg, batch);
  // Not a file: the shipped network of that name ("resnet18", "resnet18.json", or
  // "networks/resnet18.json" from another folder), built into the binary.
  const std::filesystem::path given(arg);
  std::string name = given.filename().string();
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0)
    name.resize(name.size() - 5);
  const std::vector<std::string> shipped = shipped_networks();
  const std::string folder = given.parent_path().filename().string();
  const bool named = given.parent_path().empty() || folder == "networks"; // not some/other/path
  if (!named || std::find(shipped.begin(), shipped.end(), name) == shipped.end()) {
    throw Error("cannot open network file '" + arg + "', and it names no shipped network (" +
                util::join(shipped, ", ") + ")");
  }
  const std::string path = "networks/" + name + ".json";
  spdlog::info("{} is not a file here: using the shipped {} (built into chameleon)", arg, path);
  return network::parse_network_text(std::string(codegen::embedded_file(path)), path, batch);
}

LoadedNetwork load(const NetworkOptions& opts) {
  LoadedNetwork out;
  out.net = load_network_arg(opts.path, opts.batch);
  out.precision = !opts.precision.empty()      ? opts.precision
                  : !out.net.precision.empty() ? out.net.precision
                                               : "fp32";
  task::ExtractOptions extract;
  extract.dtype = task::dtype_from_text(out.tf32() ? "fp32" : out.precision);
  const bool low = extract.dtype != task::DataType::f32;
  out.fused = opts.fuse >= 0 ? opts.fuse == 1 : out.net.fuse >= 0 ? out.net.fuse == 1 : low;
  extract.fuse = out.fused;
  out.layout = task::layout_from_text(!opts.layout.empty()      ? opts.layout
                                      : !out.net.layout.empty() ? out.net.layout
                                                                : "nchw");
  extract.layout = out.layout;
  if (out.layout == task::Layout::nhwc && extract.dtype == task::DataType::f32) {
    throw Error("layout nhwc is for fp16 and bf16 tasks (conv2d_tensorcore, conv2d_wgmma; "
                "--precision fp16 or bf16): the float32 templates take NCHW tensors");
  }
  out.tasks = task::extract_tasks(out.net, extract);
  return out;
}

target::Target resolve_target(const std::string& name) {
  if (name == "auto") return measure::target_from_device(0);
  return target::find_preset(name);
}

TaskContext task_context(const LoadedNetwork& loaded, int index, const std::string& tmpl) {
  TaskContext ctx;
  ctx.task = task::select_tasks(loaded.tasks, {index}).front();
  if (!tmpl.empty()) {
    ctx.tmpl = &codegen::find_template(tmpl);
    std::string why = ctx.tmpl->decline_reason(ctx.task.workload);
    if (!why.empty())
      throw Error("template " + tmpl + " does not support task " + std::to_string(index) + ": " +
                  why);
  } else {
    ctx.tmpl = codegen::template_for(ctx.task.workload);
  }
  if (ctx.tmpl == nullptr) {
    throw Error("task " + std::to_string(index) + " (" + ctx.task.workload.str() +
                "): " + codegen::decline_reasons(ctx.task.workload));
  }
  ctx.space = ctx.tmpl->make_space(ctx.task.workload);
  return ctx;
}

space::Config parse_config(const TaskContext& ctx, const target::Target& tgt,
                           const std::string& text, uint64_t seed) {
  if (text == "random") {
    std::mt19937_64 rng(seed);
    auto found =
        codegen::random_valid_configs(*ctx.tmpl, ctx.task.workload, ctx.space, tgt, 1, rng);
    if (found.empty()) {
      // Say why, from one config: a template that cannot run on the target at all says so.
      const auto why = codegen::check_static(
          tgt, ctx.tmpl->features(ctx.task.workload, ctx.space, ctx.space.get(0)));
      throw Error("no statically valid config of " + ctx.tmpl->name() +
                  " found in 100000 random draws for " + tgt.name +
                  (why.ok ? std::string() : " (e.g. " + why.reason + ")"));
    }
    return found.front();
  }
  bool digits = !text.empty();
  for (char ch : text) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
  if (digits) return ctx.space.get(std::stoll(text));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    throw Error("--config: '" + text + "' is neither an index, 'random', nor JSON");
  }
  if (j.is_object() && j.contains("entity")) return ctx.space.from_entity(j.at("entity"));
  if (j.is_object() && j.contains("index")) return ctx.space.get(j.at("index").get<int64_t>());
  return ctx.space.from_entity(j);
}

} // namespace chameleon::app

namespace chameleon::app {

void add_timing_options(CLI::App& cmd, DeviceOptions& opts) {
  cmd.add_option("--gpu", opts.gpu, "GPU ordinal (with a real GPU)")
      ->check(at_least(0))
      ->capture_default_str();
  auto& m = opts.measure;
  cmd.add_option("--warmup", m.warmup, "Untimed launches before timing")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--repeat", m.repeat, "Timed rounds (the median is reported)")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--min-repeat-ms", m.min_repeat_ms, "Launches per round grow to last this long")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_flag("--flush-l2", m.flush_l2, "Overwrite an L2-sized buffer before every round");
  cmd.add_flag("!--no-cuda-graph", m.cuda_graph,
               "Launch each round from the stream instead of replaying a CUDA graph");
}

namespace {
CLI::Validator device_name_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text == "cuda" || text == "sim" || text == "auto") return "";
        if (text.rfind(kRecorded, 0) == 0 && text.size() > std::strlen(kRecorded)) return "";
        return "expected cuda, sim, auto or recorded:PATH, got '" + text + "'";
      },
      "cuda|sim|auto|recorded:PATH");
}
} // namespace

void add_device_options(CLI::App& cmd, DeviceOptions& opts) {
  cmd.add_option("--target", opts.target,
                 "GPU target: a preset ('chameleon targets') or auto (GPU --gpu, else h100)")
      ->capture_default_str();
  cmd.add_option(
         "--device", opts.device,
         "Measure on cuda (a real GPU), sim, auto, or recorded:PATH (answers from recorded slices, "
         "docs/measurement.md)")
      ->check(device_name_check())
      ->capture_default_str();
  add_timing_options(cmd, opts);
  auto& m = opts.measure;
  cmd.add_option("--max-number", m.max_number, "Cap on launches per round")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--run-timeout", m.run_timeout_s,
                 "Seconds before a config counts as hung (error 7)")
      ->check(above(0))
      ->capture_default_str();
  cmd.add_option("--rtol", m.rtol, "Verification: relative tolerance")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--atol", m.atol, "Verification: absolute tolerance, relative to max |reference|")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--seed", m.seed, "Seed of inputs, weights (and random choices)")
      ->capture_default_str();
  cmd.add_option("--build-jobs", opts.build.jobs, "Parallel NVRTC compiles (0: one per core)")
      ->check(between(0, 1024))
      ->capture_default_str();
  cmd.add_option("--build-timeout", opts.build.timeout_s,
                 "Seconds before a compile counts as hung (error 6)")
      ->check(above(0))
      ->capture_default_str();
  cmd.add_flag("--no-cache", opts.no_cache, "Do not read or write the on-disk compile cache");
  cmd.add_flag("--sim-estimate", opts.sim_estimate,
               "Sim device only: estimate registers instead of compiling (fast tuner studies)");
}

namespace {
// --device recorded:PATH: the recording's own target (--target must agree with its architecture).
ResolvedDevice resolve_recorded(const DeviceOptions& opts) {
  ResolvedDevice out;
  out.device = "recorded";
  out.recording = opts.device.substr(std::strlen(kRecorded));
  if (opts.sim_estimate) throw Error("--sim-estimate needs --device sim");
  out.slices = std::make_shared<const std::vector<tune::SliceRecording>>(
      tune::read_recording(out.recording));
  out.target = out.slices->front().target;
  for (const auto& s : *out.slices) {
    if (s.complete()) {
      out.target = s.target;
      break;
    }
  }
  if (opts.target != "auto") {
    const target::Target named = target::find_preset(opts.target);
    if (named.sm() != out.target.sm()) {
      throw Error("--target " + named.name + " (" + named.arch() +
                  ") is not the GPU the recording " + out.recording + " was measured on (" +
                  out.slices->front().device + ", " + out.target.arch() + "): leave --target out");
    }
  }
  return out;
}
} // namespace

std::unique_ptr<measure::Runner> make_device_runner(const DeviceOptions& opts,
                                                    const ResolvedDevice& rd, int ordinal) {
  if (rd.device == "recorded") return tune::make_recorded_runner(rd.recording, *rd.slices);
  return measure::make_runner(rd.device, rd.target, opts.measure, ordinal);
}

ResolvedDevice resolve_device(const DeviceOptions& opts) {
  if (opts.device.rfind(kRecorded, 0) == 0) return resolve_recorded(opts);
  ResolvedDevice out;
  std::string why;
  bool gpu = opts.device != "sim" && measure::gpu_available(&why);
  if (opts.device == "cuda" && !gpu) throw Error(why);
  out.device = gpu ? "cuda" : "sim";
  if (opts.sim_estimate && out.device != "sim") throw Error("--sim-estimate needs --device sim");
  if (opts.target != "auto") {
    out.target = target::find_preset(opts.target);
    if (gpu) {
      target::Target real = measure::target_from_device(opts.gpu);
      if (real.sm() != out.target.sm()) {
        std::string why = "target " + out.target.name + " (" + out.target.arch() + ") is not GPU " +
                          std::to_string(opts.gpu) + " (" + real.description + ", " + real.arch() +
                          ")";
        if (opts.device == "cuda") throw Error(why + ": use --target auto, or --device sim");
        spdlog::warn("{}: simulating {} (--device sim)", why, out.target.name);
        out.device = "sim";
      }
    }
  } else if (gpu) {
    out.target = measure::target_from_device(opts.gpu);
  } else {
    out.target = target::find_preset("h100");
    if (opts.device == "auto") spdlog::warn("{}; simulating an h100 (--device sim)", why);
  }
  return out;
}

std::unique_ptr<measure::Builder> make_builder(const DeviceOptions& opts,
                                               const ResolvedDevice& rd) {
  std::string warning;
  const bool recorded = rd.device == "recorded";
  std::string arch = measure::compile_arch_for(rd.target, rd.device != "cuda", &warning);
  if (!warning.empty() && !recorded) spdlog::warn("{}", warning);
  measure::BuildOptions bopts = opts.build;
  bopts.cache_dir = opts.no_cache ? "" : measure::default_cache_dir();
  // A recorded device answers with the recorded resources: nothing is compiled here.
  bopts.compile = !opts.sim_estimate && !recorded;
  return std::make_unique<measure::Builder>(rd.target, arch, bopts);
}

std::string shared_memory_text(const measure::BuildResult& b) {
  const int64_t dynamic = b.features.geometry.dynamic_smem;
  return std::to_string(b.resources.static_smem + dynamic) + " bytes shared memory" +
         (dynamic > 0 ? " (" + std::to_string(dynamic) + " dynamic)" : "");
}

std::string flops_count_note(const std::vector<std::string>& templates) {
  auto has = [&](const char* name) {
    return std::find(templates.begin(), templates.end(), name) != templates.end();
  };
  const bool wino = has("conv2d_winograd"), tc = has("conv2d_winograd_tc");
  if (!wino && !tc) return "";
  const std::string who = wino && tc ? "conv2d_winograd and conv2d_winograd_tc compute"
                          : wino     ? "conv2d_winograd computes"
                                     : "conv2d_winograd_tc computes";
  return "GFLOPS and % peak count the direct convolution's arithmetic (2*N*K*C*R*S*P*Q/groups), as "
         "for cuDNN; " +
         who + " the same outputs with " +
         (wino ? "2.25x (F(2x2)) or 4x (F(4x4))" : "2.25x (F(2x2))") + " fewer multiply-adds\n";
}

} // namespace chameleon::app
