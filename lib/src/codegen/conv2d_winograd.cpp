#include "conv2d_winograd.hpp"

#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace chameleon::codegen {

namespace {

constexpr const char* kSourcePath = "templates/conv2d_winograd.cu";

// The knobs, in space order.
const std::vector<KnobDef>& knob_defs() {
  static const std::vector<KnobDef> defs = {
      {"tile", {2, 4}},
      {"tile_k", {4, 8, 16}},
      {"thread_m", {1, 2, 4, 8}},
      {"thread_n", {1, 2, 4, 8}},
      {"lanes_m", {1, 2, 4, 8}},
      {"lanes_n", {1, 2, 4, 8}},
      {"split_k", {1, 2, 4, 8, 16, 32}},
      {"splitk_reduce", {kReduceAtomic, kReduceWorkspace}},
  };
  return defs;
}

// One config, decoded, with the sizes the kernel derives from it (templates/conv2d_winograd.cu).
struct Wino {
  int mt = 2; // output tile side: F(2x2, 3x3) or F(4x4, 3x3)
  int bk = 4, tm = 1, tn = 1, lanes_m = 1, lanes_n = 1, split_k = 1, reduce = kReduceAtomic;
  int64_t tiles = 0;  // mt x mt output tiles of the whole output (all images)
  int64_t slices = 0; // reduction slices of bk input channels

  int bm() const { return lanes_m * tm; }
  int bt() const { return lanes_n * tn; }
  int alpha() const { return mt + 2; }         // input patch side
  int nc() const { return alpha() * alpha(); } // components
  int team() const { return lanes_m * lanes_n; }
  int threads() const { return nc() * team(); }
  int64_t slices_per_split() const { return (slices + split_k - 1) / split_k; }
  int in_slots() const { return (bk * bt() + threads() - 1) / threads(); }
  int w_slots() const { return (bk * bm() + threads() - 1) / threads(); }
  // Shared memory: two stages of U [nc][bk][bm + 4] and V [nc][bk][bt] (each plane padded by 4),
  // reused at the end for the sums the output transform takes: at least one thread-row's,
  // [nc][lanes_m][bt] (as many rows as fit, templates/conv2d_winograd.cu).
  int64_t smem_floats() const {
    const int64_t stage = nc() * ((int64_t(bk) * (bm() + 4) + 4) + (int64_t(bk) * bt() + 4));
    return std::max<int64_t>(2 * stage, nc() * int64_t(lanes_m) * bt());
  }
};

Wino decode(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
            const space::Config& cfg) {
  Wino w;
  auto v = [&](size_t k) { return sp.value(cfg, k)[0]; };
  w.mt = v(0);
  w.bk = v(1);
  w.tm = v(2);
  w.tn = v(3);
  w.lanes_m = v(4);
  w.lanes_n = v(5);
  w.split_k = v(6);
  w.reduce = v(7);
  w.tiles = int64_t(wl.n) * ((wl.out_h() + w.mt - 1) / w.mt) * ((wl.out_w() + w.mt - 1) / w.mt);
  w.slices = (wl.c + w.bk - 1) / w.bk;
  return w;
}

// A thread's i-th row or column of its component (local_of in the template).
int64_t local_of(int t, int lanes, int i, int lane) {
  return t >= 4 ? int64_t(i / 4) * (lanes * 4) + lane * 4 + i % 4 : int64_t(i) * lanes + lane;
}

} // namespace

std::string Conv2dWinograd::shape_decline_reason(const task::Conv2dWorkload& wl) const {
  if (wl.r != 3 || wl.s != 3) {
    return "Winograd F(m x m, 3x3) needs a 3x3 kernel, not " + std::to_string(wl.r) + "x" +
           std::to_string(wl.s);
  }
  if (wl.stride_h != 1 || wl.stride_w != 1) return "Winograd F(m x m, 3x3) needs stride 1";
  if (wl.dilation_h != 1 || wl.dilation_w != 1) return "Winograd F(m x m, 3x3) needs dilation 1";
  if (wl.groups != 1) return "Winograd F(m x m, 3x3) here takes no grouped convolutions";
  if (wl.input_elems() > (int64_t(1) << 31) || wl.output_elems() > (int64_t(1) << 31) ||
      wl.weight_elems() >= (int64_t(1) << 31)) {
    return "tensors beyond 32-bit indexing";
  }
  return "";
}

space::ConfigSpace Conv2dWinograd::make_space(const task::Conv2dWorkload&) const {
  return space_of(knob_defs());
}

KernelSource Conv2dWinograd::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                    const space::Config& cfg) const {
  const Wino w = decode(wl, sp, cfg);
  std::ostringstream src;
  render_prelude(src, name(), wl, sp, cfg);
  define_constant(src, "MT", w.mt);
  define_constant(src, "BK", w.bk);
  define_constant(src, "TM", w.tm);
  define_constant(src, "TN", w.tn);
  define_constant(src, "LANES_M", w.lanes_m);
  define_constant(src, "LANES_N", w.lanes_n);
  src << "#define TENSOR_CORES 0\n";
  render_body(src, kSourcePath, wl, w.split_k, w.reduce);
  return {"conv2d_winograd", src.str(), features(wl, sp, cfg).geometry};
}

double Conv2dWinograd::arithmetic_flops(const task::Conv2dWorkload& wl,
                                        const space::ConfigSpace& sp,
                                        const space::Config& cfg) const {
  const Wino w = decode(wl, sp, cfg);
  return 2.0 * double(wl.k) * double(wl.c / wl.groups) * double(w.tiles) * double(w.nc());
}

KernelFeatures Conv2dWinograd::features(const task::Conv2dWorkload& wl,
                                        const space::ConfigSpace& sp,
                                        const space::Config& cfg) const {
  const Wino w = decode(wl, sp, cfg);
  const int bm = w.bm(), bt = w.bt();
  KernelFeatures f;
  f.geometry.grid = {uint32_t(std::min<int64_t>((w.tiles + bt - 1) / bt, UINT32_MAX)),
                     uint32_t((wl.k + bm - 1) / bm), uint32_t(w.split_k)};
  f.geometry.block = {uint32_t(w.threads()), 1, 1};
  f.geometry.dynamic_smem = int(4 * w.smem_floats());
  set_split_k(f.geometry, wl, w.split_k, w.reduce);
  f.invalid = atomic_split_conflict(wl, w.split_k, w.reduce);
  f.dtype = wl.dtype;
  f.split_k = w.split_k;
  f.accumulators = int64_t(w.tm) * w.tn;
  f.duplicate = duplicate_reduce(w.split_k, w.reduce);
  // Accumulators, one channel's operands, a slice's loads in flight (nc per patch, 9 per weight
  // entry), each patch's precomputed origin and mask with their addressing (about 4), the rest.
  f.predicted_registers =
      int(f.accumulators + w.tm + w.tn + (w.nc() + 4) * w.in_slots() + 9 * w.w_slots() + 32);
  f.reduction_steps = w.slices_per_split();
  f.fma_per_thread = f.accumulators * f.reduction_steps * w.bk;
  f.global_loads_per_block = f.reduction_steps * w.bk * (w.nc() * int64_t(bt) + 9 * int64_t(bm));
  // Operand reads, plus the transforms a thread does per slice, per multiply-add: a patch takes
  // 32 operations and 16 stores (F(2x2)) or 168 and 36 (F(4x4)); a weight entry about 20 and 16
  // or 54 and 36.
  const int patch_ops = w.mt == 2 ? 48 : 204, weight_ops = w.mt == 2 ? 36 : 90;
  f.smem_reads_per_fma =
      double(w.tm + w.tn) / double(f.accumulators) +
      double(patch_ops * w.in_slots() + weight_ops * w.w_slots()) / double(f.accumulators * w.bk);
  f.vthreads = 1;
  f.unrolled_loops = 3;
  f.unroll_explicit = false;

  // The template's own limits: a warp at least, tiles not far beyond the problem, and every split
  // owns at least one slice.
  if (w.threads() < 32) {
    f.invalid = std::to_string(w.threads()) + " threads per block (" + std::to_string(w.nc()) +
                " components x " + std::to_string(w.team()) + "), fewer than a warp";
  } else if (bm > pow2_at_least(wl.k)) {
    f.invalid = "block tile of " + std::to_string(bm) + " output channels for " +
                std::to_string(wl.k) + " channels";
  } else if (bt > std::max<int64_t>(4, pow2_at_least(w.tiles))) {
    f.invalid = "block tile of " + std::to_string(bt) + " output tiles for " +
                std::to_string(w.tiles) + " tiles";
  } else if (int64_t(w.split_k - 1) * w.slices_per_split() >= w.slices) {
    f.invalid = "split_k " + std::to_string(w.split_k) +
                " leaves a split without channel slices (" + std::to_string(w.slices) +
                " slices of " + std::to_string(w.bk) + ")";
  }

  // The first warp of each access: input patches (their first element), weights (their first
  // tap), output stores (the output transform's first row), weight-component reads.
  const int th = (wl.out_h() + w.mt - 1) / w.mt, tw = (wl.out_w() + w.mt - 1) / w.mt;
  std::vector<int64_t> in_loads, w_loads, stores, reads;
  const int64_t u_plane = int64_t(w.bk) * (bm + 4) + 4;
  for (int lane = 0; lane < 32 && lane < w.threads(); ++lane) {
    {
      const int c = lane / bt;
      const int64_t tile = lane % bt;
      const int img = int(tile / (int64_t(th) * tw)), rest = int(tile % (int64_t(th) * tw));
      const int ih = (rest / tw) * w.mt - wl.pad_top, iw = (rest % tw) * w.mt - wl.pad_left;
      if (c < w.bk && c < wl.c && tile < w.tiles && ih >= 0 && ih < wl.h && iw >= 0 && iw < wl.w) {
        in_loads.push_back(((int64_t(img) * wl.c + c) * wl.h + ih) * wl.w + iw);
      }
    }
    {
      const int m = lane / w.bk, c = lane % w.bk;
      if (m < bm && m < wl.k && c < wl.c) w_loads.push_back((int64_t(m) * wl.c + c) * 9);
    }
    if (lane < int64_t(w.lanes_m) * bt) {
      const int64_t tile = lane % bt;
      const int m = int(local_of(w.tm, w.lanes_m, 0, lane / bt));
      const int img = int(tile / (int64_t(th) * tw)), rest = int(tile % (int64_t(th) * tw));
      if (m < wl.k && tile < w.tiles) {
        stores.push_back(((int64_t(img) * wl.k + m) * wl.out_h() + (rest / tw) * w.mt) *
                             wl.out_w() +
                         (rest % tw) * w.mt);
      }
    }
    const int xi = lane / w.team(), lane_m = (lane % w.team()) / w.lanes_n;
    reads.push_back(xi * u_plane + local_of(w.tm, w.lanes_m, 0, lane_m));
  }
  set_access_features(f, in_loads, w_loads, stores, reads);
  return f;
}

std::string Conv2dWinograd::source_fingerprint() const {
  const std::string knobs = knob_text(knob_defs());
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          splitk_reduce_source() + epilogue_source())
      .substr(0, 16);
}

namespace {

// conv2d_winograd_tc's knobs, in space order.
const std::vector<KnobDef>& tc_knob_defs() {
  static const std::vector<KnobDef> defs = {
      {"tile_k", {16, 32}},     {"block_m", {16, 32, 64}},     {"block_n", {8, 16, 32, 64}},
      {"warps", {2, 4, 8, 16}}, {"split_k", {1, 2, 4, 8, 16}},
  };
  return defs;
}

// Accumulators a thread (components of a warp x its mma tiles x 4), at most.
constexpr int kMaxTcAccumulators = 128;

// One conv2d_winograd_tc config, decoded (templates/conv2d_winograd.cu with TENSOR_CORES).
struct WinoTc {
  static constexpr int nc = 16; // F(2x2, 3x3)'s components
  int bk = 16, bm = 16, bt = 8, warps = 4, split_k = 1;
  int64_t tiles = 0, slices = 0;

  int threads() const { return 32 * warps; }
  int cpw() const { return nc / warps; } // components of a warp
  int mi() const { return bm / 16; }
  int ni() const { return bt / 8; }
  int64_t accumulators() const { return int64_t(cpw()) * mi() * ni() * 4; }
  int64_t slices_per_split() const { return (slices + split_k - 1) / split_k; }
  int in_slots() const { return (bk * bt + threads() - 1) / threads(); }
  int w_slots() const { return (bk * bm + threads() - 1) / threads(); }
  // Row strides of the weight and input components, in 16-bit elements (an odd number of
  // 16-byte units).
  int u_ld() const { return bk + 8; }
  int v_ld() const { return (bt + 8) / 8 % 2 == 1 ? bt + 8 : bt + 16; }
  // Accumulators, one step's fragments, a slice's loads in flight (16 per patch, 9 per weight
  // entry), each patch's origin and mask with their addressing (about 4), the rest.
  int predicted_registers() const {
    return int(accumulators() + 4 * mi() + 2 * ni() + 20 * in_slots() + 9 * w_slots() + 40);
  }
  // Shared memory: two stages of [nc][bm][u_ld] and [nc][bk][v_ld] 16-bit components, reused at
  // the end for the sums, at least one row of them, [nc][bt + 4] floats.
  int64_t smem_bytes() const {
    const int64_t stages = 2 * int64_t(nc) * (int64_t(bm) * u_ld() + int64_t(bk) * v_ld()) * 2;
    return std::max<int64_t>(stages, int64_t(nc) * (bt + 4) * 4);
  }
};

WinoTc decode_tc(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                 const space::Config& cfg) {
  WinoTc w;
  auto v = [&](size_t k) { return sp.value(cfg, k)[0]; };
  w.bk = v(0);
  w.bm = v(1);
  w.bt = v(2);
  w.warps = v(3);
  w.split_k = v(4);
  w.tiles = int64_t(wl.n) * ((wl.out_h() + 1) / 2) * ((wl.out_w() + 1) / 2);
  w.slices = (wl.c + w.bk - 1) / w.bk;
  return w;
}

// Why the template rules a config out, or "".
std::string tc_invalid(const task::Conv2dWorkload& wl, const WinoTc& w) {
  // __launch_bounds__(THREADS) leaves a thread 65536 / THREADS registers (255 at most).
  const int cap = std::min(255, 65536 / w.threads());
  if (w.accumulators() > kMaxTcAccumulators) {
    return std::to_string(w.accumulators()) + " accumulators a thread (" + std::to_string(w.cpw()) +
           " components of " + std::to_string(w.bm) + "x" + std::to_string(w.bt) + "; at most " +
           std::to_string(kMaxTcAccumulators) + ")";
  }
  if (w.predicted_registers() > cap) {
    return "about " + std::to_string(w.predicted_registers()) +
           " registers a thread (accumulators, fragments and a slice's loads in flight), more "
           "than the " +
           std::to_string(cap) + " that " + std::to_string(w.threads()) +
           " threads a block leave: it would spill";
  }
  if (w.bm > std::max<int64_t>(16, pow2_at_least(wl.k))) {
    return "block tile of " + std::to_string(w.bm) + " output channels for " +
           std::to_string(wl.k) + " channels";
  }
  if (w.bt > std::max<int64_t>(8, pow2_at_least(w.tiles))) {
    return "block tile of " + std::to_string(w.bt) + " output tiles for " +
           std::to_string(w.tiles) + " tiles";
  }
  if (int64_t(w.split_k - 1) * w.slices_per_split() >= w.slices) {
    return "split_k " + std::to_string(w.split_k) + " leaves a split without channel slices (" +
           std::to_string(w.slices) + " slices of " + std::to_string(w.bk) + ")";
  }
  return "";
}

} // namespace

std::string Conv2dWinogradTc::type_decline_reason(const task::Conv2dWorkload&) const {
  return "float16 and bfloat16 tasks only (float32 ones: conv2d_winograd)";
}

space::ConfigSpace Conv2dWinogradTc::make_space(const task::Conv2dWorkload&) const {
  return space_of(tc_knob_defs());
}

KernelSource Conv2dWinogradTc::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                      const space::Config& cfg) const {
  const WinoTc w = decode_tc(wl, sp, cfg);
  std::ostringstream src;
  render_prelude(src, name(), wl, sp, cfg);
  define_constant(src, "MT", 2);
  define_constant(src, "BK", w.bk);
  define_constant(src, "BM", w.bm);
  define_constant(src, "BT", w.bt);
  define_constant(src, "WARPS", w.warps);
  src << "#define TENSOR_CORES 1\n";
  render_body(src, kSourcePath, wl, w.split_k, kReduceWorkspace, /*mma=*/true);
  return {"conv2d_winograd", src.str(), features(wl, sp, cfg).geometry};
}

double Conv2dWinogradTc::arithmetic_flops(const task::Conv2dWorkload& wl,
                                          const space::ConfigSpace& sp,
                                          const space::Config& cfg) const {
  const WinoTc w = decode_tc(wl, sp, cfg);
  return 2.0 * double(wl.k) * double(wl.c) * double(w.tiles) * double(WinoTc::nc);
}

KernelFeatures Conv2dWinogradTc::features(const task::Conv2dWorkload& wl,
                                          const space::ConfigSpace& sp,
                                          const space::Config& cfg) const {
  const WinoTc w = decode_tc(wl, sp, cfg);
  KernelFeatures f;
  f.geometry.grid = {uint32_t(std::min<int64_t>((w.tiles + w.bt - 1) / w.bt, UINT32_MAX)),
                     uint32_t((wl.k + w.bm - 1) / w.bm), uint32_t(w.split_k)};
  f.geometry.block = {uint32_t(w.threads()), 1, 1};
  f.geometry.dynamic_smem = int(w.smem_bytes());
  set_split_k(f.geometry, wl, w.split_k, kReduceWorkspace);
  f.dtype = wl.dtype;
  f.f16_mma = true;
  f.min_sm = min_sm();
  f.split_k = w.split_k;
  f.accumulators = w.accumulators();
  f.predicted_registers = w.predicted_registers();
  f.reduction_steps = w.slices_per_split();
  f.fma_per_thread = f.accumulators * f.reduction_steps * w.bk;
  f.global_loads_per_block =
      f.reduction_steps * w.bk * (WinoTc::nc * int64_t(w.bt) + 9 * int64_t(w.bm));
  // ldmatrix words per lane and multiply-add (as conv2d_tensorcore's), plus the transforms a
  // thread does per slice (48 operations and stores a patch, 36 a weight entry) per multiply-add.
  f.smem_reads_per_fma =
      double(4 * w.mi() + 2 * w.ni()) / double(64 * w.mi() * w.ni()) +
      double(48 * w.in_slots() + 36 * w.w_slots()) / double(f.accumulators * w.bk);
  f.unrolled_loops = 3;
  f.invalid = tc_invalid(wl, w);

  // The first warp of each access, in 4-byte words: input patches (their first element), weights
  // (their first tap), output stores (a tile's first output), ldmatrix's rows (8 lanes, 16 bytes
  // each).
  const int th = (wl.out_h() + 1) / 2, tw = (wl.out_w() + 1) / 2;
  std::vector<int64_t> in_loads, w_loads, stores, reads;
  for (int lane = 0; lane < 32 && lane < w.threads(); ++lane) {
    const int c = lane / w.bt;
    const int64_t tile = lane % w.bt;
    const int img = int(tile / (int64_t(th) * tw)), rest = int(tile % (int64_t(th) * tw));
    const int ih = (rest / tw) * 2 - wl.pad_top, iw = (rest % tw) * 2 - wl.pad_left;
    if (c < w.bk && c < wl.c && tile < w.tiles && ih >= 0 && ih < wl.h && iw >= 0 && iw < wl.w) {
      in_loads.push_back((((int64_t(img) * wl.c + c) * wl.h + ih) * wl.w + iw) / 2);
    }
    const int m = lane / w.bk, wc = lane % w.bk;
    if (m < w.bm && m < wl.k && wc < wl.c) w_loads.push_back((int64_t(m) * wl.c + wc) * 9 / 2);
    const int sm = lane / w.bt;
    if (sm < w.bm && sm < wl.k && tile < w.tiles) {
      stores.push_back((((int64_t(img) * wl.k + sm) * wl.out_h() + (rest / tw) * 2) * wl.out_w() +
                        (rest % tw) * 2) /
                       2);
    }
    if (lane < 8) {
      for (int word = 0; word < 4; ++word) reads.push_back(int64_t(lane) * w.u_ld() / 2 + word);
    }
  }
  set_access_features(f, in_loads, w_loads, stores, reads);
  return f;
}

std::string Conv2dWinogradTc::source_fingerprint() const {
  const std::string knobs = knob_text(tc_knob_defs());
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          splitk_reduce_source() + epilogue_source() + mma_source())
      .substr(0, 16);
}

} // namespace chameleon::codegen
