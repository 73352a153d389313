#pragma once

#include "chameleon/emit/manifest.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/result.hpp"
#include "chameleon/target/target.hpp"

#include <map>
#include <string>
#include <vector>

namespace chameleon::emit {

// Another engine's times for the same workloads, measured elsewhere in the same run (the
// schema chameleon-baseline/1: scripts/torch_baseline.py times what a PyTorch user gets).
struct Baseline {
  std::string file;        // where it was read from
  std::string name;        // its column ("PyTorch")
  std::string description; // engine, versions, protocol
  std::string device, date;
  bool allow_tf32 = false;
  struct Entry {
    double seconds = 0; // median per call; 0 when the entry has an error
    std::string error;
  };
  std::map<std::string, Entry> by_workload; // by Conv2dWorkload::key()
};
// Reads a baseline file: chameleon::Error when it is not one; an entry whose workload cannot be
// read is left out with a warning.
Baseline read_baseline(const std::string& path);

// `chameleon bench`: the kernels of a replay re-timed, verified, against cuDNN on a GPU, or on
// the sim model (no cuDNN there), same tensors and protocol for both.
struct BenchOptions {
  std::string
      input; // a kernels folder (replay's), or a tuning log (replayed into a scratch folder)
  std::string log_device; // with a log: records of this device (default: the log's last)
  std::string log_arch;   // with a log: the arch to compile for (replay's --arch)
  bool sim = false;       // the sim model instead of a GPU
  std::string target;     // sim only: the preset to simulate (default: the manifest's)
  int gpu = 0;
  measure::MeasureOptions measure;
  bool allow_tf32 = false;            // cuDNN may use TF32; with a log, our TF32 kernels compete
  std::vector<std::string> baselines; // baseline files (read_baseline), a column each
};

struct BenchRow {
  std::string kernel, shape = "-", template_name = "-";
  int count = 1;
  double flops = 0; // of the workload (0 when the entry has none)
  // What the kernel computes for the products (Template::arithmetic_flops): fewer than `flops`
  // for Winograd, else the same.
  double arithmetic_flops = 0;
  measure::MeasureResult ours, cudnn; // cudnn: error Unknown on the sim
  // Per BenchResult::baselines; error "no entry for this workload" where the baseline has none.
  std::vector<Baseline::Entry> baselines;
  // The fastest of cuDNN and the baselines for this kernel (seconds, 0: none timed), and whose.
  double fastest_s = 0;
  std::string fastest;
};

struct BenchResult {
  std::string device_name;
  target::Target target;
  bool simulated = false;
  std::string manifest_log; // the log the kernels were replayed from
  std::vector<BenchRow> rows;
  std::vector<MissingKernel> missing; // tasks of the log without a kernel: not in the totals
  double ours_total_s = 0, cudnn_total_s = 0; // weighted by layer counts; ours: the timed kernels
  bool cudnn_complete = false;                // cuDNN timed every kernel (never on the sim)
  int failed = 0;                             // kernels of ours that could not be timed
  std::vector<std::string> timed_templates;   // of the kernels timed
  std::vector<std::string> dtypes;            // of the kernels, each once ("float16", ...)
  int fused = 0;                              // kernels with a fused epilogue
  // Of those, the ones whose cuDNN time is the convolution alone (cuDNN could not run the epilogue:
  // hardswish, or its epilogue operators failed); the others' include it, fused or separate.
  int cudnn_conv_alone = 0;
  std::vector<Baseline> baselines;
  std::vector<double> baseline_total_s; // weighted by layer counts, per baseline
  std::vector<bool> baseline_complete;  // the baseline timed every kernel
  double fastest_total_s = 0;           // sum of each kernel's fastest baseline (cuDNN included)
  bool fastest_complete = false;        // every kernel has one
};

// Times every kernel of the manifest; a kernel that cannot be read or timed is its row's error,
// never the bench's. chameleon::Error when there is no GPU (and not sim), no manifest or no kernel.
BenchResult bench(const BenchOptions& o);

// The sim's stand-in for the manifest's GPU: `flag` (--target) when given, else the manifest's
// target when it is a preset, else the preset of its arch named in its device ("NVIDIA H200" is
// h200), else the first preset of that arch (with a warning).
target::Target sim_target(const std::string& flag, const Manifest& m);

} // namespace chameleon::emit
