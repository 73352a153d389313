#include "chameleon/emit/bench.hpp"

#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/emit/replay.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/sim_runner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/sha256.hpp"
#include "chameleon/util/strings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <unistd.h>

namespace chameleon::emit {

namespace fs = std::filesystem;

Baseline read_baseline(const std::string& path) {
  const nlohmann::json j = util::read_json_file(path, "baseline");
  auto fail = [&](const std::string& why) {
    return Error("baseline '" + path + "': " + why + " (scripts/torch_baseline.py writes one)");
  };
  if (!j.is_object() || j.value("schema", std::string()) != "chameleon-baseline/1")
    throw fail("not a chameleon-baseline/1 file");
  if (!j.contains("kernels") || !j.at("kernels").is_array()) throw fail("no kernels list");
  Baseline b;
  b.file = path;
  try {
    b.name = j.value("baseline", std::string("baseline"));
    b.description = j.value("description", std::string());
    b.device = j.value("device", std::string());
    b.date = j.value("date", std::string());
    b.allow_tf32 = j.value("allow_tf32", false);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("a field of the wrong type: ") + e.what());
  }
  if (b.name.empty()) throw fail("its baseline name is empty");
  for (const nlohmann::json& k : j.at("kernels")) {
    try {
      const task::Conv2dWorkload wl = task::workload_from_json(k.at("workload"));
      Baseline::Entry e;
      if (k.contains("error")) {
        e.error = k.at("error").get<std::string>();
      } else {
        e.seconds = k.at("median_s").get<double>();
        if (!(e.seconds > 0)) throw Error("median_s must be above zero");
      }
      b.by_workload[wl.key()] = e;
    } catch (const std::exception& e) {
      spdlog::warn("baseline '{}': an entry left out: {}", path, e.what());
    }
  }
  if (b.by_workload.empty()) throw fail("no entry could be read");
  return b;
}

target::Target sim_target(const std::string& flag, const Manifest& m) {
  if (!flag.empty()) return target::find_preset(flag);
  for (const target::Target& t : target::presets()) {
    if (t.name == m.target) return t;
  }
  const int sm = m.arch.rfind("sm_", 0) == 0 ? std::atoi(m.arch.c_str() + 3) : 0;
  const target::Target* closest = target::closest_preset(m.device, sm);
  if (closest == nullptr) {
    throw Error("the manifest names no known target (target '" + m.target + "', device '" +
                m.device + "', arch '" + m.arch + "'): pass --target");
  }
  if (util::lower(m.device).find(closest->name) == std::string::npos) {
    spdlog::warn(
        "no preset is named in the manifest's device '{}': simulating {}, the first of its arch {} "
        "(--target picks another)",
        m.device, closest->name, m.arch);
  }
  return *closest;
}

namespace {

// A manifest's kernel as the runner takes it: its image read and checked against the manifest's
// checksum, and on the sim its template's features. A damaged entry or file is the kernel's
// failure (its build's error).
measure::BuildResult load_kernel(const fs::path& dir, const ManifestKernel& k, bool use_ptx,
                                 bool sim, const std::string& arch) {
  measure::BuildResult b;
  auto fail = [&](const std::string& why) {
    b.error = measure::ErrorNo::CompileHost;
    b.message = why;
    return b;
  };
  if (!k.damaged.empty()) return fail(k.damaged);
  b.entry = k.entry;
  b.features.geometry = k.geometry;
  b.features.tf32 = k.tf32;
  b.resources = k.resources;
  const fs::path image_path = dir / (use_ptx ? k.ptx_file : k.cubin_file);
  std::ifstream image(image_path, std::ios::binary);
  std::stringstream bytes;
  bytes << image.rdbuf();
  b.cubin = bytes.str();
  if (b.cubin.empty()) return fail("missing or empty " + image_path.string() + " (replay again)");
  // Manifests of older versions carry no checksums.
  const std::string& sha = use_ptx ? k.ptx_sha256 : k.cubin_sha256;
  if (!sha.empty() && sha != util::sha256_hex(b.cubin)) {
    return fail(image_path.string() +
                " is not the file replay wrote (its SHA-256 differs): damaged or replaced "
                "(replay again)");
  }
  if (use_ptx) b.cubin.push_back('\0');
  if (sim) {
    // The sim times a kernel from what its template says of the config (the cubin only has to
    // be there), keyed as the tune keyed it: the same kernel gets the same time.
    const codegen::Template* t = codegen::template_named(k.template_name);
    if (t == nullptr)
      return fail("template '" + k.template_name +
                  "' is not one of this chameleon's (replay with it)");
    if (k.template_fingerprint != t->fingerprint()) {
      return fail(k.template_name + " has changed since this replay (fingerprint " +
                  k.template_fingerprint + ", now " + t->fingerprint() + "): replay the log again");
    }
    try {
      const auto sp = t->make_space(k.workload);
      const auto cfg = sp.get(k.config_index);
      b.features = t->features(k.workload, sp, cfg);
      // Keyed as the tune's compile was: an arch-specific kernel (wgmma) by its arch's variant.
      const codegen::KernelSource src = t->render(k.workload, sp, cfg);
      b.cache_key =
          measure::compile_key(src.code, src.arch_specific ? cuda::arch_specific(arch) : arch);
    } catch (const std::exception& e) {
      return fail("manifest entry " + k.name + ": " + e.what());
    }
  }
  return b;
}

// The FLOPs of the products kernel `k` computes (Template::arithmetic_flops); the workload's
// where its template or config is not this chameleon's.
double arithmetic_flops(const ManifestKernel& k) {
  const double direct = double(k.workload.flops());
  const codegen::Template* t = codegen::template_named(k.template_name);
  if (t == nullptr) return direct;
  try {
    const auto sp = t->make_space(k.workload);
    return t->arithmetic_flops(k.workload, sp, sp.get(k.config_index));
  } catch (const std::exception&) {
    return direct;
  }
}

// The baseline files of `o`, read into `out` (after its device is known), with a warning for each
// that was not timed like this bench.
void read_baselines(const BenchOptions& o, BenchResult& out) {
  for (const std::string& file : o.baselines) {
    out.baselines.push_back(read_baseline(file));
    const Baseline& b = out.baselines.back();
    if (o.sim) {
      spdlog::warn("baseline '{}' was timed on {}, ours on the sim model: the columns are not "
                   "comparable",
                   file, b.device.empty() ? "an unnamed device" : b.device);
    } else if (b.device != out.device_name) {
      spdlog::warn("baseline '{}' was timed on {}, this bench runs on {}: not a side-by-side "
                   "figure",
                   file, b.device.empty() ? "an unnamed device" : b.device, out.device_name);
    }
    if (b.allow_tf32 != o.allow_tf32) {
      spdlog::warn("baseline '{}' was timed with TF32 {}, this bench's cuDNN with TF32 {}", file,
                   b.allow_tf32 ? "on" : "off", o.allow_tf32 ? "on" : "off");
    }
  }
  out.baseline_total_s.assign(out.baselines.size(), 0.0);
  out.baseline_complete.assign(out.baselines.size(), true);
  out.fastest_complete = true;
}

// The row's baseline entries, its fastest baseline (cuDNN included) and the totals.
void compare_baselines(BenchResult& out, BenchRow& row, const task::Conv2dWorkload* wl) {
  if (row.cudnn.ok()) {
    row.fastest_s = row.cudnn.median;
    row.fastest = "cuDNN";
  }
  for (size_t i = 0; i < out.baselines.size(); ++i) {
    Baseline::Entry e;
    e.error = "no entry for this workload";
    if (wl != nullptr) {
      auto it = out.baselines[i].by_workload.find(wl->key());
      if (it != out.baselines[i].by_workload.end()) e = it->second;
    }
    if (e.seconds > 0) {
      out.baseline_total_s[i] += e.seconds * row.count;
      if (row.fastest_s == 0 || e.seconds < row.fastest_s) {
        row.fastest_s = e.seconds;
        row.fastest = out.baselines[i].name;
      }
    } else {
      out.baseline_complete[i] = false;
    }
    row.baselines.push_back(e);
  }
  if (row.fastest_s > 0)
    out.fastest_total_s += row.fastest_s * row.count;
  else
    out.fastest_complete = false;
}

// A replay made for the bench only, removed when the bench ends.
struct Scratch {
  fs::path path;
  ~Scratch() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

} // namespace

BenchResult bench(const BenchOptions& o) {
  if (!o.sim) {
    if (!o.target.empty())
      throw Error("--target is for --device sim: on a GPU the target is the GPU");
    std::string why;
    if (!measure::gpu_available(&why)) {
      // The sim has nothing to compare against cuDNN: point at its own bench instead.
      if (auto hint = why.find("; use --device sim"); hint != std::string::npos) why.resize(hint);
      throw Error("bench times kernels against cuDNN on a GPU: " + why +
                  " (--device sim re-times the kernels on the sim model, without cuDNN)");
    }
  }
  fs::path dir = o.input;
  Scratch scratch;
  if (!fs::is_directory(dir)) {
    dir = fs::temp_directory_path() / ("chameleon-bench-" + std::to_string(::getpid()));
    spdlog::info("replaying {} into {}", o.input, dir.string());
    scratch.path = dir;
    ReplayOptions ro;
    ro.device = o.log_device;
    ro.cache_dir = measure::default_cache_dir();
    ro.allow_tf32 = o.allow_tf32;
    ro.arch = o.log_arch;
    auto replayed = replay(o.input, dir.string(), ro);
    warn_selection(replayed.selection);
    if (replayed.selection.best.empty())
      throw Error(o.input + ": no kernel to bench (above: why for each task)");
  }
  const Manifest manifest = read_manifest(dir.string());
  BenchResult out;
  out.missing = manifest.missing;
  // From a folder: its replay said why; say it again, as the totals leave the task out.
  if (scratch.path.empty()) {
    for (const MissingKernel& m : out.missing)
      spdlog::warn("no kernel for {}: {}", m.shape, m.reason);
  }
  if (manifest.kernels.empty()) {
    throw Error((dir / "manifest.json").string() + " lists no kernel (above: why for each task)");
  }
  std::unique_ptr<measure::CudaRunner> gpu_runner;
  std::unique_ptr<measure::SimRunner> sim_runner;
  measure::Runner* runner = nullptr;
  if (o.sim) {
    out.target = sim_target(o.target, manifest);
    sim_runner = std::make_unique<measure::SimRunner>(out.target, o.measure);
    runner = sim_runner.get();
  } else {
    gpu_runner = std::make_unique<measure::CudaRunner>(o.gpu, o.measure);
    out.target = measure::target_from_device(o.gpu);
    runner = gpu_runner.get();
  }
  out.device_name = runner->device_name();
  out.simulated = o.sim;
  out.manifest_log = manifest.log;
  const std::string arch = manifest.arch.empty() ? "?" : manifest.arch;
  const bool use_ptx = !o.sim && arch != out.target.arch();
  int tf32_kernels = 0;
  for (const ManifestKernel& k : manifest.kernels)
    tf32_kernels += k.damaged.empty() && k.tf32 ? 1 : 0;
  if (tf32_kernels > 0 && !o.allow_tf32 && !o.sim) {
    spdlog::warn(
        "{} of our kernels compute in TF32 while cuDNN is held to fp32: pass --allow-tf32 to "
        "compare like with like",
        tf32_kernels);
  }
  if (use_ptx)
    spdlog::warn("kernels were built for {}, this GPU is {}: loading their PTX", arch,
                 out.target.arch());
  out.cudnn_complete = !o.sim;
  read_baselines(o, out);
  for (const ManifestKernel& k : manifest.kernels) {
    BenchRow row;
    row.kernel = k.name;
    row.count = k.damaged.empty() ? k.count : 1;
    const measure::BuildResult build = load_kernel(dir, k, use_ptx, o.sim, arch);
    const bool has_workload = k.damaged.empty();
    if (has_workload) {
      row.shape = k.workload.str();
      row.template_name = k.template_name;
      row.flops = double(k.workload.flops());
      row.arithmetic_flops = arithmetic_flops(k);
      row.ours = runner->run(k.workload, build);
      const std::string dtype = task::dtype_name(k.workload.dtype);
      if (std::find(out.dtypes.begin(), out.dtypes.end(), dtype) == out.dtypes.end())
        out.dtypes.push_back(dtype);
      out.fused += k.workload.epilogue.empty() ? 0 : 1;
    } else {
      row.ours.error = build.error;
      row.ours.message = build.message;
    }
    if (o.sim) {
      row.cudnn.error = measure::ErrorNo::Unknown;
    } else if (has_workload) {
      row.cudnn = gpu_runner->run_cudnn(k.workload, o.allow_tf32);
    } else {
      row.cudnn.error = measure::ErrorNo::Unknown;
      row.cudnn.message = "not run: no workload";
    }
    if (row.ours.ok()) {
      out.ours_total_s += row.ours.median * row.count;
      out.timed_templates.push_back(row.template_name);
    } else {
      ++out.failed;
      spdlog::warn("{}: {}", row.kernel, row.ours.message);
    }
    if (row.cudnn.ok() && has_workload && !k.workload.epilogue.empty() &&
        row.cudnn.settings.value("epilogue", std::string()) == "convolution alone")
      ++out.cudnn_conv_alone;
    if (row.cudnn.ok())
      out.cudnn_total_s += row.cudnn.median * row.count;
    else
      out.cudnn_complete = false;
    compare_baselines(out, row, has_workload ? &k.workload : nullptr);
    out.rows.push_back(std::move(row));
  }
  return out;
}

} // namespace chameleon::emit
