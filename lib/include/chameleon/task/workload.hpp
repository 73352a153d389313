#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::task {

// One conv2d problem, NCHW input, KCRS weights, float32. Two layers with equal workloads share a
// tuning task.
struct Conv2dWorkload {
  int n = 1, c = 1, h = 1, w = 1; // input
  int k = 1, r = 1, s = 1;        // output channels, kernel height and width
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;

  int out_h() const;
  int out_w() const;
  int64_t input_elems() const { return int64_t(n) * c * h * w; }
  int64_t weight_elems() const { return int64_t(k) * (c / groups) * r * s; }
  int64_t output_elems() const { return int64_t(n) * k * out_h() * out_w(); }
  // Multiply-adds count twice, as AutoTVM's cfg.add_flop does.
  int64_t flops() const;

  // "N1 C64 H56 W56 K128 R3 S3 s2 p1 d1" (stride, padding, dilation folded when symmetric).
  std::string str() const;
  // A stable identifier for caches and logs.
  std::string key() const;

  bool operator==(const Conv2dWorkload& o) const;
  bool operator!=(const Conv2dWorkload& o) const { return !(*this == o); }
  bool operator<(const Conv2dWorkload& o) const;
};

nlohmann::json to_json(const Conv2dWorkload& wl);
// Throws chameleon::Error on a missing or inconsistent field.
Conv2dWorkload workload_from_json(const nlohmann::json& j);
// Throws chameleon::Error when the shape is impossible (no output, groups not dividing, ...).
void validate(const Conv2dWorkload& wl);

} // namespace chameleon::task
