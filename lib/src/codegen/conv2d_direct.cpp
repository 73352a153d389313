#include "conv2d_direct.hpp"

#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace chameleon::codegen {

namespace {

constexpr const char* kSourcePath = "templates/conv2d_direct.cu";
const std::vector<int> kMaxUnrollChoices = {0, 512, 1500};
const std::vector<int> kUnrollExplicitChoices = {0, 1};

// The knob values of one config, by part.
struct Tiles {
  std::array<int, 4> f, y, x;
  std::array<int, 2> rc, ry, rx;
  int max_unroll = 0;
  int unroll_explicit = 0;
  int split_k = 1;            // blocks sharing the input channels (conv2d_direct_splitk)
  int reduce = kReduceAtomic; // how the splits' partial sums meet (conv2d_direct_splitk)

  int fb() const { return f[1] * f[2] * f[3]; }
  int yb() const { return y[1] * y[2] * y[3]; }
  int xb() const { return x[1] * x[2] * x[3]; }
  int64_t accumulators() const { return int64_t(f[1]) * f[3] * y[1] * y[3] * x[1] * x[3]; }
};

Tiles decode(const space::ConfigSpace& sp, const space::Config& cfg) {
  Tiles t{};
  auto part4 = [&](size_t k, std::array<int, 4>& out) {
    const auto& v = sp.value(cfg, k);
    std::copy(v.begin(), v.end(), out.begin());
  };
  auto part2 = [&](size_t k, std::array<int, 2>& out) {
    const auto& v = sp.value(cfg, k);
    std::copy(v.begin(), v.end(), out.begin());
  };
  part4(0, t.f);
  part4(1, t.y);
  part4(2, t.x);
  if (const auto& rc = sp.value(cfg, 3); rc.size() == 3) {
    // conv2d_direct_splitk: tile_rc = [RC0, SPLIT_K, RC1]
    t.rc = {rc[0], rc[2]};
    t.split_k = rc[1];
    t.reduce = sp.value(cfg, 8)[0];
  } else {
    part2(3, t.rc);
  }
  part2(4, t.ry);
  part2(5, t.rx);
  t.max_unroll = sp.value(cfg, 6)[0];
  t.unroll_explicit = sp.value(cfg, 7)[0];
  return t;
}

int input_tile_h(const task::Conv2dWorkload& wl, const Tiles& t) {
  return (t.yb() - 1) * wl.stride_h + (t.ry[1] - 1) * wl.dilation_h + 1;
}
int input_tile_w(const task::Conv2dWorkload& wl, const Tiles& t) {
  return (t.xb() - 1) * wl.stride_w + (t.rx[1] - 1) * wl.dilation_w + 1;
}

} // namespace

std::string Conv2dDirect::shape_decline_reason(const task::Conv2dWorkload& wl) const {
  if (wl.groups != 1) {
    return "grouped/depthwise convolution (groups=" + std::to_string(wl.groups) +
           "): AutoTVM's direct schedule has no groups (conv2d_implicit_gemm has)";
  }
  return "";
}

space::ConfigSpace Conv2dDirect::make_space(const task::Conv2dWorkload& wl) const {
  std::vector<space::Knob> knobs = {
      space::split_knob("tile_f", wl.k, 4),
      space::split_knob("tile_y", wl.out_h(), 4),
      space::split_knob("tile_x", wl.out_w(), 4),
      space::split_knob("tile_rc", wl.c, split_k_ ? 3 : 2),
      space::split_knob("tile_ry", wl.r, 2),
      space::split_knob("tile_rx", wl.s, 2),
      space::other_knob("auto_unroll_max_step", kMaxUnrollChoices),
      space::other_knob("unroll_explicit", kUnrollExplicitChoices),
  };
  if (split_k_) knobs.push_back(splitk_reduce_knob());
  return space::ConfigSpace(std::move(knobs));
}

KernelSource Conv2dDirect::render(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                  const space::Config& cfg) const {
  Tiles t = decode(sp, cfg);
  std::ostringstream src;
  render_prelude(src, name(), wl, sp, cfg);
  auto def = [&](const char* key, int64_t value) { define_constant(src, key, value); };
  const char* fnames[] = {"F0", "F1", "F2", "F3"};
  const char* ynames[] = {"Y0", "Y1", "Y2", "Y3"};
  const char* xnames[] = {"X0", "X1", "X2", "X3"};
  for (int i = 0; i < 4; ++i) {
    def(fnames[i], t.f[size_t(i)]);
    def(ynames[i], t.y[size_t(i)]);
    def(xnames[i], t.x[size_t(i)]);
  }
  def("RC0", t.rc[0]);
  def("RC1", t.rc[1]);
  def("RY0", t.ry[0]);
  def("RY1", t.ry[1]);
  def("RX0", t.rx[0]);
  def("RX1", t.rx[1]);
  def("MAX_UNROLL", t.max_unroll);
  def("UNROLL_EXPLICIT", t.unroll_explicit);
  render_body(src, kSourcePath, wl, t.split_k, t.reduce);
  // One entry name for both variants: the header launches either.
  return {"conv2d_direct", src.str(), features(wl, sp, cfg).geometry};
}

KernelFeatures Conv2dDirect::features(const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                                      const space::Config& cfg) const {
  Tiles t = decode(sp, cfg);
  KernelFeatures f;
  f.geometry.grid = {uint32_t(t.x[0]), uint32_t(t.y[0]),
                     uint32_t(int64_t(wl.n) * t.f[0] * t.split_k)};
  set_split_k(f.geometry, wl, t.split_k, t.reduce);
  f.invalid = atomic_split_conflict(wl, t.split_k, t.reduce);
  f.split_k = t.split_k;
  f.duplicate = duplicate_reduce(t.split_k, t.reduce);
  f.geometry.block = {uint32_t(t.x[2]), uint32_t(t.y[2]), uint32_t(t.f[2])};
  const int ah = input_tile_h(wl, t), aw = input_tile_w(wl, t);
  const int64_t a_size = int64_t(t.rc[1]) * ah * aw;
  const int64_t w_size = int64_t(t.fb()) * t.rc[1] * t.ry[1] * t.rx[1];
  f.static_smem = 4 * (a_size + w_size);
  f.accumulators = t.accumulators();
  // Calibrated against ptxas (sm_90, 100 random ResNet-18 configs): the tile, about one operand
  // register per output-channel row and per input column, and addressing.
  f.predicted_registers = int(std::min<int64_t>(
      f.accumulators + int64_t(t.f[1]) * t.f[3] + int64_t(t.x[1]) * t.x[3] + 32, 1 << 20));
  f.fma_per_thread = f.accumulators * (wl.c / t.split_k) * wl.r * wl.s;
  f.reduction_steps = int64_t(t.rc[0]) * t.ry[0] * t.rx[0];
  f.global_loads_per_block = f.reduction_steps * (a_size + w_size);
  const double operands = double(t.f[1] * t.f[3]) + double(t.y[1] * t.y[3]) * (t.x[1] * t.x[3]);
  f.smem_reads_per_fma = operands / double(f.accumulators);
  f.vthreads = t.f[1] * t.y[1] * t.x[1];
  const int64_t tile = f.accumulators;
  const bool rx = t.rx[1] * tile <= t.max_unroll;
  const bool ry = rx && int64_t(t.ry[1]) * t.rx[1] * tile <= t.max_unroll;
  const bool rc = ry && int64_t(t.rc[1]) * t.ry[1] * t.rx[1] * tile <= t.max_unroll;
  f.unrolled_loops = int(rx) + int(ry) + int(rc);
  f.unroll_explicit = t.unroll_explicit != 0;
  // unroll_explicit only says how the unrolled loops are written: with none unrolled, 1 is 0's
  // kernel.
  if (f.duplicate.empty() && !rx && t.unroll_explicit != 0) {
    f.duplicate = "unroll_explicit 1 with no reduction loop unrolled (auto_unroll_max_step " +
                  std::to_string(t.max_unroll) + "): the kernel of unroll_explicit 0";
  }

  // The first warp of each access pattern, lane by lane (threads are numbered x fastest).
  const int64_t threads = f.geometry.threads();
  const int lanes = int(std::min<int64_t>(32, threads));
  std::vector<int64_t> a_loads, w_loads, stores, a_reads;
  for (int lane = 0; lane < lanes; ++lane) {
    const int tx = lane % t.x[2], ty = (lane / t.x[2]) % t.y[2], tz = lane / (t.x[2] * t.y[2]);
    if (lane < a_size) {
      const int c = int(lane / (int64_t(ah) * aw)), h = (lane / aw) % ah, w = lane % aw;
      a_loads.push_back((int64_t(c) * wl.h + h) * wl.w + w);
    }
    if (lane < w_size) {
      const int per_f = t.rc[1] * t.ry[1] * t.rx[1];
      const int fo = lane / per_f, rest = lane % per_f;
      const int c = rest / (t.ry[1] * t.rx[1]), ry_i = (rest / t.rx[1]) % t.ry[1],
                rx_i = rest % t.rx[1];
      w_loads.push_back(((int64_t(fo) * wl.c + c) * wl.r + ry_i) * wl.s + rx_i);
    }
    const int fl = tz * t.f[3], yl = ty * t.y[3], xl = tx * t.x[3];
    stores.push_back((int64_t(fl) * wl.out_h() + yl) * wl.out_w() + xl);
    a_reads.push_back(int64_t(yl) * wl.stride_h * aw + int64_t(xl) * wl.stride_w);
  }
  set_access_features(f, a_loads, w_loads, stores, a_reads);
  return f;
}

std::string Conv2dDirect::source_fingerprint() const {
  std::string knobs = std::string("tile_f:4 tile_y:4 tile_x:4 tile_rc:") + (split_k_ ? "3" : "2") +
                      " tile_ry:2 tile_rx:2 auto_unroll_max_step:0,512,1500 unroll_explicit:0,1" +
                      (split_k_ ? " splitk_reduce:0,1" : "");
  return util::sha256_hex(std::string(embedded_file(kSourcePath)) + "\n" + knobs +
                          (split_k_ ? splitk_reduce_source() : std::string()) + epilogue_source())
      .substr(0, 16);
}

} // namespace chameleon::codegen
