#include "chameleon/measure/reference.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/float16.hpp"

#include <cstring>

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

TaskInputs make_inputs(const task::Conv2dWorkload& wl, uint64_t seed) {
  TaskInputs in;
  in.data = make_tensor(seed, Tensor::Data, wl.input_elems());
  in.weight = make_tensor(seed, Tensor::Weight, wl.weight_elems());
  if (wl.epilogue.bias) in.bias = make_tensor(seed, Tensor::Bias, wl.k);
  if (wl.epilogue.residual) in.residual = make_tensor(seed, Tensor::Residual, wl.output_elems());
  round_to(wl.dtype, in.data);
  round_to(wl.dtype, in.weight);
  round_to(wl.dtype, in.residual);
  return in;
}

void apply_epilogue(const task::Conv2dWorkload& wl, const TaskInputs& in, std::vector<float>& out) {
  if (wl.epilogue.empty()) return;
  const int64_t plane = int64_t(wl.out_h()) * wl.out_w();
  for (size_t i = 0; i < out.size(); ++i) {
    float v = out[i];
    if (wl.epilogue.bias) v += in.bias[size_t((int64_t(i) / plane) % wl.k)];
    if (wl.epilogue.residual) v += in.residual[i];
    out[i] = task::apply_activation(wl.epilogue.act, v);
  }
}

std::vector<float> to_task_layout(const task::Conv2dWorkload& wl, Tensor which,
                                  const std::vector<float>& v) {
  if (wl.layout == task::Layout::nchw || which == Tensor::Bias || v.empty()) return v;
  // [A][B][P] -> [A][P][B]: the second dimension innermost (channels; a weight's input channels).
  int64_t a = 0, b = 0, plane = 0;
  switch (which) {
  case Tensor::Data:
    a = wl.n, b = wl.c, plane = int64_t(wl.h) * wl.w;
    break;
  case Tensor::Weight:
    a = wl.k, b = wl.c / wl.groups, plane = int64_t(wl.r) * wl.s;
    break;
  default: // the output's shape
    a = wl.n, b = wl.k, plane = int64_t(wl.out_h()) * wl.out_w();
    break;
  }
  if (int64_t(v.size()) != a * b * plane)
    throw Error("to_task_layout: " + std::to_string(v.size()) + " values for a tensor of " +
                std::to_string(a * b * plane));
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t q = 0; q < plane; ++q)
        out[size_t((i * plane + q) * b + j)] = v[size_t((i * b + j) * plane + q)];
  return out;
}

void round_to(task::DataType t, std::vector<float>& v) {
  if (t == task::DataType::f32) return;
  for (float& x : v) {
    x = t == task::DataType::bf16 ? util::bf16_to_float(util::float_to_bf16(x))
                                  : util::half_to_float(util::float_to_half(x));
  }
}

std::vector<uint8_t> to_bytes(task::DataType t, const std::vector<float>& v) {
  const size_t size = size_t(task::dtype_bytes(t));
  std::vector<uint8_t> out(v.size() * size);
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == task::DataType::f32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else {
      const uint16_t h =
          t == task::DataType::bf16 ? util::float_to_bf16(v[i]) : util::float_to_half(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}

float from_bytes(task::DataType t, const void* p) {
  if (t == task::DataType::f32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return t == task::DataType::bf16 ? util::bf16_to_float(h) : util::half_to_float(h);
}

} // namespace chameleon::measure
