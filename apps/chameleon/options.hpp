#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/task.hpp"

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace chameleon::app {

// Numeric option checks with plain messages ("--trials: must be at least 1, got 0").
CLI::Validator at_least(double lo);           // lo <= value
CLI::Validator above(double lo);              // lo < value
CLI::Validator between(double lo, double hi); // lo <= value <= hi

// Options shared by the commands that work on one network.
struct NetworkOptions {
  std::string path;
  int batch = 0;         // 0 keeps the file's batch
  std::string precision; // fp32, tf32, fp16, bf16; empty: the network's, else fp32
  int fuse = -1;         // --fuse 1, --no-fuse 0; -1: the network's, else fused unless fp32/tf32
  std::string layout;    // nchw, nhwc; empty: the network's, else nchw
};
void add_network_options(CLI::App& cmd, NetworkOptions& opts);
// The networks built into the binary (networks/*.json), by name: "alexnet", "resnet18", ...
std::vector<std::string> shipped_networks();
// A network file, or, when `arg` is no file, the shipped network it names (with a note saying so);
// an error listing the shipped networks otherwise.
network::Network load_network_arg(const std::string& arg, int batch);

// The network and its tasks, loaded once.
struct LoadedNetwork {
  network::Network net;
  std::vector<task::Task> tasks;
  std::string precision = "fp32"; // as resolved: tf32 tasks are float32 ones with TF32 allowed
  bool fused = false;
  task::Layout layout = task::Layout::nchw;
  bool tf32() const { return precision == "tf32"; }
};
LoadedNetwork load(const NetworkOptions& opts);

// A preset name, or "auto" for GPU 0 (needs the driver).
target::Target resolve_target(const std::string& name);

// One task of a network with its template and space, for commands that take --task I.
struct TaskContext {
  task::Task task;
  const codegen::Template* tmpl = nullptr;
  space::ConfigSpace space;
};
// --task, --template and --config: which config of which task.
void add_config_options(CLI::App& cmd, int& task, std::string& tmpl, std::string& config);

// `tmpl` empty: the first template that supports the task.
TaskContext task_context(const LoadedNetwork& loaded, int index, const std::string& tmpl = "");

// "INDEX", an entity list (JSON), an object with "entity" or "index" (a log record's config), or
// "random" (a random config that passes the static check, drawn with `seed`).
space::Config parse_config(const TaskContext& ctx, const target::Target& tgt,
                           const std::string& text, uint64_t seed);

} // namespace chameleon::app

#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/tune/recording.hpp"

namespace chameleon::app {

// Where and how configs are built and measured: shared by measure (and later tune).
struct DeviceOptions {
  std::string target = "auto"; // preset name or auto
  std::string device = "auto"; // cuda, sim, auto or recorded:PATH
  int gpu = 0;
  measure::MeasureOptions measure;
  measure::BuildOptions build;
  bool no_cache = false;
  bool sim_estimate = false; // --sim-estimate: the sim without NVRTC
};
void add_device_options(CLI::App& cmd, DeviceOptions& opts);
// The timing protocol's flags of add_device_options (--gpu, --warmup, --repeat, --min-repeat-ms,
// --flush-l2, --no-cuda-graph), for bench, which always times on a GPU.
void add_timing_options(CLI::App& cmd, DeviceOptions& opts);

// The device to use ("auto" resolved) and the target it stands for.
struct ResolvedDevice {
  std::string device; // cuda, sim or recorded
  target::Target target;
  // recorded: the recording's path and its slices (read once, docs/measurement.md)
  std::string recording;
  std::shared_ptr<const std::vector<tune::SliceRecording>> slices;
};
ResolvedDevice resolve_device(const DeviceOptions& opts);

// The runner of the resolved device (GPU `ordinal` for cuda).
std::unique_ptr<measure::Runner> make_device_runner(const DeviceOptions& opts,
                                                    const ResolvedDevice& rd, int ordinal);

// The builder for the resolved device: the target's arch (the nearest one NVRTC supports on the
// sim, with a warning), the compile cache unless --no-cache, no NVRTC with --sim-estimate.
std::unique_ptr<measure::Builder> make_builder(const DeviceOptions& opts, const ResolvedDevice& rd);

// "N bytes shared memory" of a build: static plus dynamic, the dynamic part named when there is
// one.
std::string shared_memory_text(const measure::BuildResult& b);

// GFLOPS and % peak count the direct convolution's arithmetic for every kernel (and for cuDNN):
// a line saying so when one of `templates` computes the outputs with less of it (Winograd), else
// "".
std::string flops_count_note(const std::vector<std::string>& templates);

} // namespace chameleon::app
