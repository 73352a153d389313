#include "conv2d_tensorcore.hpp"

#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace chameleon::codegen {

namespace {

constexpr const char* kSourcePath = "templates/conv2d_tensorcore.cu";
constexpr int kMaxBlockTile = 256; // rows or columns of a block tile
constexpr int kMaxStaged = 64;     // input elements a thread gathers into registers per tile

constexpr int kMaxWgmmaAccumulators = 128; // float32 accumulators a thread of conv2d_wgmma

const std::vector<KnobDef>& knob_defs() {
  static const std::vector<KnobDef> defs = {
      {"tile_k", {16, 32, 64}}, {"mma_m", {1, 2, 4}},   {"mma_n", {1, 2, 4, 8}},
      {"warps_m", {1, 2, 4}},   {"warps_n", {1, 2, 4}}, {"split_k", {1, 2, 4, 8, 16}},
      {"stages", {2, 3, 4}},
  };
  return defs;
}

// conv2d_wgmma: mma_m 64-row tiles per warpgroup, wgmma_n pixels per warpgroup (the N of one
// m64nNk16), warpgroups_m x warpgroups_n warpgroups of 128 threads; wgmma_pending: the tiles
// whose multiplies may still run while the next tile's are issued (0, 1).
const std::vector<KnobDef>& wgmma_knob_defs() {
  static const std::vector<KnobDef> defs = {
      {"tile_k", {16, 32, 64}}, {"mma_m", {1, 2}},         {"wgmma_n", {8, 16, 32, 64, 128, 256}},
      {"warpgroups_m", {1, 2}}, {"warpgroups_n", {1, 2}},  {"split_k", {1, 2, 4, 8, 16}},
      {"stages", {2, 3, 4}},    {"wgmma_pending", {0, 1}},
  };
  return defs;
}

// One config, decoded, with the sizes the kernel derives from it.
struct Tc {
  int bk = 16, mi = 1, ni = 1, warps_m = 1, warps_n = 1, split_k = 1, stages = 2;
  bool wgmma = false; // conv2d_wgmma: warps_m x warps_n warpgroups, mi 64-row tiles and wn
  int wn = 8;         // pixels each, `pending` tiles of multiplies left running
  int pending = 0;
  int64_t gm = 0, gn = 0, gk = 0, cg = 0;
  bool nhwc = false;  // the task's layout (LAYOUT_NHWC)
  bool b_vec = false; // 16-byte input copies (NCHW: a pointwise convolution over whole images;
                      // NHWC: CG % 8 == 0)

  int bm() const { return warps_m * (wgmma ? 64 : 16) * mi; }
  int bn() const { return wgmma ? warps_n * wn : warps_n * 8 * ni; }
  int threads() const { return (wgmma ? 128 : 32) * warps_m * warps_n; }
  int64_t accumulators() const { return wgmma ? int64_t(mi) * wn / 2 : int64_t(4) * mi * ni; }
  int64_t k_tiles() const { return (gk + bk - 1) / bk; }
  int64_t k_tiles_per_split() const { return (k_tiles() + split_k - 1) / split_k; }
  // The input elements a thread gathers per tile (B_STAGED in the template: wgmma gathers 8
  // reduction indices of a pixel at a time, mma.sync B_ROWS x B_SLOTS).
  int64_t staged() const {
    if (b_vec) return 0;
    if (wgmma) return 8 * ((int64_t(bn()) * (bk / 8) + threads() - 1) / threads());
    const int copies = bn();
    const int row_step = threads() >= copies ? threads() / copies : 1;
    const int slots = threads() >= copies ? 1 : copies / threads();
    return int64_t((bk + row_step - 1) / row_step) * slots;
  }
  // The pixels an NHWC thread copies 16 bytes for per tile (B_SLOTS in the template), each with
  // its offset and position kept in registers; 0 otherwise.
  int64_t copy_slots() const {
    if (!nhwc || !b_vec) return 0;
    return (int64_t(bn()) * (bk / 8) + threads() - 1) / threads();
  }
  int64_t smem_bytes() const {
    // wgmma: unpadded core-matrix tiles; mma.sync: rows padded by 8 elements.
    if (wgmma) return 2 * int64_t(stages) * (int64_t(bm()) + bn()) * bk;
    const int64_t b_stage = nhwc ? int64_t(bn()) * (bk + 8) : int64_t(bk) * (bn() + 8);
    return 2 * int64_t(stages) * (int64_t(bm()) * (bk + 8) + b_stage);
  }
};

Tc decode(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp, const space::Config& cfg,
          bool wgmma) {
  Tc c;
  auto v = [&](size_t k) { return sp.value(cfg, k)[0]; };
  c.wgmma = wgmma;
  c.bk = v(0);
  c.mi = v(1);
  (wgmma ? c.wn : c.ni) = v(2);
  c.warps_m = v(3);
  c.warps_n = v(4);
  c.split_k = v(5);
  c.stages = v(6);
  if (wgmma) c.pending = v(7);
  c.gm = wl.k / wl.groups;
  c.gn = int64_t(wl.n) * wl.out_h() * wl.out_w();
  c.cg = wl.c / wl.groups;
  c.gk = c.cg * wl.r * wl.s;
  c.nhwc = wl.layout == task::Layout::nhwc;
  c.b_vec = c.nhwc ? c.cg % 8 == 0
                   : !wgmma && wl.r == 1 && wl.s == 1 && wl.stride_h == 1 && wl.stride_w == 1 &&
                         wl.pad_top == 0 && wl.pad_left == 0 && wl.out_h() == wl.h &&
                         wl.out_w() == wl.w && (int64_t(wl.out_h()) * wl.out_w()) % 8 == 0;
  return c;
}

// The 4-byte words lane `lane` of the first warp reads of the input in the first reduction tile
// (tile-relative pixel 0 first), as the template's copies or gather do.
void input_access(const task::Conv2dWorkload& wl, const Tc& c, int lane,
                  std::vector<int64_t>& words) {
  const int pq = wl.out_h() * wl.out_w(), bn = c.bn();
  // NHWC 16-byte copies: pixel lane / (BK/8), 8 channels from chunk lane % (BK/8); the wgmma
  // gather: pixel lane % BN, the first index of chunk lane / BN; otherwise reduction row
  // lane / (BN/w) and w pixels from column lane % (BN/w).
  const bool nhwc_vec = c.nhwc && c.b_vec, chunked = c.wgmma && !c.b_vec;
  const int w = c.b_vec && !c.nhwc ? 8 : 1, elems = nhwc_vec ? 8 : 1;
  const int j = nhwc_vec ? (lane % (c.bk / 8)) * 8 : chunked ? (lane / bn) * 8 : lane / (bn / w);
  const int p0 = nhwc_vec ? lane / (c.bk / 8) : chunked ? lane % bn : (lane % (bn / w)) * w;
  if (j >= c.bk || j >= c.gk) return;
  // The reduction index's channel and tap: c*R*S + r*S + s (NCHW), (r*S + s)*CG + c (NHWC).
  const int rs_count = wl.r * wl.s;
  const int ch = c.nhwc ? int(j % c.cg) : c.b_vec ? j : j / rs_count;
  const int rs = c.nhwc ? int(j / c.cg) : c.b_vec ? 0 : j % rs_count;
  for (int i = 0; i < w && p0 + i < c.gn; ++i) {
    const int p = p0 + i, q = p % pq, oh = q / wl.out_w(), ow = q % wl.out_w();
    const int ih = oh * wl.stride_h - wl.pad_top + (rs / wl.s) * wl.dilation_h;
    const int iw = ow * wl.stride_w - wl.pad_left + (rs % wl.s) * wl.dilation_w;
    if (ih < 0 || ih >= wl.h || iw < 0 || iw >= wl.w) continue;
    const int64_t img = p / pq;
    const int64_t at = c.nhwc ? ((img * wl.h + ih) * wl.w + iw) * wl.c + ch
                              : ((img * wl.c + ch) * wl.h + ih) * wl.w + iw;
    for (int e = 0; e < elems; ++e) words.push_back((at + e) / 2);
  }
}

// The features of a decoded config of either template (`min_sm`, `max_sm`: the template's).
KernelFeatures features_of(const task::Conv2dWorkload& wl, const Tc& c, int min_sm, int max_sm) {
  const int bm = c.bm(), bn = c.bn();
  KernelFeatures f;
  f.geometry.grid = {uint32_t((c.gn + bn - 1) / bn), uint32_t((c.gm + bm - 1) / bm),
                     uint32_t(int64_t(c.split_k) * wl.groups)};
  f.geometry.block = {uint32_t(c.threads()), 1, 1};
  f.geometry.dynamic_smem = int(c.smem_bytes());
  set_split_k(f.geometry, wl, c.split_k, kReduceWorkspace);
  f.split_k = c.split_k;
  f.f16_mma = true;
  f.dtype = wl.dtype;
  f.min_sm = min_sm;
  f.max_sm = max_sm;
  f.accumulators = c.accumulators();
  // Accumulators, one step's fragments (mma.sync: 4 registers per 16-row tile, 2 per 8-column
  // one; wgmma: two descriptors), the staged input (2 elements a register), the gather's or the
  // NHWC copies' pixels, the rest.
  const int64_t fragments = c.wgmma ? 4 : 4 * c.mi + 2 * c.ni;
  f.predicted_registers = int(f.accumulators + fragments + (c.staged() + 1) / 2 +
                              3 * c.staged() / 8 + 3 * c.copy_slots() + 40);
  f.reduction_steps = c.k_tiles_per_split();
  f.fma_per_thread = f.accumulators * f.reduction_steps * c.bk;
  f.global_loads_per_block = f.reduction_steps * (int64_t(bm) * c.bk + int64_t(c.bk) * bn);
  // ldmatrix: a 16x16 weight fragment (4 registers) and a 16x8 input one (2) serve 16x8x16
  // multiply-adds of the warp; per lane and multiply-add, in 4-byte words. wgmma: per 16
  // reduction indices, MI 64x16 weight tiles and a WN x 16 input tile (in 4-byte words per lane
  // of the warpgroup: 4 a weight tile, WN/16 the input) serve MI * WN * 8 multiply-adds a lane.
  f.smem_reads_per_fma = c.wgmma ? double(4 * c.mi + c.wn / 16.0) / double(8 * c.mi * c.wn)
                                 : double(4 * c.mi + 2 * c.ni) / double(64 * c.mi * c.ni);
  f.unrolled_loops = 3;

  const int64_t m_cap = std::max<int64_t>(c.wgmma ? 64 : 16, pow2_at_least(c.gm));
  const int64_t n_cap = std::max<int64_t>(16, pow2_at_least(c.gn));
  if (bm > kMaxBlockTile || bn > kMaxBlockTile) {
    f.invalid = "block tile " + std::to_string(bm) + "x" + std::to_string(bn) + " exceeds " +
                std::to_string(kMaxBlockTile) + " on a side";
  } else if (bm > m_cap) {
    f.invalid = "block tile of " + std::to_string(bm) + " output channels for " +
                std::to_string(c.gm) + " channels";
  } else if (bn > n_cap) {
    f.invalid =
        "block tile of " + std::to_string(bn) + " pixels for " + std::to_string(c.gn) + " pixels";
  } else if (int64_t(c.split_k - 1) * c.k_tiles_per_split() >= c.k_tiles()) {
    f.invalid = "split_k " + std::to_string(c.split_k) +
                " leaves a split without reduction tiles (" + std::to_string(c.k_tiles()) +
                " tiles of " + std::to_string(c.bk) + ")";
  } else if (c.stages > 2 && c.k_tiles_per_split() < c.stages) {
    f.invalid = std::to_string(c.stages) + " pipeline stages for " +
                std::to_string(c.k_tiles_per_split()) + " reduction tiles per block";
  } else if (c.stages - 1 - c.pending < 1) {
    f.invalid = "wgmma_pending " + std::to_string(c.pending) +
                " leaves no stage to prefetch into (" + std::to_string(c.stages) + " stages)";
  } else if (c.wgmma && c.accumulators() > kMaxWgmmaAccumulators) {
    f.invalid = std::to_string(c.accumulators()) + " accumulators a thread (mma_m " +
                std::to_string(c.mi) + " x wgmma_n " + std::to_string(c.wn) + " / 2; at most " +
                std::to_string(kMaxWgmmaAccumulators) + ")";
  } else if (c.staged() > kMaxStaged) {
    f.invalid = std::to_string(c.staged()) + " input elements gathered per thread and tile (" +
                std::to_string(c.bk) + "x" + std::to_string(bn) + " over " +
                std::to_string(c.threads()) + " threads; at most " + std::to_string(kMaxStaged) +
                ")";
  }

  // The first warp of each access, in elements: weight copies, input copies, output stores.
  const int pq = wl.out_h() * wl.out_w();
  std::vector<int64_t> a_loads, b_loads, stores, a_reads;
  const int a_w = c.gk % 8 == 0 ? 8 : 1; // 16-byte weight copies (A_VEC in the template)
  for (int lane = 0; lane < 32; ++lane) {
    const int row = lane / (c.bk / a_w), col = (lane % (c.bk / a_w)) * a_w;
    if (row < bm && row < c.gm) {
      for (int i = 0; i < a_w && col + i < c.gk; ++i)
        a_loads.push_back((int64_t(row) * c.gk + col + i) / 2);
    }
    input_access(wl, c, lane, b_loads);
    const int m = lane / 4, sp_ = 2 * (lane % 4);
    if (m < c.gm && sp_ < c.gn) {
      stores.push_back(
          (c.nhwc ? int64_t(sp_) * wl.k + m : (int64_t(sp_ / pq) * wl.k + m) * pq + sp_ % pq) / 2);
    }
    // ldmatrix reads 8 rows of 16 bytes per phase: conflict-free with the 8-element row padding.
    // wgmma reads whole 128-byte core matrices.
    a_reads.push_back(c.wgmma ? lane : int64_t(lane % 8) * (c.bk + 8) / 2 + (lane / 8) % 4);
  }
  set_access_features(f, b_loads, a_loads, stores, a_reads);
  return f;
}

// wgmma_tile for WN = n: the asm of one wgmma.mma_async m64nNk16, its accumulators as n/2
// operands (GPU compiles only; the host emulator has its own).
std::string wgmma_tile_source(int n, task::DataType dtype) {
  const char* ab = dtype == task::DataType::bf16 ? ".bf16.bf16" : ".f16.f16";
  std::ostringstream regs, operands;
  for (int i = 0; i < n / 2; ++i) {
    regs << (i > 0 ? ", " : "") << "%" << i;
    operands << (i > 0 ? ", " : "") << (i % 8 == 0 && i > 0 ? "\n                 " : "")
             << "\"+f\"(d[" << i << "])";
  }
  std::ostringstream src;
  src << "#if !defined(CHM_EMULATE)\n"
      << "// d += A x B for a 64 x " << n << " x 16 multiply of the warpgroup, A and B K-major in\n"
      << "// shared memory (descriptors), float32 accumulators (" << n / 2 << " a thread).\n"
      << "__device__ __forceinline__ void wgmma_tile(float* d, unsigned long long a_desc,\n"
      << "                                           unsigned long long b_desc) {\n"
      << "  asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %" << n / 2 + 2 << ", 0;\\n\"\n"
      << "               \"wgmma.mma_async.sync.aligned.m64n" << n << "k16.f32" << ab << " {"
      << regs.str() << "}, %" << n / 2 << ", %" << n / 2 + 1 << ", p, 1, 1, 0, 0;\\n}\\n\"\n"
      << "               : " << operands.str() << "\n"
      << "               : \"l\"(a_desc), \"l\"(b_desc), \"r\"(1));\n"
      << "}\n"
      << "#endif\n";
  return src.str();
}

// The kernel of a decoded config of either template: the workload, the knobs (the warp or
// warpgroup tiling of its instruction) and, for wgmma, the instruction's asm.
KernelSource render_config(const Template& t, const task::Conv2dWorkload& wl,
                           const space::ConfigSpace& sp, const space::Config& cfg, const Tc& c) {
  std::ostringstream src;
  render_prelude(src, t.name(), wl, sp, cfg);
  auto def = [&](const char* key, int64_t value) { define_constant(src, key, value); };
  def("G", wl.groups);
  def("BK", c.bk);
  def(c.wgmma ? "WG_M" : "WARPS_M", c.warps_m);
  def(c.wgmma ? "WG_N" : "WARPS_N", c.warps_n);
  def("MI", c.mi);
  def(c.wgmma ? "WN" : "NI", c.wgmma ? c.wn : c.ni);
  def("STAGES", c.stages);
  def("WGMMA_PENDING", c.pending);
  src << "#define WGMMA " << (c.wgmma ? 1 : 0) << "\n";
  if (c.wgmma) src << wgmma_tile_source(c.wn, wl.dtype);
  render_body(src, kSourcePath, wl, c.split_k, kReduceWorkspace, /*mma=*/!c.wgmma);
  KernelSource out{"conv2d_tensorcore", src.str(), t.features(wl, sp, cfg).geometry};
  out.arch_specific = c.wgmma;
  return out;
}

} // namespace

std::string TensorCoreGemm::type_decline_reason(const task::Conv2dWorkload&) const {
  return "float16 and bfloat16 tasks only (--precision fp16 or bf16; float32 tasks use TF32 "
         "tensor cores through conv2d_implicit_gemm_tf32)";
}

std::string TensorCoreGemm::shape_decline_reason(const task::Conv2dWorkload& wl) const {
  if (int64_t(wl.n) * wl.out_h() * wl.out_w() > (int64_t(1) << 30) ||
      int64_t(wl.c) * wl.r * wl.s > (int64_t(1) << 30)) {
    return "GEMM sizes beyond 32-bit indexing";
  }
  return "";
}

space::ConfigSpace TensorCoreGemm::make_space(const task::Conv2dWorkload&) const {
  return space_of(knob_defs());
}

KernelSource TensorCoreGemm::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                    const space::Config& cfg) const {
  return render_config(*this, wl, sp, cfg, decode(wl, sp, cfg, false));
}

KernelFeatures TensorCoreGemm::features(const task::Conv2dWorkload& wl,
                                        const space::ConfigSpace& sp,
                                        const space::Config& cfg) const {
  return features_of(wl, decode(wl, sp, cfg, false), min_sm(), 0);
}

std::string TensorCoreGemm::source_fingerprint() const {
  const std::string knobs = knob_text(knob_defs());
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          splitk_reduce_source() + epilogue_source() + mma_source())
      .substr(0, 16);
}

space::ConfigSpace TensorCoreWgmma::make_space(const task::Conv2dWorkload&) const {
  return space_of(wgmma_knob_defs());
}

KernelSource TensorCoreWgmma::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                     const space::Config& cfg) const {
  return render_config(*this, wl, sp, cfg, decode(wl, sp, cfg, true));
}

KernelFeatures TensorCoreWgmma::features(const task::Conv2dWorkload& wl,
                                         const space::ConfigSpace& sp,
                                         const space::Config& cfg) const {
  return features_of(wl, decode(wl, sp, cfg, true), min_sm(), max_sm());
}

std::string TensorCoreWgmma::source_fingerprint() const {
  const std::string knobs = knob_text(wgmma_knob_defs());
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          splitk_reduce_source() + epilogue_source() + mma_source())
      .substr(0, 16);
}

} // namespace chameleon::codegen
