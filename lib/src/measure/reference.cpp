#include "chameleon/measure/reference.hpp"

namespace chameleon::measure {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
} // namespace

float input_value(uint64_t seed, Tensor which, int64_t index) {
  uint64_t h = splitmix64(splitmix64(seed * 2 + uint64_t(which)) ^ uint64_t(index));
  // 24 random bits -> [0, 1) exactly representable, then [-1, 1).
  return float(h >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

std::vector<float> make_tensor(uint64_t seed, Tensor which, int64_t count) {
  std::vector<float> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[size_t(i)] = input_value(seed, which, i);
  return out;
}

std::vector<float> conv2d_cpu(const task::Conv2dWorkload& wl, const std::vector<float>& data,
                              const std::vector<float>& weight) {
  const int oh = wl.out_h(), ow = wl.out_w();
  const int cg = wl.c / wl.groups, kg = wl.k / wl.groups;
  std::vector<float> out(size_t(wl.output_elems()));
  for (int n = 0; n < wl.n; ++n) {
    for (int k = 0; k < wl.k; ++k) {
      const int g = k / kg;
      for (int y = 0; y < oh; ++y) {
        for (int x = 0; x < ow; ++x) {
          double acc = 0;
          for (int c = 0; c < cg; ++c) {
            for (int r = 0; r < wl.r; ++r) {
              const int iy = y * wl.stride_h - wl.pad_top + r * wl.dilation_h;
              if (iy < 0 || iy >= wl.h) continue;
              for (int s = 0; s < wl.s; ++s) {
                const int ix = x * wl.stride_w - wl.pad_left + s * wl.dilation_w;
                if (ix < 0 || ix >= wl.w) continue;
                acc += double(data[((size_t(n) * wl.c + g * cg + c) * wl.h + iy) * wl.w + ix]) *
                       double(weight[((size_t(k) * cg + c) * wl.r + r) * wl.s + s]);
              }
            }
          }
          out[((size_t(n) * wl.k + k) * oh + y) * ow + x] = float(acc);
        }
      }
    }
  }
  return out;
}

} // namespace chameleon::measure
