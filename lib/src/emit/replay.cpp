#include "chameleon/emit/replay.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/sha256.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/worker_process.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace chameleon::emit {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The records of one workload on the chosen device.
struct Group {
  std::optional<tune::Record> best;
  std::vector<size_t> current; // valid records of the templates' current versions
  std::vector<size_t> older;   // valid records of older template versions
  int records = 0;
  size_t first = 0;
  task::Conv2dWorkload wl;
  std::string why;               // why no record is usable, when none is
  std::set<std::string> unknown; // templates this version does not have
};

std::string records_text(size_t n) {
  return std::to_string(n) + (n == 1 ? " record" : " records");
}

bool faster(const tune::Record& a, const tune::Record& b) {
  return a.seconds() < b.seconds() ||
         (a.seconds() == b.seconds() && a.result.spread < b.result.spread);
}

// Whether today's template can express a record's config (a damaged or hand-edited one cannot);
// why not in `why`.
bool expressible(const tune::Record& r, std::string& why) {
  try {
    codegen::find_template(r.template_name).make_space(r.workload).from_entity(r.entity);
    return true;
  } catch (const Error& e) {
    why = e.what();
    return false;
  }
}

// The device's valid records by workload, each a current or an older template version's.
std::map<std::string, Group> group_records(const std::vector<tune::Record>& records, Selection& sel,
                                           bool allow_tf32) {
  std::set<std::string> tf32_templates;
  for (const codegen::Template* t : codegen::templates()) {
    if (t->tf32()) tf32_templates.insert(t->name());
  }
  std::map<std::string, Group> groups;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.device != sel.device) continue;
    auto [it, inserted] = groups.try_emplace(r.workload.key());
    Group& g = it->second;
    if (inserted) {
      g.first = i;
      g.wl = r.workload;
    }
    ++g.records;
    if (!r.ok()) continue;
    if (!allow_tf32 && tf32_templates.count(r.template_name)) {
      ++sel.tf32_skipped;
      continue;
    }
    const codegen::Template* tmpl = codegen::template_named(r.template_name);
    if (tmpl == nullptr) { // a template this version does not have
      g.unknown.insert(r.template_name);
      continue;
    }
    (tune::current_version(r, *tmpl) ? g.current : g.older).push_back(i);
  }
  return groups;
}

// Today's records: the fastest whose config its template can express. One that it cannot is left
// out with a note, not the replay of every kernel.
void pick_current(Group& g, const std::vector<tune::Record>& records, Selection& sel) {
  std::stable_sort(g.current.begin(), g.current.end(),
                   [&](size_t a, size_t b) { return faster(records[a], records[b]); });
  for (size_t i : g.current) {
    std::string why;
    if (expressible(records[i], why)) {
      g.best = records[i];
      break;
    }
    const tune::Record& r = records[i];
    sel.damaged.push_back("task " + std::to_string(r.task_index) + " (" + r.workload.str() +
                          "): a record of " + r.template_name + " (" +
                          util::fixed(r.seconds() * 1e6, 2) +
                          " us) left out: its config does not fit the task (" + why + ")");
  }
  if (!g.best && !g.current.empty()) {
    g.why = records_text(g.current.size()) +
            (g.current.size() == 1 ? " whose config does" : " whose configs do") +
            " not fit the task (the warnings above say why); tune again";
  }
}

// Records of older template versions: beside a current pick, a note when one was faster; for a
// workload with only such records, the fastest whose config today's template can still express.
void pick_older(Group& g, const std::vector<tune::Record>& records, Selection& sel) {
  if (g.older.empty()) return;
  std::sort(g.older.begin(), g.older.end(),
            [&](size_t a, size_t b) { return faster(records[a], records[b]); });
  if (g.best) {
    const tune::Record& old = records[g.older.front()];
    if (faster(old, *g.best)) {
      sel.stale.push_back(
          "task " + std::to_string(g.best->task_index) + " (" + g.wl.str() +
          "): " + records_text(g.older.size()) + " of older template versions left out, the " +
          "fastest (" + old.template_name + ", " + util::fixed(old.seconds() * 1e6, 2) +
          " us) faster than the kernel chosen (" + util::fixed(g.best->seconds() * 1e6, 2) +
          " us); tune again to measure today's templates");
    }
    return;
  }
  std::string why;
  for (size_t i : g.older) {
    const tune::Record& r = records[i];
    const codegen::Template* tmpl = codegen::template_named(r.template_name);
    std::string cannot;
    if (!expressible(r, cannot)) {
      if (why.empty()) why = cannot;
      continue;
    }
    g.best = r;
    sel.stale.push_back(
        "task " + std::to_string(r.task_index) + " (" + r.workload.str() + "): the record of " +
        r.template_name + " was made by an older version of it (" + r.template_fingerprint +
        ", now " + tmpl->fingerprint() + "): the kernel is today's code for its config, " +
        "its time the old one's; tune again to measure it");
    break;
  }
  if (!g.best) {
    g.why = records_text(g.older.size()) + " of older template versions whose configs today's " +
            "templates cannot express (" + why + "); tune again";
  }
}

} // namespace

Selection select_best(const std::vector<tune::Record>& records, const std::string& device,
                      bool allow_tf32) {
  Selection sel;
  std::set<std::string> devices;
  for (const auto& r : records) devices.insert(r.device);
  sel.devices.assign(devices.begin(), devices.end());
  sel.device = !device.empty() ? device : (records.empty() ? "" : records.back().device);
  if (!device.empty() && !devices.count(device)) {
    throw Error("the log has no records of device '" + device +
                "' (it has: " + util::join(sel.devices, ", ") + ")");
  }
  std::map<std::string, Group> groups = group_records(records, sel, allow_tf32);
  for (auto& [key, g] : groups) pick_current(g, records, sel);
  for (auto& [key, g] : groups) pick_older(g, records, sel);
  std::vector<const Group*> order;
  for (const auto& [key, g] : groups) order.push_back(&g);
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    int ta = a->best ? a->best->task_index : 0, tb = b->best ? b->best->task_index : 0;
    return ta != tb ? ta < tb : a->first < b->first;
  });
  for (const Group* g : order) {
    if (g->best) {
      sel.best.push_back(*g->best);
      continue;
    }
    std::string why = g->why;
    if (why.empty() && !g->unknown.empty()) {
      why = "records only of templates this version does not have (" +
            util::join(std::vector<std::string>(g->unknown.begin(), g->unknown.end()), ", ") + ")";
    }
    if (why.empty()) why = records_text(size_t(g->records)) + ", none measured without error";
    sel.missing.emplace_back(g->wl, why);
  }
  return sel;
}

void warn_selection(const Selection& sel) {
  for (const auto& note : sel.damaged) spdlog::warn("{}", note);
  for (const auto& [wl, why] : sel.missing) spdlog::warn("no kernel for {}: {}", wl.str(), why);
  for (const auto& note : sel.stale) spdlog::warn("{}", note);
  if (sel.tf32_skipped > 0) {
    spdlog::info("{} TF32 records left out (--allow-tf32 lets them compete)", sel.tf32_skipped);
  }
}

namespace {

std::string kernel_name(const tune::Record& r, size_t position,
                        const std::set<int>& duplicate_tasks) {
  char buf[32];
  if (r.task_index > 0 && !duplicate_tasks.count(r.task_index)) {
    std::snprintf(buf, sizeof(buf), "task_%02d", r.task_index);
  } else {
    std::snprintf(buf, sizeof(buf), "kernel_%02zu", position + 1);
  }
  return buf;
}

// A kernel of the replay: its template, config and source, and the arch its record names.
struct Prepared {
  const codegen::Template* tmpl;
  space::ConfigSpace sp;
  space::Config cfg;
  codegen::KernelSource src;
  std::string arch; // sm_XY; its PTX is compiled for compute_XY

  // What its cubin is compiled for: sm_XY, or sm_XYa for an arch-specific kernel (wgmma).
  std::string cubin_arch() const { return src.arch_specific ? cuda::arch_specific(arch) : arch; }
  std::string ptx_arch() const { return "compute_" + cubin_arch().substr(3); }
};

// The manifest's entry of a kernel replay wrote: its record, kernel, files and their checksums.
ManifestKernel manifest_kernel(const tune::Record& r, const Prepared& p, const std::string& name,
                               const target::Resources& res, const std::string& cubin,
                               const std::string& ptx) {
  ManifestKernel k;
  k.name = name;
  k.task = r.task_index;
  k.count = std::max(1, r.layer_count);
  k.workload = r.workload;
  k.template_name = r.template_name;
  k.template_fingerprint = p.tmpl->fingerprint();
  k.config_index = p.cfg.index;
  k.entity = p.sp.entity_json(p.cfg);
  k.entry = p.src.entry;
  k.reduce_entry = p.src.geometry.workspace_splits > 0 ? codegen::kSplitkReduceEntry : "";
  k.tf32 = p.tmpl->tf32();
  k.arch = p.cubin_arch();
  k.resources = res;
  k.geometry = p.src.geometry;
  k.seconds = r.seconds();
  k.spread = r.result.spread;
  k.gflops = double(r.workload.flops()) / r.seconds() / 1e9;
  k.simulated = r.result.simulated;
  k.record_line = r.line;
  k.record_timestamp = r.result.timestamp;
  k.record_tuner = r.tuner;
  k.source_file = name + ".cu";
  k.cubin_file = name + ".cubin";
  k.ptx_file = name + ".ptx";
  k.source_sha256 = util::sha256_hex(p.src.code);
  k.cubin_sha256 = util::sha256_hex(cubin);
  k.ptx_sha256 = util::sha256_hex(ptx);
  return k;
}

// The arch a record's kernel is compiled for: `chosen` (--arch) when given, else the record's.
// Said (once per target and arch: `said`) when it is not the arch of the record's target (the sim
// compiled for the nearest arch its NVRTC had), and refused with the fix when the record names
// none or no NVRTC here compiles for it.
std::string kernel_arch(const tune::Record& r, const std::string& chosen,
                        std::set<std::string>& said) {
  const std::string what =
      (r.task_index > 0 ? "task " + std::to_string(r.task_index) + " (" : "the kernel of (") +
      r.workload.str() + ")";
  std::string arch = chosen.empty() ? r.arch : chosen;
  if (arch.empty()) {
    throw Error(what + ": its record does not say which GPU it is for (target '" + r.target +
                "'): pass --arch sm_XY to choose the arch to compile for");
  }
  if (cuda::arch_sm(arch) == 0 || arch.rfind("sm_", 0) != 0) {
    throw Error("--arch '" + arch + "': expected sm_XY, e.g. sm_70");
  }
  // An AutoTVM record's arch is its target's (tune::arch_of_autotvm_target); ours name a preset.
  const int target_sm = r.foreign ? cuda::arch_sm(r.arch) : target::sm_of_model(r.target);
  const std::string target_arch = target_sm > 0 ? "sm_" + std::to_string(target_sm) : "";
  if (!target_arch.empty() && arch != target_arch && said.insert(r.target + "/" + arch).second) {
    if (!chosen.empty()) {
      spdlog::warn("records of {} ({}): compiling for {} as --arch asks", r.target, target_arch,
                   arch);
    } else {
      spdlog::warn("records of {} ({}) were compiled for {} (the nearest arch the tune's NVRTC "
                   "had): their kernels are for {}; --arch {} compiles them for {}",
                   r.target, target_arch, arch, arch, target_arch, r.target);
    }
  }
  if (const std::string problem = cuda::nvrtc_arch_problem(cuda::arch_sm(arch)); !problem.empty()) {
    throw Error(what + ": " + problem +
                (chosen.empty() ? "; or --arch sm_XY to compile for another arch" : ""));
  }
  return arch;
}

// Every kernel's cubin and PTX, compiled on the builder's workers (every core, each compile in a
// worker process, as a tune's, so that a hung or crashing NVRTC costs a worker, not the replay)
// and through the compile cache: a kernel the tune compiled is the cubin it measured, and PTX from
// the cache keeps a replay's bytes the same (NVRTC 13.0 may number the PTX registers of some
// implicit GEMM configs differently from one compile to the next).
struct Compiled {
  std::future<measure::CompiledKernel> cubin, ptx;
};

std::vector<Compiled> compile_all(measure::Builder& builder, const std::vector<Prepared>& kernels,
                                  size_t& missing) {
  missing = 0;
  for (const Prepared& k : kernels) {
    missing += builder.cached(k.src.code, k.cubin_arch()) ? 0 : 1;
    missing += builder.cached(k.src.code, k.ptx_arch()) ? 0 : 1;
  }
  if (missing > 0) {
    spdlog::info("compiling {} kernels the compile cache lacks (cubins and PTX), {} at a time",
                 missing, std::min<size_t>(missing, size_t(builder.jobs())));
  }
  std::vector<Compiled> out;
  for (const Prepared& k : kernels) {
    out.push_back({builder.compile_source(k.src.code, k.src.entry, k.cubin_arch()),
                   builder.compile_source(k.src.code, k.src.entry, k.ptx_arch())});
  }
  return out;
}

} // namespace

ReplayResult replay(const std::string& log_path, const std::string& dir,
                    const ReplayOptions& options) {
  tune::LogContents contents = tune::read_log(log_path);
  for (const auto& [task, count] : contents.other_tasks) {
    spdlog::warn("{}: {} of {} left out: chameleon has no template for that AutoTVM task", log_path,
                 count == 1 ? "1 record" : std::to_string(count) + " records", task);
  }
  ReplayResult result;
  result.selection = select_best(contents.records, options.device, options.allow_tf32);
  const Selection& sel = result.selection;
  if (sel.best.empty() && sel.missing.empty()) throw Error(log_path + ": no tuning records");
  util::make_folder(dir, "the output folder");

  std::set<int> seen_tasks, duplicate_tasks;
  for (const auto& r : sel.best) {
    if (r.task_index > 0 && !seen_tasks.insert(r.task_index).second)
      duplicate_tasks.insert(r.task_index);
  }
  // Every kernel's source, then their compiles on every core, then the files, in task order.
  std::vector<Prepared> prepared;
  std::set<std::string> arch_said;
  for (const tune::Record& r : sel.best) {
    const codegen::Template& tmpl = codegen::find_template(r.template_name);
    space::ConfigSpace sp = tmpl.make_space(r.workload);
    space::Config cfg = sp.from_entity(r.entity);
    codegen::KernelSource src = tmpl.render(r.workload, sp, cfg);
    std::string arch = kernel_arch(r, options.arch, arch_said);
    if (!tmpl.runs_on(cuda::arch_sm(arch))) {
      throw Error("the kernel of " + r.workload.str() + " (" + tmpl.name() + ") " +
                  codegen::arch_reason(tmpl, cuda::arch_sm(arch)) + ": it cannot be compiled for " +
                  arch + (options.arch.empty() ? "" : " (--arch)"));
    }
    prepared.push_back({&tmpl, std::move(sp), cfg, std::move(src), std::move(arch)});
  }
  measure::BuildOptions build_options;
  build_options.cache_dir = options.cache_dir;
  build_options.timeout_s = 600; // a kernel the tune compiled; only a hung NVRTC takes this long
  measure::Builder builder(target::Target(), "", build_options);
  const auto compile_start = std::chrono::steady_clock::now();
  size_t missing = 0;
  std::vector<Compiled> compiled = compile_all(builder, prepared, missing);

  Manifest& m = result.manifest;
  for (size_t i = 0; i < sel.best.size(); ++i) {
    const tune::Record& r = sel.best[i];
    const codegen::KernelSource& src = prepared[i].src;
    const std::string& kernel_arch = prepared[i].arch;
    const std::string name = kernel_name(r, i, duplicate_tasks);
    measure::CompiledKernel cubin = compiled[i].cubin.get();
    if (!cubin.ok)
      throw Error(name + " (" + r.workload.str() + ") no longer compiles: " + cubin.log);
    // Registers as ptxas reported them now, else as the record has them.
    target::Resources res = cubin.resources.registers > 0 ? cubin.resources : r.result.resources;
    measure::CompiledKernel ptx = compiled[i].ptx.get();
    if (!ptx.ok)
      throw Error(name + " (" + r.workload.str() + ") does not compile to PTX: " + ptx.log);
    util::write_file((fs::path(dir) / (name + ".cu")).string(), src.code);
    util::write_file((fs::path(dir) / (name + ".cubin")).string(), cubin.cubin);
    util::write_file((fs::path(dir) / (name + ".ptx")).string(), ptx.cubin);

    m.kernels.push_back(manifest_kernel(r, prepared[i], name, res, cubin.cubin, ptx.cubin));
    m.arch = kernel_arch;
    if (m.network.empty()) m.network = r.network;
    m.target = r.target;
    m.device_fingerprint = r.device_fingerprint;
    m.simulated = m.simulated || r.result.simulated;
  }
  if (missing > 0) {
    spdlog::info(
        "compiled in {:.1f} s",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count());
  }
  for (const auto& [wl, why] : sel.missing) m.missing.push_back({wl, true, wl.str(), why});
  m.log = fs::path(log_path).filename().string();
  m.device = sel.device;
  m.nvrtc = cuda::nvrtc_version(cuda::arch_sm(m.arch));
  util::write_file((fs::path(dir) / "manifest.json").string(), to_json(m).dump(2) + "\n");
  util::write_file((fs::path(dir) / "kernels.hpp").string(), kernels_header(m));
  return result;
}

} // namespace chameleon::emit
