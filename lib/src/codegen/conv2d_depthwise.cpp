#include "conv2d_depthwise.hpp"

#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace chameleon::codegen {

namespace {

constexpr const char* kSourcePath = "templates/conv2d_depthwise.cu";
constexpr int64_t kMaxGridYZ = 65535;

// The knobs, in space order.
const std::vector<KnobDef>& knob_defs() {
  static const std::vector<KnobDef> defs = {
      {"tile_h", {1, 2, 4, 8, 16, 32}}, {"tile_w", {4, 8, 16, 32, 64}}, {"thread_h", {1, 2, 4}},
      {"thread_w", {1, 2, 4}},          {"channels", {1, 2, 4, 8, 16}}, {"interleave", {0, 1}},
  };
  return defs;
}

// One config, decoded, with the sizes the kernel derives from it (templates/conv2d_depthwise.cu).
struct Tiles {
  int tile_h = 1, tile_w = 4, thread_h = 1, thread_w = 1, channels = 1, interleave = 0;
  int64_t in_h = 0, in_w = 0, seg = 0;

  int lanes_h() const { return tile_h / thread_h; }
  int lanes_w() const { return tile_w / thread_w; }
  int64_t threads() const { return int64_t(channels) * lanes_h() * lanes_w(); }
  int64_t accumulators() const { return int64_t(thread_h) * thread_w; }
  // Local column of a thread's output j.
  int64_t col(int tx, int j) const {
    return interleave ? tx + int64_t(j) * lanes_w() : int64_t(tx) * thread_w + j;
  }
};

Tiles decode(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
             const space::Config& cfg) {
  Tiles t;
  auto v = [&](size_t k) { return sp.value(cfg, k)[0]; };
  t.tile_h = v(0);
  t.tile_w = v(1);
  t.thread_h = v(2);
  t.thread_w = v(3);
  t.channels = v(4);
  t.interleave = v(5);
  t.in_h = int64_t(t.tile_h - 1) * wl.stride_h + int64_t(wl.r - 1) * wl.dilation_h + 1;
  t.in_w = int64_t(t.tile_w - 1) * wl.stride_w + int64_t(wl.s - 1) * wl.dilation_w + 1;
  t.seg = int64_t(t.thread_w - 1) * wl.stride_w + int64_t(wl.s - 1) * wl.dilation_w + 1;
  return t;
}

} // namespace

std::string Conv2dDepthwise::shape_decline_reason(const task::Conv2dWorkload& wl) const {
  if (wl.c / wl.groups != 1) {
    return "not a depthwise convolution (" + std::to_string(wl.c / wl.groups) +
           " input channels per group)";
  }
  if (int64_t(wl.n) * wl.c * wl.h * wl.w > (int64_t(1) << 31) ||
      wl.output_elems() > (int64_t(1) << 31)) {
    return "tensors beyond 32-bit indexing";
  }
  return "";
}

space::ConfigSpace Conv2dDepthwise::make_space(const task::Conv2dWorkload&) const {
  return space_of(knob_defs());
}

KernelSource Conv2dDepthwise::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                     const space::Config& cfg) const {
  const Tiles t = decode(wl, sp, cfg);
  std::ostringstream src;
  render_prelude(src, name(), wl, sp, cfg);
  define_constant(src, "TILE_H", t.tile_h);
  define_constant(src, "TILE_W", t.tile_w);
  define_constant(src, "THREAD_H", t.thread_h);
  define_constant(src, "THREAD_W", t.thread_w);
  define_constant(src, "CB", t.channels);
  define_constant(src, "INTERLEAVE", t.interleave);
  render_body(src, kSourcePath, wl, 1, kReduceAtomic);
  return {"conv2d_depthwise", src.str(), features(wl, sp, cfg).geometry};
}

KernelFeatures Conv2dDepthwise::features(const task::Conv2dWorkload& wl,
                                         const space::ConfigSpace& sp,
                                         const space::Config& cfg) const {
  const Tiles t = decode(wl, sp, cfg);
  const int oh = wl.out_h(), ow = wl.out_w();
  const int64_t tiles = int64_t((oh + t.tile_h - 1) / t.tile_h) * ((ow + t.tile_w - 1) / t.tile_w);
  const int64_t channel_blocks = (wl.k + t.channels - 1) / t.channels;
  const int64_t rs = int64_t(wl.r) * wl.s;
  const int64_t in_size = t.in_h * t.in_w;
  KernelFeatures f;
  f.dtype = wl.dtype;
  f.geometry.grid = {uint32_t(std::min<int64_t>(tiles, UINT32_MAX)),
                     uint32_t(std::min<int64_t>(channel_blocks, UINT32_MAX)), uint32_t(wl.n)};
  f.geometry.block = {uint32_t(std::max<int64_t>(1, std::min<int64_t>(t.threads(), UINT32_MAX))), 1,
                      1};
  f.static_smem = 4 * int64_t(t.channels) * (in_size + rs);
  f.accumulators = t.accumulators();
  f.predicted_registers = int(f.accumulators + (t.interleave ? 0 : t.seg) + 24);
  f.fma_per_thread = f.accumulators * rs;
  f.reduction_steps = 1;
  f.global_loads_per_block = int64_t(t.channels) * (in_size + rs);
  const double smem_reads =
      t.interleave ? double(f.accumulators * rs) : double(t.thread_h * wl.r * t.seg);
  f.smem_reads_per_fma = (smem_reads + double(rs)) / double(f.fma_per_thread);
  f.vthreads = 1;
  f.unrolled_loops = 3;
  f.unroll_explicit = false;

  // The template's own limits: thread tiles within the block tile, tiles not far beyond the plane
  // or the channels, a warp at least, the grid's y and z limits, and no duplicate configs.
  const int64_t h_cap = pow2_at_least(oh), w_cap = std::max<int64_t>(4, pow2_at_least(ow));
  if (t.thread_h > t.tile_h || t.thread_w > t.tile_w) {
    f.invalid = "a thread tile of " + std::to_string(t.thread_h) + "x" +
                std::to_string(t.thread_w) + " outputs exceeds the block tile of " +
                std::to_string(t.tile_h) + "x" + std::to_string(t.tile_w);
  } else if (t.tile_h > h_cap || t.tile_w > w_cap) {
    f.invalid = "a block tile of " + std::to_string(t.tile_h) + "x" + std::to_string(t.tile_w) +
                " outputs for a " + std::to_string(oh) + "x" + std::to_string(ow) + " plane";
  } else if (t.channels > pow2_at_least(wl.k)) {
    f.invalid = std::to_string(t.channels) + " channels per block for " + std::to_string(wl.k) +
                " channels";
  } else if (t.threads() < 32) {
    f.invalid = std::to_string(t.threads()) + " threads per block, fewer than a warp";
  } else if (t.interleave && t.thread_w == 1) {
    f.invalid = "interleave with one output per row is the same kernel as without";
  } else if (channel_blocks > kMaxGridYZ || wl.n > kMaxGridYZ) {
    f.invalid = "a grid of " + std::to_string(channel_blocks) + " channel blocks x " +
                std::to_string(wl.n) + " images exceeds 65535 in y or z";
  }

  // The first warp of each access: input patch and weight loads, output stores, patch reads.
  // NHWC: consecutive lanes take consecutive channels, in the loads and in the stores.
  const int m = wl.k / wl.c; // output channels per input channel
  const bool nhwc = wl.layout == task::Layout::nhwc;
  std::vector<int64_t> in_loads, w_loads, stores, reads;
  for (int lane = 0; lane < 32 && lane < t.threads(); ++lane) {
    {
      const int64_t cl = nhwc ? lane % t.channels : lane / in_size;
      const int64_t rest = nhwc ? lane / t.channels : lane % in_size;
      const int64_t ih = rest / t.in_w - wl.pad_top, iw = rest % t.in_w - wl.pad_left;
      if (cl < t.channels && cl < wl.k && ih >= 0 && ih < wl.h && iw >= 0 && iw < wl.w) {
        in_loads.push_back(nhwc ? (ih * wl.w + iw) * wl.c + cl / m
                                : ((cl / m) * wl.h + ih) * wl.w + iw);
      }
    }
    if (lane < t.channels * rs && lane / rs < wl.k) w_loads.push_back(lane);
    const int plane = t.lanes_h() * t.lanes_w();
    const int cl = nhwc ? lane % t.channels : lane / plane;
    const int pt = nhwc ? lane / t.channels : lane % plane;
    const int ty = pt / t.lanes_w(), tx = pt % t.lanes_w();
    const int64_t row = int64_t(ty) * t.thread_h, col = t.col(tx, 0);
    if (cl < wl.k && row < oh && col < ow) {
      stores.push_back(nhwc ? (row * ow + col) * wl.k + cl : (int64_t(cl) * oh + row) * ow + col);
    }
    const int64_t x0 = t.interleave ? col * wl.stride_w : int64_t(tx) * t.thread_w * wl.stride_w;
    reads.push_back(cl * in_size + row * wl.stride_h * t.in_w + x0);
  }
  set_access_features(f, in_loads, w_loads, stores, reads);
  return f;
}

std::string Conv2dDepthwise::source_fingerprint() const {
  const std::string knobs = knob_text(knob_defs());
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + name() + knobs +
                          epilogue_source())
      .substr(0, 16);
}

} // namespace chameleon::codegen
