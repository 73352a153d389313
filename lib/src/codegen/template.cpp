#include "chameleon/codegen/template.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/target/resources.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include "conv2d_depthwise.hpp"
#include "conv2d_direct.hpp"
#include "conv2d_implicit_gemm.hpp"
#include "conv2d_tensorcore.hpp"
#include "conv2d_winograd.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

namespace chameleon::codegen {

nlohmann::json to_json(const LaunchGeometry& g) {
  return {{"grid", g.grid},
          {"block", g.block},
          {"dynamic_smem", g.dynamic_smem},
          {"zero_output", g.zero_output},
          {"workspace_splits", g.workspace_splits},
          {"reduce_grid", g.reduce_grid},
          {"reduce_block", g.reduce_block}};
}

LaunchGeometry geometry_from_json(const nlohmann::json& j) {
  LaunchGeometry g;
  for (const char* key : {"grid", "block"}) {
    if (!j.contains(key)) throw Error(std::string("launch geometry without '") + key + "'");
  }
  g.grid = j.at("grid").get<std::array<uint32_t, 3>>();
  g.block = j.at("block").get<std::array<uint32_t, 3>>();
  g.dynamic_smem = j.value("dynamic_smem", 0);
  g.zero_output = j.value("zero_output", false);
  g.workspace_splits = j.value("workspace_splits", 0);
  g.reduce_grid = j.value("reduce_grid", g.reduce_grid);
  g.reduce_block = j.value("reduce_block", g.reduce_block);
  return g;
}

space::Knob splitk_reduce_knob() {
  return space::other_knob("splitk_reduce", {kReduceAtomic, kReduceWorkspace});
}

void set_split_k(LaunchGeometry& g, const task::Conv2dWorkload& wl, int splits, int mode) {
  g.zero_output = splits > 1 && mode == kReduceAtomic;
  g.workspace_splits = splits > 1 && mode == kReduceWorkspace ? splits : 0;
  g.workspace_bytes = int64_t(g.workspace_splits) * wl.output_elems() * 4;
  if (g.workspace_splits > 0) {
    const int64_t blocks = std::min<int64_t>((wl.output_elems() + 255) / 256, 4096);
    g.reduce_grid = {uint32_t(blocks), 1, 1};
    g.reduce_block = {256, 1, 1};
  }
}

std::string duplicate_reduce(int splits, int mode) {
  return splits == 1 && mode == kReduceWorkspace
             ? "splitk_reduce 1 without a split: the kernel of splitk_reduce 0"
             : "";
}

std::string splitk_reduce_source() {
  return std::string("#line 1 \"templates/splitk_reduce.cu\"\n") +
         std::string(embedded_file("templates/splitk_reduce.cu"));
}

std::string epilogue_source() {
  return std::string("#line 1 \"templates/epilogue.cu\"\n") +
         std::string(embedded_file("templates/epilogue.cu"));
}

std::string atomic_split_conflict(const task::Conv2dWorkload& wl, int splits, int mode) {
  if (splits <= 1 || mode != kReduceAtomic) return "";
  const std::string split = "split_k " + std::to_string(splits) + " by atomics ";
  if (!wl.epilogue.empty()) {
    return split + "cannot apply the fused epilogue (" + wl.epilogue.str() +
           "): the workspace split (splitk_reduce 1) does";
  }
  if (wl.dtype != task::DataType::f32) {
    return split + "cannot add into " + task::dtype_name(wl.dtype) +
           " outputs: the workspace split (splitk_reduce 1) sums in float32";
  }
  return "";
}

std::string Template::decline_reason(const task::Conv2dWorkload& wl) const {
  if (!takes(wl.dtype)) return type_decline_reason(wl);
  if (!takes(wl.layout)) {
    return "NCHW tensors only (NHWC tasks: conv2d_tensorcore, fp16 or bf16, and conv2d_depthwise "
           "for depthwise ones)";
  }
  return shape_decline_reason(wl);
}

std::string Template::type_decline_reason(const task::Conv2dWorkload& wl) const {
  return std::string("float32 tensors only (") + task::dtype_short(wl.dtype) +
         " tasks: conv2d_tensorcore, and conv2d_winograd_tc and conv2d_winograd for 3x3 stride-1 "
         "layers)";
}

const std::string& Template::fingerprint() const {
  std::call_once(fingerprint_once_, [this] { fingerprint_ = source_fingerprint(); });
  return fingerprint_;
}

const std::vector<const Template*>& templates() {
  static const Conv2dDirect direct(false);
  static const Conv2dDirect splitk(true);
  static const Conv2dDepthwise depthwise;
  static const ImplicitGemm gemm(false);
  static const ImplicitGemm gemm_tf32(true);
  static const Conv2dWinograd winograd;
  static const TensorCoreGemm tensorcore;
  static const TensorCoreWgmma wgmma;
  static const Conv2dWinogradTc winograd_tc;
  // The first that takes a workload is `measure`'s default: depthwise layers get their own, and
  // 16-bit ones the tensor cores (mma.sync, which runs on every target that has them; before
  // Winograd on the tensor cores, which takes 3x3 stride-1 layers only, and Winograd in float32,
  // which takes every type).
  static const std::vector<const Template*> all = {&direct, &splitk,      &depthwise,
                                                   &gemm,   &gemm_tf32,   &tensorcore,
                                                   &wgmma,  &winograd_tc, &winograd};
  return all;
}

const Template* template_named(const std::string& name) {
  for (const Template* t : templates()) {
    if (t->name() == name) return t;
  }
  return nullptr;
}

const Template& find_template(const std::string& name) {
  if (const Template* t = template_named(name)) return *t;
  std::string known;
  for (const Template* t : templates()) known += (known.empty() ? "" : ", ") + t->name();
  throw Error("unknown template '" + name + "' (known: " + known + ")");
}

bool template_wanted(const Template& t, const std::vector<std::string>& names, bool allow_tf32) {
  if (names.empty()) return (allow_tf32 || !t.tf32()) && t.tuned_by_default();
  return std::find(names.begin(), names.end(), t.name()) != names.end();
}

void check_template_names(const std::vector<std::string>& names, bool allow_tf32) {
  for (const auto& name : names) {
    if (find_template(name).tf32() && !allow_tf32) {
      throw Error("template '" + name + "' computes in TF32 (10-bit mantissa inputs): pass " +
                  "--allow-tf32 to use it");
    }
  }
}

std::vector<const Template*> templates_for(const task::Conv2dWorkload& wl,
                                           const std::vector<std::string>& names, bool allow_tf32,
                                           int target_sm) {
  check_template_names(names, allow_tf32);
  std::vector<const Template*> out;
  for (const Template* t : templates()) {
    if (template_wanted(*t, names, allow_tf32) && t->runs_on(target_sm) &&
        t->decline_reason(wl).empty())
      out.push_back(t);
  }
  return out;
}

const Template* template_for(const task::Conv2dWorkload& wl) {
  for (const Template* t : templates()) {
    if (t->decline_reason(wl).empty()) return t;
  }
  return nullptr;
}

double Template::arithmetic_flops(const task::Conv2dWorkload& wl, const space::ConfigSpace&,
                                  const space::Config&) const {
  return double(wl.flops());
}

std::string arch_need(int min_sm, int max_sm, int sm) {
  if (max_sm > 0 && max_sm == min_sm) return "runs on sm_" + std::to_string(min_sm) + " only";
  if (sm < min_sm) return "needs sm_" + std::to_string(min_sm) + " or newer";
  return "needs sm_" + std::to_string(max_sm) + " or older";
}

std::string arch_reason(const Template& t, int target_sm) {
  return arch_need(t.min_sm(), t.max_sm(), target_sm) + " (the target is sm_" +
         std::to_string(target_sm) + ")";
}

std::string decline_reasons(const task::Conv2dWorkload& wl, int target_sm) {
  std::vector<std::string> reasons;
  std::set<std::string> said;
  for (const Template* t : templates()) {
    // Templates of another element type say nothing about this task.
    if (!t->takes(wl.dtype)) continue;
    // Variants of one template (split-K, TF32) decline for the same reason: name the first.
    std::string why = t->decline_reason(wl);
    if (why.empty() && !t->runs_on(target_sm)) why = arch_reason(*t, target_sm);
    if (!why.empty() && said.insert(why).second) reasons.push_back(t->name() + ": " + why);
  }
  return "no template supports it (" + util::join(reasons, "; ") + ")";
}

std::string no_template_reason(const task::Conv2dWorkload& wl,
                               const std::vector<std::string>& names, int target_sm) {
  if (names.empty()) return decline_reasons(wl, target_sm);
  // Each named template's own reason, where it has one (a template may instead be left out by
  // the target's architecture or the TF32 permission).
  std::vector<std::string> reasons;
  for (const auto& name : names) {
    const Template* t = template_named(name);
    const std::string why = t != nullptr ? t->decline_reason(wl) : "";
    if (!why.empty()) reasons.push_back(name + ": " + why);
  }
  return "none of the templates " + util::join(names, ", ") + " supports it" +
         (reasons.empty() ? "" : " (" + util::join(reasons, "; ") + ")");
}

Verdict check_static(const target::Target& t, const KernelFeatures& f) {
  const auto& g = f.geometry;
  if (!f.invalid.empty()) return Verdict::fail(f.invalid);
  if (g.workspace_bytes > kMaxWorkspaceBytes) {
    return Verdict::fail("a split-K workspace of " + std::to_string(g.workspace_bytes >> 20) +
                         " MB exceeds " + std::to_string(kMaxWorkspaceBytes >> 20) + " MB");
  }
  // Too old first (what the template needs at least), then too new.
  if (t.sm() < f.min_sm)
    return Verdict::fail(arch_need(f.min_sm, 0, t.sm()) + " (target is " + t.arch() + ")");
  if (f.max_sm > 0 && t.sm() > f.max_sm)
    return Verdict::fail(arch_need(f.min_sm, f.max_sm, t.sm()) + " (target is " + t.arch() + ")");
  const char* axes = "xyz";
  if (f.geometry.threads() > t.max_threads_per_block) {
    return Verdict::fail(std::to_string(g.threads()) + " threads per block exceed the limit of " +
                         std::to_string(t.max_threads_per_block));
  }
  for (int i = 0; i < 3; ++i) {
    if (int64_t(g.block[size_t(i)]) > t.max_block_dim[i]) {
      return Verdict::fail(std::string("block ") + axes[i] + " size " +
                           std::to_string(g.block[size_t(i)]) + " exceeds " +
                           std::to_string(t.max_block_dim[i]));
    }
    if (int64_t(g.grid[size_t(i)]) > t.max_grid_dim[i]) {
      return Verdict::fail(std::string("grid ") + axes[i] + " size " +
                           std::to_string(g.grid[size_t(i)]) + " exceeds " +
                           std::to_string(t.max_grid_dim[i]));
    }
  }
  if (f.static_smem > t.smem_per_block) {
    return Verdict::fail(std::to_string(f.static_smem) + " bytes of static shared memory exceed " +
                         std::to_string(t.smem_per_block) + " per block");
  }
  if (g.dynamic_smem + f.static_smem > t.smem_per_block_optin) {
    return Verdict::fail(std::to_string(g.dynamic_smem + f.static_smem) +
                         " bytes of shared memory exceed " +
                         std::to_string(t.smem_per_block_optin) + " per block");
  }
  // Beyond twice the register file of a thread, most of the tile lives in local memory and the
  // unrolled code takes NVRTC seconds: nothing worth compiling. On an H200, no conv2d_direct_splitk
  // config with over 256 accumulators per thread came within 5.5x of its task's best kernel
  // (34 of 1,437 records, 14% of the compile time; docs/templates.md).
  if (f.predicted_registers > 2 * t.max_regs_per_thread) {
    return Verdict::fail("a register tile of " + std::to_string(f.accumulators) +
                         " outputs per thread cannot live in " +
                         std::to_string(t.max_regs_per_thread) + " registers");
  }
  return Verdict::pass();
}

bool tunable(const target::Target& t, const KernelFeatures& f) {
  return f.duplicate.empty() && check_static(t, f).ok;
}

std::vector<space::Config> random_valid_configs(const Template& tmpl,
                                                const task::Conv2dWorkload& wl,
                                                const space::ConfigSpace& sp,
                                                const target::Target& t, int count,
                                                std::mt19937_64& rng, int64_t max_draws) {
  std::vector<space::Config> out;
  for (int64_t draw = 0; draw < max_draws && int(out.size()) < count; ++draw) {
    space::Config c = sp.random(rng);
    if (check_static(t, tmpl.features(wl, sp, c)).ok) out.push_back(std::move(c));
  }
  return out;
}

Verdict check_compiled(const target::Target& t, const LaunchGeometry& g, int registers,
                       int64_t static_smem) {
  if (target::block_registers(t, g.threads(), registers) > t.regs_per_block) {
    return Verdict::fail(std::to_string(registers) + " registers x " + std::to_string(g.threads()) +
                         " threads exceed the " + std::to_string(t.regs_per_block) +
                         " registers of a block");
  }
  if (static_smem + g.dynamic_smem > t.smem_per_block_optin) {
    return Verdict::fail(std::to_string(static_smem + g.dynamic_smem) +
                         " bytes of shared memory exceed " +
                         std::to_string(t.smem_per_block_optin) + " per block");
  }
  return Verdict::pass();
}

} // namespace chameleon::codegen
