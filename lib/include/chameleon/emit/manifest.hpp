#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/target/resources.hpp"
#include "chameleon/task/workload.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace chameleon::emit {

// A kernels folder's manifest.json (docs/deploy.md): what `replay` writes and `bench` and users'
// loaders read. One type, one JSON mapping.
struct ManifestKernel {
  std::string name; // task_NN (kernel_NN where a task index repeats); its files' stem
  int task = 0;     // the task's index in its network (0: not known)
  int count = 1;    // layers of the network with this workload
  task::Conv2dWorkload workload;
  std::string template_name, template_fingerprint;
  int64_t config_index = 0;
  nlohmann::json entity;           // the config's knob values, AutoTVM's form
  std::string entry, reduce_entry; // kernel entries of the module (reduce: split-K's workspace sum)
  bool tf32 = false;
  std::string arch; // of the cubin; the PTX is for compute_XY
  target::Resources resources;
  codegen::LaunchGeometry geometry;
  // What the tune measured.
  double seconds = 0, spread = 0, gflops = 0;
  bool simulated = false;
  // The record it came from.
  int record_line = 0;
  double record_timestamp = 0;
  std::string record_tuner;
  // Files (relative to the folder) and their SHA-256 (empty in manifests of older versions).
  std::string source_file, cubin_file, ptx_file;
  std::string source_sha256, cubin_sha256, ptx_sha256;

  // Set when reading: why this entry could not be read (the other kernels still can be), else
  // empty. `name` is then the entry's name, or "kernel #N".
  std::string damaged;
};

// A task of the log's network without a kernel, and why.
struct MissingKernel {
  task::Conv2dWorkload workload;
  bool has_workload = true; // false when a damaged entry did not say
  std::string shape, reason;
};

struct Manifest {
  std::string schema = "chameleon-manifest/1";
  std::string log; // the tuning log's file name
  std::string network, device, device_fingerprint, target, arch, nvrtc;
  bool simulated = false;
  std::string layout = kLayout;
  static constexpr const char* kLayout =
      "data NCHW, weight KCRS (C/groups), out and residual NKOHOW, or, where a kernel's workload "
      "says layout nhwc, data NHWC, weight KRSC, out and residual NOHOWK; of each kernel's "
      "workload dtype (float32 when it names none); bias float32 [K]; kernel arguments (data, "
      "weight, out, bias, residual)";
  std::vector<ManifestKernel> kernels;
  std::vector<MissingKernel> missing;
};

nlohmann::json to_json(const ManifestKernel& k);
nlohmann::json to_json(const Manifest& m);
// Reads a manifest: chameleon::Error when it is not one (no kernels list, a folder-wide field of
// the wrong type); a kernel entry that cannot be read is kept with `damaged` set.
Manifest manifest_from_json(const nlohmann::json& j, const std::string& where = "manifest.json");
// DIR/manifest.json, read as above (chameleon::Error when there is none or it is not JSON).
Manifest read_manifest(const std::string& dir);

// The C++ header of a manifest (what replay writes as kernels.hpp), from the embedded
// templates/kernels.hpp.in.
std::string kernels_header(const Manifest& m);

} // namespace chameleon::emit
