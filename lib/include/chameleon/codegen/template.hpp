#pragma once

#include "chameleon/space/config_space.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/workload.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace chameleon::codegen {

struct LaunchGeometry {
  std::array<uint32_t, 3> grid = {1, 1, 1};
  std::array<uint32_t, 3> block = {1, 1, 1};
  int dynamic_smem = 0;
  bool zero_output = false; // the output must be zeroed before every launch (split-K atomics)
  // Split-K through a workspace (> 0): the kernel writes its `workspace_splits` partial outputs to
  // a workspace of workspace_splits x output floats, passed as its `out`; then the module's
  // `splitk_reduce` entry, (const float* ws, float* out), launched with reduce_grid x
  // reduce_block, sums them into the output. No zeroing, no atomics, deterministic.
  int workspace_splits = 0;
  int64_t workspace_bytes = 0;
  std::array<uint32_t, 3> reduce_grid = {1, 1, 1};
  std::array<uint32_t, 3> reduce_block = {1, 1, 1};

  int64_t threads() const { return int64_t(block[0]) * block[1] * block[2]; }
  int64_t blocks() const { return int64_t(grid[0]) * grid[1] * grid[2]; }
};

// The launch fields as the GPU worker's messages and the replay manifest carry them: grid, block,
// dynamic_smem, zero_output, workspace_splits, reduce_grid, reduce_block (workspace_bytes is not
// carried: it follows from the workload).
nlohmann::json to_json(const LaunchGeometry& g);
// Reads those fields; grid and block are required (chameleon::Error names a missing one).
LaunchGeometry geometry_from_json(const nlohmann::json& j);

// A complete CUDA C++ translation unit for one config, ready for NVRTC.
struct KernelSource {
  std::string entry; // extern "C" kernel name
  std::string code;
  LaunchGeometry geometry;
  // Compiled for the arch-specific variant of the target's arch (sm_90a for sm_90: wgmma),
  // whose cubins run on that architecture only.
  bool arch_specific = false;
};

// What a config asks of the hardware and does, known without compiling. The static check, the
// sim device and the cost model's derived features read it.
struct KernelFeatures {
  LaunchGeometry geometry;
  int64_t static_smem = 0;            // bytes
  int64_t accumulators = 0;           // outputs each thread keeps in registers
  int predicted_registers = 0;        // before the launch-bounds cap
  int64_t fma_per_thread = 0;         // multiply-adds each thread performs
  int64_t reduction_steps = 0;        // shared-memory stages (two barriers each)
  int64_t global_loads_per_block = 0; // floats each block reads from global memory
  double smem_reads_per_fma = 0;      // shared-memory words read per multiply-add
  // Useful bytes over bytes moved in 32-byte sectors, for the first warp of each access.
  double input_load_efficiency = 1;
  double weight_load_efficiency = 1;
  double store_efficiency = 1;
  double smem_conflict_ways = 1; // serialization of the first warp's shared-memory reads
  int vthreads = 1;
  int unrolled_loops = 0; // reduction loops unrolled (0..3)
  bool unroll_explicit = false;
  int split_k = 1;      // blocks adding into each output (atomics when > 1)
  bool tf32 = false;    // tensor cores with TF32 inputs (verified with a looser tolerance)
  bool f16_mma = false; // fp16/bf16 tensor cores (mma.sync m16n8k16)
  task::DataType dtype = task::DataType::f32; // of the task's tensors
  int min_sm = 0;                             // oldest architecture that can run it (sm_80: 80)
  int max_sm = 0;                             // newest one (0: any)
  std::string invalid; // why the template itself rules the config out, or empty
  // Non-empty when another config of the space makes the same kernel (this one builds and runs,
  // but tuning measures only the other): why, naming the knob that makes no difference.
  std::string duplicate;
};

// Why a config cannot run on a target, or nothing.
struct Verdict {
  bool ok = true;
  std::string reason;
  static Verdict pass() { return {}; }
  static Verdict fail(std::string why) { return {false, std::move(why)}; }
};

// A tunable kernel template: its design space for a workload and the source of any config.
class Template {
public:
  virtual ~Template() = default;
  virtual std::string name() const = 0;
  // AutoTVM's task name for records of this template ("conv2d_nchw.cuda").
  virtual std::string autotvm_task_name() const = 0;
  // Empty when the template supports the workload, else why not: the type and layout it takes
  // (takes), then the template's own limits (shape_decline_reason).
  std::string decline_reason(const task::Conv2dWorkload& wl) const;
  virtual space::ConfigSpace make_space(const task::Conv2dWorkload& wl) const = 0;
  virtual KernelSource render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                              const space::Config& cfg) const = 0;
  virtual KernelFeatures features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                  const space::Config& cfg) const = 0;
  // Hash of the template source and knob definitions: records made with another are stale.
  // Hashed once (source_fingerprint), then kept: records are checked against it one by one.
  const std::string& fingerprint() const;
  // Whether its kernels read and write tensors of type `t` (float32 unless said), and of layout
  // `l` (NCHW unless said).
  virtual bool takes(task::DataType t) const { return t == task::DataType::f32; }
  virtual bool takes(task::Layout l) const { return l == task::Layout::nchw; }
  // TF32 tensor-core templates round the inputs to 10 mantissa bits: used only when allowed.
  virtual bool tf32() const { return false; }
  // The oldest architecture any of its configs runs on (80 for sm_80); 0: any.
  virtual int min_sm() const { return 0; }
  // The newest (90 for a template of sm_90a's instructions); 0: any.
  virtual int max_sm() const { return 0; }
  // The floating-point operations of the products its kernel for `cfg` computes: the direct
  // convolution's (wl.flops()), unless its algorithm needs fewer (Winograd: the multiply-adds of
  // its transformed domain).
  virtual double arithmetic_flops(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                  const space::Config& cfg) const;
  // Whether its kernels run on sm_XY: min_sm() <= XY <= max_sm() (any, for 0 or less).
  bool runs_on(int sm) const {
    return sm <= 0 || (min_sm() <= sm && (max_sm() == 0 || sm <= max_sm()));
  }
  // Whether `tune` uses it when --templates names none: false for a template whose space another
  // template's contains (its trials and compile time would be spent twice).
  virtual bool tuned_by_default() const { return true; }

protected:
  virtual std::string source_fingerprint() const = 0;
  // Why a workload of a type and layout the template takes is declined ("" when it is not).
  virtual std::string shape_decline_reason(const task::Conv2dWorkload& wl) const = 0;
  // Why a task of a type it does not take is declined (the default names the float32 tensors
  // and the template for the other types).
  virtual std::string type_decline_reason(const task::Conv2dWorkload& wl) const;

private:
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

// The largest split-K workspace a config may ask for (the static check rejects more).
constexpr int64_t kMaxWorkspaceBytes = int64_t(1) << 30;
// Entry of the reduction kernel of workspace split-K configs.
constexpr const char* kSplitkReduceEntry = "splitk_reduce";
// Split-K knob values: how the partial sums of the splits meet.
enum SplitkReduce { kReduceAtomic = 0, kReduceWorkspace = 1 };
// The knob itself ("splitk_reduce": 0 atomics into a zeroed output, 1 workspace + second kernel).
space::Knob splitk_reduce_knob();
// Sets the split-K fields of `g` for `splits` blocks per output (1: none) reduced by `mode`.
void set_split_k(LaunchGeometry& g, const task::Conv2dWorkload& wl, int splits, int mode);
// The reduction kernel's source, appended to a template's rendering when mode is workspace.
std::string splitk_reduce_source();
// The task's type and epilogue code (templates/epilogue.cu), rendered before every template.
std::string epilogue_source();
// Why a split-K config cannot add its partial sums into the output with atomics, or "": the
// task's fused epilogue (the sums would be added after any activation had run), or float16 and
// bfloat16 outputs (atomics add into float32 ones). The workspace split (splitk_reduce) does both.
std::string atomic_split_conflict(const task::Conv2dWorkload& wl, int splits, int mode);
// Without a split (splits 1) both modes make the same kernel, so the space holds every such
// config twice: the workspace one is the duplicate, with this reason ("" otherwise).
std::string duplicate_reduce(int splits, int mode);

// What architectures kernels of [min_sm, max_sm] (max_sm 0: no newest) run on, said for one they
// do not run on, sm_XY (`sm`): "needs sm_80 or newer", "runs on sm_90 only", "needs sm_90 or
// older".
std::string arch_need(int min_sm, int max_sm, int sm);
// Why the kernels of `t` do not run on sm_XY (`target_sm`): "needs sm_80 or newer (the target
// is sm_70)", "runs on sm_90 only (...)".
std::string arch_reason(const Template& t, int target_sm);

const std::vector<const Template*>& templates();
const Template& find_template(const std::string& name);  // throws chameleon::Error
const Template* template_named(const std::string& name); // nullptr when there is none
// The first registered template that supports the workload, or nullptr.
const Template* template_for(const task::Conv2dWorkload& wl);
// Why no template supports the workload: every template's reason, each said once.
// With target_sm above 0, a template that needs a newer architecture says so.
std::string decline_reasons(const task::Conv2dWorkload& wl, int target_sm = 0);
// Why templates_for(wl, names, ...) found none: every template's reason when `names` is empty,
// else that none of the named ones supports it, with each named one's reason.
std::string no_template_reason(const task::Conv2dWorkload& wl,
                               const std::vector<std::string>& names, int target_sm = 0);
// Whether a template takes part: named in `names`, or, when names is empty, any template tuned by
// default but the TF32 ones unless allow_tf32.
bool template_wanted(const Template& t, const std::vector<std::string>& names, bool allow_tf32);
// Throws chameleon::Error for an unknown name, or a TF32 template without allow_tf32.
void check_template_names(const std::vector<std::string>& names, bool allow_tf32);
// Every registered template that supports the workload, limited to `names` unless empty. TF32
// templates only with allow_tf32 (naming one without it throws chameleon::Error). With
// target_sm above 0, only templates that can run there (min_sm).
std::vector<const Template*> templates_for(const task::Conv2dWorkload& wl,
                                           const std::vector<std::string>& names = {},
                                           bool allow_tf32 = false, int target_sm = 0);

// Rejects what the target would refuse before anything is compiled: block and grid sizes,
// static shared memory, a register tile that cannot live in registers.
Verdict check_static(const target::Target& t, const KernelFeatures& f);
// Whether tuning measures a config: it passes the static check and no other config of the space
// makes the same kernel (KernelFeatures::duplicate). A slice collection measures exactly these.
bool tunable(const target::Target& t, const KernelFeatures& f);
// Up to `count` random configs that pass the static check for `t`, in the order `rng` draws them;
// fewer only when `max_draws` draws do not find them.
std::vector<space::Config> random_valid_configs(const Template& tmpl,
                                                const task::Conv2dWorkload& wl,
                                                const space::ConfigSpace& sp,
                                                const target::Target& t, int count,
                                                std::mt19937_64& rng, int64_t max_draws = 100000);

// Rejects what the compiled kernel cannot launch with: registers x threads, shared memory.
Verdict check_compiled(const target::Target& t, const LaunchGeometry& g, int registers,
                       int64_t static_smem);

} // namespace chameleon::codegen
