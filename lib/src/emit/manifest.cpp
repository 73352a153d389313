#include "chameleon/emit/manifest.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chameleon::emit {

using nlohmann::json;

json to_json(const ManifestKernel& k) {
  const auto& wl = k.workload;
  json j = codegen::to_json(k.geometry);
  j.update(
      {{"name", k.name},
       {"task", k.task},
       {"count", k.count},
       {"workload", task::to_json(wl)},
       {"shape", wl.str()},
       {"out_shape", {wl.n, wl.k, wl.out_h(), wl.out_w()}},
       {"flops", wl.flops()},
       {"template", k.template_name},
       {"template_fingerprint", k.template_fingerprint},
       {"config", {{"index", k.config_index}, {"entity", k.entity}}},
       {"entry", k.entry},
       {"reduce_entry", k.reduce_entry},
       {"tf32", k.tf32},
       {"arch", k.arch},
       {"resources", target::to_json(k.resources)},
       {"measured",
        {{"seconds", k.seconds},
         {"spread", k.spread},
         {"gflops", k.gflops},
         {"simulated", k.simulated}}},
       {"record",
        {{"line", k.record_line}, {"timestamp", k.record_timestamp}, {"tuner", k.record_tuner}}},
       {"files", {{"source", k.source_file}, {"cubin", k.cubin_file}, {"ptx", k.ptx_file}}},
       // bench tells a damaged or replaced file from the one written here
       {"sha256",
        {{"source", k.source_sha256}, {"cubin", k.cubin_sha256}, {"ptx", k.ptx_sha256}}}});
  return j;
}

json to_json(const Manifest& m) {
  json kernels = json::array();
  for (const ManifestKernel& k : m.kernels) kernels.push_back(to_json(k));
  json missing = json::array();
  for (const MissingKernel& x : m.missing) {
    missing.push_back(
        {{"workload", task::to_json(x.workload)}, {"shape", x.shape}, {"reason", x.reason}});
  }
  return {{"schema", m.schema},
          {"log", m.log},
          {"network", m.network},
          {"device", m.device},
          {"device_fingerprint", m.device_fingerprint},
          {"simulated", m.simulated},
          {"target", m.target},
          {"arch", m.arch},
          {"nvrtc", m.nvrtc},
          {"layout", m.layout},
          {"kernels", kernels},
          {"missing", missing}};
}

namespace {

// A string field that may be absent (then `fallback`); present, it must be a string.
std::string text(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return j.at(key).get<std::string>();
}

ManifestKernel kernel_from_json(const json& j, size_t position) {
  ManifestKernel k;
  k.name = "kernel #" + std::to_string(position + 1);
  try {
    if (!j.is_object()) throw Error("not a JSON object");
    k.name = text(j, "name", k.name);
    k.task = j.value("task", 0);
    k.count = j.value("count", 1);
    k.workload = task::workload_from_json(j.at("workload"));
    task::validate(k.workload);
    k.template_name = text(j, "template", "-");
    k.template_fingerprint = text(j, "template_fingerprint");
    if (j.contains("config")) {
      k.config_index = j.at("config").at("index").get<int64_t>();
      k.entity = j.at("config").value("entity", json());
    }
    k.entry = j.at("entry").get<std::string>();
    k.reduce_entry = text(j, "reduce_entry");
    k.tf32 = j.value("tf32", false);
    k.arch = text(j, "arch");
    k.resources = target::resources_from_json(j.at("resources"));
    k.geometry = codegen::geometry_from_json(j);
    if (const json m = j.value("measured", json::object()); m.is_object()) {
      k.seconds = m.value("seconds", 0.0);
      k.spread = m.value("spread", 0.0);
      k.gflops = m.value("gflops", 0.0);
      k.simulated = m.value("simulated", false);
    }
    if (const json r = j.value("record", json::object()); r.is_object()) {
      k.record_line = r.value("line", 0);
      k.record_timestamp = r.value("timestamp", 0.0);
      k.record_tuner = text(r, "tuner");
    }
    const json& files = j.at("files");
    k.source_file = text(files, "source");
    k.cubin_file = files.at("cubin").get<std::string>();
    k.ptx_file = files.at("ptx").get<std::string>();
    // Manifests of older versions carry no checksums.
    if (const json sha = j.value("sha256", json::object()); sha.is_object()) {
      k.source_sha256 = text(sha, "source");
      k.cubin_sha256 = text(sha, "cubin");
      k.ptx_sha256 = text(sha, "ptx");
    }
  } catch (const std::exception& e) {
    k.damaged = "manifest entry " + k.name + ": " + e.what();
  }
  return k;
}

} // namespace

Manifest manifest_from_json(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("kernels") || !j.at("kernels").is_array()) {
    throw Error(where + ": not a chameleon manifest (no 'kernels' list)");
  }
  // The fields about the whole folder; a kernel's own are checked kernel by kernel.
  for (const char* key : {"schema", "log", "network", "device", "device_fingerprint", "target",
                          "arch", "nvrtc", "layout"}) {
    if (j.contains(key) && !j.at(key).is_string()) {
      throw Error(where + ": '" + key + "' must be a string, got " + j.at(key).dump() +
                  " (replay again)");
    }
  }
  Manifest m;
  m.schema = text(j, "schema", m.schema);
  m.log = text(j, "log");
  m.network = text(j, "network");
  m.device = text(j, "device");
  m.device_fingerprint = text(j, "device_fingerprint");
  m.target = text(j, "target");
  m.arch = text(j, "arch");
  m.nvrtc = text(j, "nvrtc");
  m.layout = text(j, "layout", m.layout);
  m.simulated =
      j.contains("simulated") && j.at("simulated").is_boolean() && j.at("simulated").get<bool>();
  const json& kernels = j.at("kernels");
  for (size_t i = 0; i < kernels.size(); ++i) m.kernels.push_back(kernel_from_json(kernels[i], i));
  if (j.contains("missing") && j.at("missing").is_array()) {
    for (const json& e : j.at("missing")) {
      MissingKernel x;
      auto field = [&](const char* key) {
        return e.is_object() && e.value(key, json()).is_string() ? e.at(key).get<std::string>()
                                                                 : "?";
      };
      x.shape = field("shape");
      x.reason = field("reason");
      try {
        x.workload = task::workload_from_json(e.at("workload"));
      } catch (const std::exception&) {
        x.has_workload = false;
      }
      m.missing.push_back(std::move(x));
    }
  }
  return m;
}

Manifest read_manifest(const std::string& dir) {
  const std::filesystem::path path = std::filesystem::path(dir) / "manifest.json";
  std::ifstream in(path);
  if (!in) throw Error("no manifest.json in " + dir + " (run chameleon replay first)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  return manifest_from_json(j, path.string());
}

namespace {

void replace_all(std::string& s, const std::string& what, const std::string& with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
}

std::string numbers(const std::array<uint32_t, 3>& v) {
  return util::join_numbers(std::vector<uint32_t>(v.begin(), v.end()), ", ");
}

// One kKernels entry.
std::string kernel_row(const ManifestKernel& k) {
  const auto& w = k.workload;
  std::ostringstream h;
  h << "    {\"" << k.name << "\", \"" << k.cubin_file << "\", \"" << k.ptx_file << "\", \""
    << k.entry << "\", {" << numbers(k.geometry.grid) << "}, {" << numbers(k.geometry.block)
    << "}, " << k.geometry.dynamic_smem << ", " << (k.geometry.zero_output ? "true" : "false")
    << ", " << k.geometry.workspace_splits << ", \"" << k.reduce_entry << "\", {"
    << numbers(k.geometry.reduce_grid) << "}, {" << numbers(k.geometry.reduce_block) << "}";
  for (int v :
       {w.n, w.c, w.h, w.w, w.k, w.r, w.s, w.stride_h, w.stride_w, w.pad_top, w.pad_left,
        w.pad_bottom, w.pad_right, w.dilation_h, w.dilation_w, w.groups, w.out_h(), w.out_w()}) {
    h << ", " << v;
  }
  h << ", \"" << task::dtype_name(w.dtype) << "\", " << (w.epilogue.bias ? "true" : "false") << ", "
    << (w.epilogue.residual ? "true" : "false") << ", \"" << task::activation_name(w.epilogue.act)
    << "\", \"" << task::layout_name(w.layout) << "\"";
  h << ", " << util::fixed(k.seconds * 1e6, 3) << "},\n";
  return h.str();
}

} // namespace

std::string kernels_header(const Manifest& m) {
  std::string rows, launchers;
  for (size_t i = 0; i < m.kernels.size(); ++i) {
    const ManifestKernel& k = m.kernels[i];
    rows += kernel_row(k);
    launchers += "// " + k.workload.str() + "\ninline CUresult launch_" + k.name +
                 "(CUfunction f, CUstream stream, CUdeviceptr data, CUdeviceptr weight, "
                 "CUdeviceptr out,\n    CUfunction reduce = nullptr, CUdeviceptr workspace = 0, "
                 "CUdeviceptr bias = 0, CUdeviceptr residual = 0) {\n"
                 "  return launch(kKernels[" +
                 std::to_string(i) +
                 "], f, stream, data, weight, out, reduce, workspace, bias, residual);\n}\n\n";
  }
  std::string h(codegen::embedded_file("templates/kernels.hpp.in"));
  replace_all(h, "@LOG@", m.log);
  replace_all(h, "@NETWORK@", m.network);
  replace_all(h, "@DEVICE@", m.device);
  replace_all(h, "@ARCH@", m.arch);
  replace_all(h, "@NVRTC@", m.nvrtc);
  replace_all(h, "@SIMULATED@", m.simulated ? ", timed on the SIM device" : "");
  replace_all(h, "@KERNEL_COUNT@", std::to_string(m.kernels.size()));
  // Last: the rows and launchers hold names and shapes, which could hold an @...@ by chance.
  replace_all(h, "@KERNELS@", rows);
  replace_all(h, "@LAUNCHERS@", launchers);
  return h;
}

} // namespace chameleon::emit
