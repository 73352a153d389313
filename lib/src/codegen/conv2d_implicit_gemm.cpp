#include "conv2d_implicit_gemm.hpp"

#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace chameleon::codegen {

namespace {

constexpr const char* kSourcePath = "templates/conv2d_implicit_gemm.cu";
constexpr int kMaxBlockTile = 256; // rows or columns of a block tile

// The knobs, in space order. The FP32 variant tiles a warp with lanes x thread tiles, the TF32
// variant with 16 x 8 mma tiles.
const std::vector<KnobDef>& knob_defs(bool tf32) {
  static const std::vector<KnobDef> fp32 = {
      {"tile_k", {8, 16, 32}},
      {"thread_m", {1, 2, 4, 8}},
      {"thread_n", {1, 2, 4, 8}},
      {"lanes_n", {1, 2, 4, 8, 16, 32}},
      {"warps_m", {1, 2, 4}},
      {"warps_n", {1, 2, 4}},
      {"split_k", {1, 2, 4, 8, 16, 32}},
      {"splitk_reduce", {kReduceAtomic, kReduceWorkspace}},
      {"stages", {2, 3, 4}},
      {"tap_major", {0, 1}},
  };
  static const std::vector<KnobDef> tf = {
      {"tile_k", {8, 16, 32}},
      {"mma_m", {1, 2, 4}},
      {"mma_n", {1, 2, 4, 8}},
      {"warps_m", {1, 2, 4}},
      {"warps_n", {1, 2, 4}},
      {"split_k", {1, 2, 4, 8, 16, 32}},
      {"splitk_reduce", {kReduceAtomic, kReduceWorkspace}},
      {"stages", {2, 3, 4}},
      {"tap_major", {0, 1}},
  };
  return tf32 ? tf : fp32;
}

// One config, decoded, with the sizes the kernel derives from it.
struct Gemm {
  bool tf32 = false;
  int bk = 8, tm = 1, tn = 1, lanes_n = 32, mi = 1, ni = 1, warps_m = 1, warps_n = 1, split_k = 1;
  int reduce = kReduceAtomic;
  int stages = 2;
  int tap_major = 0; // reduction order: channel-major (the weights' own) or tap-major
  int64_t gm = 0, gn = 0, gk = 0, cg = 0;

  int bm() const { return tf32 ? warps_m * 16 * mi : warps_m * (32 / lanes_n) * tm; }
  int bn() const { return tf32 ? warps_n * 8 * ni : warps_n * lanes_n * tn; }
  int threads() const { return 32 * warps_m * warps_n; }
  int64_t k_tiles() const { return (gk + bk - 1) / bk; }
  int64_t k_tiles_per_split() const { return (k_tiles() + split_k - 1) / split_k; }
  int64_t accumulators() const { return tf32 ? int64_t(4) * mi * ni : int64_t(tm) * tn; }
  int64_t smem_floats() const {
    return stages * (int64_t(bm()) * (bk + 4) + int64_t(bk) * (bn() + 8));
  }
};

Gemm decode(bool tf32, const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
            const space::Config& cfg) {
  Gemm g;
  g.tf32 = tf32;
  auto v = [&](size_t k) { return sp.value(cfg, k)[0]; };
  g.bk = v(0);
  if (tf32) {
    g.mi = v(1);
    g.ni = v(2);
    g.warps_m = v(3);
    g.warps_n = v(4);
    g.split_k = v(5);
    g.reduce = v(6);
    g.stages = v(7);
    g.tap_major = v(8);
  } else {
    g.tm = v(1);
    g.tn = v(2);
    g.lanes_n = v(3);
    g.warps_m = v(4);
    g.warps_n = v(5);
    g.split_k = v(6);
    g.reduce = v(7);
    g.stages = v(8);
    g.tap_major = v(9);
  }
  // One GEMM per group.
  g.gm = wl.k / wl.groups;
  g.gn = int64_t(wl.n) * wl.out_h() * wl.out_w();
  g.cg = wl.c / wl.groups;
  g.gk = g.cg * wl.r * wl.s;
  return g;
}

// Tap-major order is the channel-major one on a 1x1 kernel (gk == cg).
bool tap_major_order(const Gemm& g) {
  return g.tap_major && g.gk > g.cg;
}
bool weights_vectorized(const Gemm& g) {
  return !tap_major_order(g) && g.gk % 4 == 0;
}
bool input_vectorized(const task::Conv2dWorkload& wl, const Gemm& g) {
  return wl.r == 1 && wl.s == 1 && wl.stride_h == 1 && wl.stride_w == 1 && wl.pad_top == 0 &&
         wl.pad_left == 0 && wl.out_h() == wl.h && wl.out_w() == wl.w &&
         (int64_t(wl.out_h()) * wl.out_w()) % 4 == 0 && g.bn() % 4 == 0;
}
// Input copy columns a thread owns in every tile (B_SLOTS in the template).
int input_slots(const task::Conv2dWorkload& wl, const Gemm& g) {
  const int copies = input_vectorized(wl, g) ? g.bn() / 4 : g.bn();
  return g.threads() >= copies ? 1 : copies / g.threads();
}

} // namespace

std::string ImplicitGemm::shape_decline_reason(const task::Conv2dWorkload& wl) const {
  if (int64_t(wl.n) * wl.out_h() * wl.out_w() > (int64_t(1) << 30) ||
      int64_t(wl.c) * wl.r * wl.s > (int64_t(1) << 30)) {
    return "GEMM sizes beyond 32-bit indexing";
  }
  return "";
}

space::ConfigSpace ImplicitGemm::make_space(const task::Conv2dWorkload&) const {
  return space_of(knob_defs(tf32_));
}

KernelSource ImplicitGemm::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                  const space::Config& cfg) const {
  const Gemm g = decode(tf32_, wl, sp, cfg);
  std::ostringstream src;
  render_prelude(src, name(), wl, sp, cfg);
  auto def = [&](const char* key, int64_t value) { define_constant(src, key, value); };
  src << "#define MMA " << (tf32_ ? 1 : 0) << "\n";
  def("G", wl.groups);
  def("BK", g.bk);
  def("WARPS_M", g.warps_m);
  def("WARPS_N", g.warps_n);
  def("TM", g.tm);
  def("TN", g.tn);
  def("LANES_N", g.lanes_n);
  def("MI", g.mi);
  def("NI", g.ni);
  def("STAGES", g.stages);
  def("TAP_MAJOR", g.tap_major);
  render_body(src, kSourcePath, wl, g.split_k, g.reduce);
  return {"conv2d_implicit_gemm", src.str(), features(wl, sp, cfg).geometry};
}

KernelFeatures ImplicitGemm::features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                      const space::Config& cfg) const {
  const Gemm g = decode(tf32_, wl, sp, cfg);
  const int bm = g.bm(), bn = g.bn();
  KernelFeatures f;
  f.geometry.grid = {uint32_t((g.gn + bn - 1) / bn), uint32_t((g.gm + bm - 1) / bm),
                     uint32_t(int64_t(g.split_k) * wl.groups)};
  f.geometry.block = {uint32_t(g.threads()), 1, 1};
  f.geometry.dynamic_smem = int(4 * g.smem_floats());
  set_split_k(f.geometry, wl, g.split_k, g.reduce);
  f.invalid = atomic_split_conflict(wl, g.split_k, g.reduce);
  f.split_k = g.split_k;
  f.tf32 = tf32_;
  f.min_sm = min_sm();
  f.accumulators = g.accumulators();
  f.duplicate = duplicate_reduce(g.split_k, g.reduce);
  if (f.duplicate.empty() && g.tap_major && !tap_major_order(g)) {
    f.duplicate = "tap_major 1 with a 1x1 kernel makes the kernel of tap_major 0";
  }
  // Accumulators, one step's operands, the gather's precomputed pixels (3 per column slot), the
  // rest.
  f.predicted_registers = int(f.accumulators + (tf32_ ? 4 * g.mi + 2 * g.ni : g.tm + g.tn) +
                              3 * input_slots(wl, g) + 40);
  f.reduction_steps = g.k_tiles_per_split();
  // Both variants: each accumulator takes BK multiply-adds per reduction tile.
  f.fma_per_thread = f.accumulators * f.reduction_steps * g.bk;
  f.global_loads_per_block = f.reduction_steps * (int64_t(bm) * g.bk + int64_t(g.bk) * bn);
  f.smem_reads_per_fma = tf32_ ? double(4 * g.mi + 2 * g.ni) / double(32 * g.mi * g.ni)
                               : double(g.tm + g.tn) / double(g.tm * g.tn);
  f.vthreads = 1;
  f.unrolled_loops = 3;
  f.unroll_explicit = false;

  // The template's own limits: tiles far beyond the problem only waste threads, and every split
  // must own at least one reduction tile. Channel tiles go down to one row for the FP32 variant
  // (a depthwise layer's GEMM has one row per group), to one 16-row mma tile for TF32.
  const int64_t m_cap = std::max<int64_t>(tf32_ ? 16 : 1, pow2_at_least(g.gm));
  const int64_t n_cap = std::max<int64_t>(16, pow2_at_least(g.gn));
  if (bm > kMaxBlockTile || bn > kMaxBlockTile) {
    f.invalid = "block tile " + std::to_string(bm) + "x" + std::to_string(bn) + " exceeds " +
                std::to_string(kMaxBlockTile) + " on a side";
  } else if (bm > m_cap) {
    f.invalid = "block tile of " + std::to_string(bm) + " output channels for " +
                std::to_string(g.gm) + " channels";
  } else if (bn > n_cap) {
    f.invalid =
        "block tile of " + std::to_string(bn) + " pixels for " + std::to_string(g.gn) + " pixels";
  } else if (int64_t(g.split_k - 1) * g.k_tiles_per_split() >= g.k_tiles()) {
    f.invalid = "split_k " + std::to_string(g.split_k) +
                " leaves a split without reduction tiles (" + std::to_string(g.k_tiles()) +
                " tiles of " + std::to_string(g.bk) + ")";
  } else if (tap_major_order(g) && g.cg % g.bk != 0) {
    f.invalid = "tap_major needs tile_k " + std::to_string(g.bk) + " to divide the " +
                std::to_string(g.cg) + " input channels per group";
  } else if (g.stages > 2 && g.k_tiles_per_split() < g.stages) {
    f.invalid = std::to_string(g.stages) + " pipeline stages for " +
                std::to_string(g.k_tiles_per_split()) + " reduction tiles per block";
  }

  // The first warp of each access: weight copies, input copies, output stores, operand reads.
  const int pq = wl.out_h() * wl.out_w();
  std::vector<int64_t> a_loads, b_loads, stores, a_reads;
  const bool a_vec = weights_vectorized(g), b_vec = input_vectorized(wl, g);
  for (int lane = 0; lane < 32; ++lane) {
    if (a_vec) {
      const int row = lane / (g.bk / 4), col = (lane % (g.bk / 4)) * 4;
      if (row < bm && row < g.gm) {
        for (int i = 0; i < 4; ++i) a_loads.push_back(int64_t(row) * g.gk + col + i);
      }
    } else {
      // Column col is reduction index col, or, tap-major, channel col of the first tap.
      const int row = lane / g.bk, col = lane % g.bk;
      const int64_t stride = tap_major_order(g) ? int64_t(wl.r) * wl.s : 1;
      if (row < bm && row < g.gm && col < g.gk)
        a_loads.push_back(int64_t(row) * g.gk + col * stride);
    }
    if (b_vec) {
      const int row = lane / (bn / 4), col = (lane % (bn / 4)) * 4;
      if (row < g.bk && row < wl.c / wl.groups) {
        for (int i = 0; i < 4 && col + i < g.gn; ++i)
          b_loads.push_back(int64_t(row) * pq + col + i);
      }
    } else {
      const int row = lane / bn, p = lane % bn;
      const bool tap = tap_major_order(g);
      const int c = tap ? row : row / (wl.r * wl.s), rs = tap ? 0 : row % (wl.r * wl.s);
      const int oh = (p % pq) / wl.out_w(), ow = p % wl.out_w();
      const int ih = oh * wl.stride_h - wl.pad_top + (rs / wl.s) * wl.dilation_h;
      const int iw = ow * wl.stride_w - wl.pad_left + (rs % wl.s) * wl.dilation_w;
      if (row < g.bk && row < g.gk && p < g.gn && ih >= 0 && ih < wl.h && iw >= 0 && iw < wl.w) {
        b_loads.push_back(((int64_t(p / pq) * wl.c + c) * wl.h + ih) * wl.w + iw);
      }
    }
    int m, p;
    if (tf32_) {
      m = lane / 4;
      p = 2 * (lane % 4);
      a_reads.push_back(int64_t(lane / 4) * (g.bk + 4) + lane % 4);
    } else {
      const int lane_m = lane / g.lanes_n;
      m = lane_m;
      p = lane % g.lanes_n;
      a_reads.push_back(int64_t(lane_m) * (g.bk + 4));
    }
    if (m < g.gm && p < g.gn) stores.push_back((int64_t(p / pq) * wl.k + m) * pq + p % pq);
  }
  set_access_features(f, b_loads, a_loads, stores, a_reads);
  return f;
}

std::string ImplicitGemm::source_fingerprint() const {
  const std::string knobs = knob_text(knob_defs(tf32_));
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          splitk_reduce_source() + epilogue_source())
      .substr(0, 16);
}

} // namespace chameleon::codegen
