#include "chameleon/emit/replay.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/sha256.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/worker_process.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace chameleon::emit {

namespace fs = std::filesystem;
using nlohmann::json;

Selection select_best(const std::vector<tune::Record>& records, const std::string& device,
                      bool allow_tf32) {
  std::set<std::string> tf32_templates;
  for (const codegen::Template* t : codegen::templates()) {
    if (t->tf32()) tf32_templates.insert(t->name());
  }
  Selection sel;
  std::set<std::string> devices;
  for (const auto& r : records) devices.insert(r.device);
  sel.devices.assign(devices.begin(), devices.end());
  sel.device = !device.empty() ? device : (records.empty() ? "" : records.back().device);
  if (!device.empty() && !devices.count(device)) {
    throw Error("the log has no records of device '" + device + "' (it has: " + util::join(sel.devices, ", ") + ")");
  }
  struct Group {
    std::optional<tune::Record> best;
    std::vector<size_t> current; // valid records of the templates' current versions
    std::vector<size_t> older; // valid records of older template versions
    int records = 0;
    size_t first = 0;
    task::Conv2dWorkload wl;
    std::string why; // why no record is usable, when none is
    std::set<std::string> unknown; // templates this version does not have
  };
  auto records_text = [](size_t n) { return std::to_string(n) + (n == 1 ? " record" : " records"); };
  auto faster = [](const tune::Record& a, const tune::Record& b) {
    return a.seconds() < b.seconds() || (a.seconds() == b.seconds() && a.result.spread < b.result.spread);
  };
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
    if (!tune::current_version(r, *tmpl)) {
      g.older.push_back(i);
      continue;
    }
    g.current.push_back(i);
  }
  // Today's records: the fastest whose config its template can express. One that it cannot (a
  // damaged or hand-edited record) is left out with a note, not the replay of every kernel.
  auto expressible = [&](const tune::Record& r, std::string& why) {
    try {
      codegen::find_template(r.template_name).make_space(r.workload).from_entity(r.entity);
      return true;
    } catch (const Error& e) {
      why = e.what();
      return false;
    }
  };
  for (auto& [key, g] : groups) {
    std::stable_sort(g.current.begin(), g.current.end(),
                     [&](size_t a, size_t b) { return faster(records[a], records[b]); });
    for (size_t i : g.current) {
      std::string why;
      if (expressible(records[i], why)) {
        g.best = records[i];
        break;
      }
      const tune::Record& r = records[i];
      sel.damaged.push_back("task " + std::to_string(r.task_index) + " (" + r.workload.str() + "): a record of " +
                            r.template_name + " (" + util::fixed(r.seconds() * 1e6, 2) +
                            " us) left out: its config does not fit the task (" + why + ")");
    }
    if (!g.best && !g.current.empty()) {
      g.why = records_text(g.current.size()) + (g.current.size() == 1 ? " whose config does" : " whose configs do") +
              " not fit the task (the warnings above say why); tune again";
    }
  }
  // Workloads with records of older template versions only: the fastest whose config today's
  // template can still express.
  for (auto& [key, g] : groups) {
    if (g.older.empty()) continue;
    std::sort(g.older.begin(), g.older.end(), [&](size_t a, size_t b) { return faster(records[a], records[b]); });
    if (g.best) {
      const tune::Record& old = records[g.older.front()];
      if (faster(old, *g.best)) {
        sel.stale.push_back("task " + std::to_string(g.best->task_index) + " (" + g.wl.str() + "): " +
                            records_text(g.older.size()) + " of older template versions left out, the " +
                            "fastest (" + old.template_name + ", " + util::fixed(old.seconds() * 1e6, 2) +
                            " us) faster than the kernel chosen (" + util::fixed(g.best->seconds() * 1e6, 2) +
                            " us); tune again to measure today's templates");
      }
      continue;
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
      sel.stale.push_back("task " + std::to_string(r.task_index) + " (" + r.workload.str() + "): the record of " +
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
  std::vector<const Group*> order;
  for (const auto& [key, g] : groups) order.push_back(&g);
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    int ta = a->best ? a->best->task_index : 0, tb = b->best ? b->best->task_index : 0;
    return ta != tb ? ta < tb : a->first < b->first;
  });
  for (const Group* g : order) {
    if (g->best) {
      sel.best.push_back(*g->best);
    } else {
      std::string why = g->why;
      if (why.empty() && !g->unknown.empty()) {
        why = "records only of templates this version does not have (" +
              util::join(std::vector<std::string>(g->unknown.begin(), g->unknown.end()), ", ") + ")";
      }
      if (why.empty()) why = records_text(size_t(g->records)) + ", none measured without error";
      sel.missing.emplace_back(g->wl, why);
    }
  }
  return sel;
}

namespace {

std::string kernel_name(const tune::Record& r, size_t position, const std::set<int>& duplicate_tasks) {
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

  std::string ptx_arch() const { return "compute_" + arch.substr(3); }
};

// Compiles, on every core, the cubins and PTX the cache lacks, so that the loop that writes the
// kernels finds them in memory: from a cold cache (another machine, a log from a colleague) that
// loop would compile two kernels per task one after the other. Each compile runs in a compile
// worker process, as a tune's do, so that a hung or crashing NVRTC costs a worker, not the replay.
// A compile that fails here is done again by that loop, which says why it fails.
void compile_ahead(measure::CompileCache& cache, const std::vector<Prepared>& kernels) {
  constexpr double kTimeoutS = 600; // a kernel the tune compiled; only a hung NVRTC takes this long
  std::vector<std::pair<const Prepared*, std::string>> missing; // a kernel and an arch
  for (const Prepared& k : kernels) {
    for (const std::string& arch : {k.arch, k.ptx_arch()}) {
      if (!cache.get(measure::compile_key(k.src.code, arch))) missing.emplace_back(&k, arch);
    }
  }
  if (missing.empty()) return;
  const size_t workers = std::min<size_t>(missing.size(), std::max(1u, std::thread::hardware_concurrency()));
  spdlog::info("compiling {} kernels the compile cache lacks (cubins and PTX), {} at a time", missing.size(), workers);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      try {
        util::WorkerProcess worker("compile");
        for (size_t i = next++; i < missing.size(); i = next++) {
          const auto& [k, arch] = missing[i];
          measure::WorkerCompile done = measure::compile_in_worker(worker, k->src.code, k->src.entry, arch, kTimeoutS);
          if (done.outcome == util::WorkerProcess::Outcome::Ok) cache.put(measure::compile_key(k->src.code, arch), done.kernel);
        }
      } catch (const std::exception& e) {
        spdlog::debug("replay: a compile worker gave up ({}); the rest is compiled in this process", e.what());
      }
    });
  }
  for (auto& t : pool) t.join();
  spdlog::info("compiled in {:.1f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

} // namespace

ReplayResult replay(const std::string& log_path, const std::string& dir, const std::string& device,
                    const std::string& cache_dir, bool allow_tf32) {
  measure::CompileCache cache(cache_dir);
  tune::LogContents contents = tune::read_log(log_path);
  ReplayResult result;
  result.selection = select_best(contents.records, device, allow_tf32);
  const Selection& sel = result.selection;
  if (sel.best.empty() && sel.missing.empty()) throw Error(log_path + ": no tuning records");
  util::make_folder(dir, "the output folder");

  std::set<int> seen_tasks, duplicate_tasks;
  for (const auto& r : sel.best) {
    if (r.task_index > 0 && !seen_tasks.insert(r.task_index).second) duplicate_tasks.insert(r.task_index);
  }
  // Every kernel's source, then their compiles on every core, then the files, in task order.
  std::vector<Prepared> prepared;
  for (const tune::Record& r : sel.best) {
    const codegen::Template& tmpl = codegen::find_template(r.template_name);
    space::ConfigSpace sp = tmpl.make_space(r.workload);
    space::Config cfg = sp.from_entity(r.entity);
    codegen::KernelSource src = tmpl.render(r.workload, sp, cfg);
    // The record's arch; a simulated record of a target NVRTC cannot compile for keeps the arch
    // its kernels were compiled for, which the record also holds.
    prepared.push_back({&tmpl, std::move(sp), cfg, std::move(src), r.arch.empty() ? "sm_90" : r.arch});
  }
  compile_ahead(cache, prepared);

  json kernels = json::array();
  std::string arch, network, target, fingerprint;
  bool simulated = false;
  for (size_t i = 0; i < sel.best.size(); ++i) {
    const tune::Record& r = sel.best[i];
    const codegen::Template& tmpl = *prepared[i].tmpl;
    const space::ConfigSpace& sp = prepared[i].sp;
    const space::Config& cfg = prepared[i].cfg;
    const codegen::KernelSource& src = prepared[i].src;
    const std::string& kernel_arch = prepared[i].arch;
    const std::string name = kernel_name(r, i, duplicate_tasks);
    measure::CompiledKernel cubin = measure::compile_cached(cache, src.code, src.entry, kernel_arch);
    if (!cubin.ok) throw Error(name + " (" + r.workload.str() + ") no longer compiles: " + cubin.log);
    // Registers as ptxas reported them now, else as the record has them.
    measure::Resources res = cubin.resources.registers > 0 ? cubin.resources : r.result.resources;
    // PTX through the cache too: NVRTC 13.0 may number the PTX registers of some implicit GEMM
    // configs differently from one compile to the next, and a replay must give the same bytes.
    measure::CompiledKernel ptx =
        measure::compile_cached(cache, src.code, src.entry, prepared[i].ptx_arch());
    if (!ptx.ok) throw Error(name + " (" + r.workload.str() + ") does not compile to PTX: " + ptx.log);
    util::write_file((fs::path(dir) / (name + ".cu")).string(), src.code);
    util::write_file((fs::path(dir) / (name + ".cubin")).string(), cubin.cubin);
    util::write_file((fs::path(dir) / (name + ".ptx")).string(), ptx.cubin);

    const auto& g = src.geometry;
    const double flops = double(r.workload.flops());
    json kernel = codegen::to_json(g);
    kernel.update({{"name", name},
                       {"task", r.task_index},
                       {"count", std::max(1, r.layer_count)},
                       {"workload", task::to_json(r.workload)},
                       {"shape", r.workload.str()},
                       {"out_shape", {r.workload.n, r.workload.k, r.workload.out_h(), r.workload.out_w()}},
                       {"flops", r.workload.flops()},
                       {"template", r.template_name},
                       {"template_fingerprint", tmpl.fingerprint()},
                       {"config", {{"index", cfg.index}, {"entity", sp.entity_json(cfg)}}},
                       {"entry", src.entry},
                       {"reduce_entry", g.workspace_splits > 0 ? codegen::kSplitkReduceEntry : ""},
                       {"tf32", tmpl.tf32()},
                       {"arch", kernel_arch},
                       {"resources", measure::to_json(res)},
                       {"measured",
                        {{"seconds", r.seconds()},
                         {"spread", r.result.spread},
                         {"gflops", flops / r.seconds() / 1e9},
                         {"simulated", r.result.simulated}}},
                       {"record", {{"line", r.line}, {"timestamp", r.result.timestamp}, {"tuner", r.tuner}}},
                       {"files", {{"source", name + ".cu"}, {"cubin", name + ".cubin"}, {"ptx", name + ".ptx"}}},
                       // bench tells a damaged or replaced file from the one written here
                       {"sha256",
                        {{"source", util::sha256_hex(src.code)},
                         {"cubin", util::sha256_hex(cubin.cubin)},
                         {"ptx", util::sha256_hex(ptx.cubin)}}}});
    kernels.push_back(std::move(kernel));
    arch = kernel_arch;
    if (network.empty()) network = r.network;
    target = r.target;
    fingerprint = r.device_fingerprint;
    simulated = simulated || r.result.simulated;
  }
  json missing = json::array();
  for (const auto& [wl, why] : sel.missing) {
    missing.push_back({{"workload", task::to_json(wl)}, {"shape", wl.str()}, {"reason", why}});
  }
  result.manifest = {{"schema", "chameleon-manifest/1"},
                     {"log", fs::path(log_path).filename().string()},
                     {"network", network},
                     {"device", sel.device},
                     {"device_fingerprint", fingerprint},
                     {"simulated", simulated},
                     {"target", target},
                     {"arch", arch},
                     {"nvrtc", cuda::nvrtc_version()},
                     {"layout", "data NCHW, weight KCRS (C/groups), out NKOHOW; float32; no bias"},
                     {"kernels", kernels},
                     {"missing", missing}};
  util::write_file((fs::path(dir) / "manifest.json").string(), result.manifest.dump(2) + "\n");
  util::write_file((fs::path(dir) / "kernels.hpp").string(), kernels_header(result.manifest));
  return result;
}

std::string kernels_header(const json& manifest) {
  std::ostringstream h;
  h << "// Generated by `chameleon replay` from " << manifest.value("log", std::string("a log"))
    << "; do not edit.\n"
    << "// Best kernels of " << manifest.value("network", std::string("?")) << " for "
    << manifest.value("device", std::string("?")) << " (" << manifest.value("arch", std::string("?"))
    << ", NVRTC " << manifest.value("nvrtc", std::string("?")) << ")"
    << (manifest.value("simulated", false) ? ", timed on the SIM device" : "") << ".\n"
    << "// conv2d, float32: data [N][C][H][W], weight [K][C/groups][R][S], out [N][K][OH][OW]; no bias.\n"
    << "// Load NAME.cubin (or NAME.ptx on a newer GPU) with cuModuleLoad, get `entry` with\n"
    << "// cuModuleGetFunction, then call launch(kKernels[i], ...). A kernel with workspace_splits > 0\n"
    << "// also needs its module's `reduce_entry` and a workspace of workspace_bytes(k) bytes.\n"
    << "// See docs/deploy.md.\n"
    << "#pragma once\n\n#include <cuda.h>\n\n#include <cstddef>\n\nnamespace chameleon_kernels {\n\n"
    << "struct Conv2dKernel {\n"
    << "  const char* name;\n  const char* cubin;\n  const char* ptx;\n  const char* entry;\n"
    << "  unsigned grid[3];\n  unsigned block[3];\n  unsigned dynamic_smem;\n"
    << "  bool zero_output; // split-K: the output is zeroed before the kernel adds into it\n"
    << "  // split-K through a workspace: the kernel writes workspace_splits partial outputs there, and\n"
    << "  // reduce_entry (same module) sums them into the output\n"
    << "  unsigned workspace_splits;\n  const char* reduce_entry;\n  unsigned reduce_grid[3];\n  unsigned reduce_block[3];\n"
    << "  int n, c, h, w, k, r, s;\n  int stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right;\n"
    << "  int dilation_h, dilation_w, groups, out_h, out_w;\n  double measured_us;\n};\n\n"
    << "inline constexpr Conv2dKernel kKernels[] = {\n";
  const auto& kernels = manifest.at("kernels");
  for (const auto& k : kernels) {
    const auto& w = k.at("workload");
    auto v = [&](const char* key) { return w.at(key).get<int>(); };
    auto pad = w.at("padding");
    auto stride = w.at("stride");
    auto dil = w.at("dilation");
    auto files = k.at("files");
    h << "    {\"" << k.at("name").get<std::string>() << "\", \"" << files.at("cubin").get<std::string>()
      << "\", \"" << files.at("ptx").get<std::string>() << "\", \"" << k.at("entry").get<std::string>()
      << "\", {" << util::join_numbers(k.at("grid").get<std::vector<unsigned>>(), ", ") << "}, {"
      << util::join_numbers(k.at("block").get<std::vector<unsigned>>(), ", ") << "}, "
      << k.at("dynamic_smem").get<int>() << ", " << (k.value("zero_output", false) ? "true" : "false")
      << ", " << k.value("workspace_splits", 0) << ", \"" << k.value("reduce_entry", std::string()) << "\", {"
      << util::join_numbers(k.value("reduce_grid", std::vector<unsigned>{1, 1, 1}), ", ") << "}, {"
      << util::join_numbers(k.value("reduce_block", std::vector<unsigned>{1, 1, 1}), ", ") << "}"
      << ", " << v("N") << ", " << v("C") << ", " << v("H")
      << ", " << v("W") << ", " << v("K") << ", " << v("R") << ", " << v("S") << ", " << stride[0]
      << ", " << stride[1] << ", " << pad[0] << ", " << pad[1] << ", " << pad[2] << ", " << pad[3]
      << ", " << dil[0] << ", " << dil[1] << ", " << w.value("groups", 1) << ", " << k.at("out_shape")[2] << ", " << k.at("out_shape")[3]
      << ", " << util::fixed(k.at("measured").at("seconds").get<double>() * 1e6, 3) << "},\n";
  }
  h << "};\n\ninline constexpr int kKernelCount = " << kernels.size() << ";\n\n"
    << "// Bytes of workspace a kernel needs (0: none).\n"
    << "inline size_t workspace_bytes(const Conv2dKernel& k) {\n"
    << "  return size_t(k.workspace_splits) * k.n * k.k * k.out_h * k.out_w * sizeof(float);\n}\n\n"
    << "// Launches one kernel: out = conv2d(data, weight), all device pointers to float32 tensors of\n"
    << "// the kernel's shapes; `reduce` and `workspace` only for kernels with workspace_splits > 0.\n"
    << "// Returns the driver's status (the launches are asynchronous on `stream`).\n"
    << "inline CUresult launch(const Conv2dKernel& k, CUfunction f, CUstream stream, CUdeviceptr data,\n"
    << "                       CUdeviceptr weight, CUdeviceptr out, CUfunction reduce = nullptr,\n"
    << "                       CUdeviceptr workspace = 0) {\n"
    << "  if (k.workspace_splits > 0 && (reduce == nullptr || workspace == 0)) return CUDA_ERROR_INVALID_VALUE;\n"
    << "  if (k.zero_output) {\n"
    << "    const size_t elems = size_t(k.n) * k.k * k.out_h * k.out_w;\n"
    << "    if (CUresult r = cuMemsetD32Async(out, 0, elems, stream)) return r;\n"
    << "  }\n"
    << "  if (k.dynamic_smem > 48 * 1024) {\n"
    << "    CUresult r = cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(k.dynamic_smem));\n"
    << "    if (r != CUDA_SUCCESS) return r;\n"
    << "  }\n"
    << "  CUdeviceptr kernel_out = k.workspace_splits > 0 ? workspace : out;\n"
    << "  void* args[] = {&data, &weight, &kernel_out};\n"
    << "  CUresult r = cuLaunchKernel(f, k.grid[0], k.grid[1], k.grid[2], k.block[0], k.block[1], k.block[2],\n"
    << "                              k.dynamic_smem, stream, args, nullptr);\n"
    << "  if (r != CUDA_SUCCESS || k.workspace_splits == 0) return r;\n"
    << "  void* reduce_args[] = {&workspace, &out};\n"
    << "  return cuLaunchKernel(reduce, k.reduce_grid[0], k.reduce_grid[1], k.reduce_grid[2], k.reduce_block[0],\n"
    << "                        k.reduce_block[1], k.reduce_block[2], 0, stream, reduce_args, nullptr);\n}\n\n";
  for (size_t i = 0; i < kernels.size(); ++i) {
    const auto& k = kernels[i];
    h << "// " << k.at("shape").get<std::string>() << "\n"
      << "inline CUresult launch_" << k.at("name").get<std::string>()
      << "(CUfunction f, CUstream stream, CUdeviceptr data, CUdeviceptr weight, CUdeviceptr out,\n"
      << "    CUfunction reduce = nullptr, CUdeviceptr workspace = 0) {\n"
      << "  return launch(kKernels[" << i << "], f, stream, data, weight, out, reduce, workspace);\n}\n\n";
  }
  h << "} // namespace chameleon_kernels\n";
  return h.str();
}

} // namespace chameleon::emit
