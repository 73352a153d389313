#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::task {

// The element type of a task's tensors (data, weights, output, residual). Accumulation is float32
// for all of them; TF32 is not a type but a way to compute float32 tasks (--allow-tf32).
enum class DataType { f32, f16, bf16 };
// "float32", "float16", "bfloat16": AutoTVM's dtype names, used in logs and records.
const char* dtype_name(DataType t);
// "fp32", "fp16", "bf16": the short names of --precision and of tables.
const char* dtype_short(DataType t);
// Either spelling; throws chameleon::Error naming the known ones.
DataType dtype_from_text(const std::string& text);
inline int dtype_bytes(DataType t) {
  return t == DataType::f32 ? 4 : 2;
}

// The order of a task's tensors in memory. nchw: data [N][C][H][W], weight [K][C/G][R][S], out
// and residual [N][K][OH][OW]; nhwc (channels last): data [N][H][W][C], weight [K][R][S][C/G],
// out and residual [N][OH][OW][K]. Bias is [K] in both.
enum class Layout { nchw, nhwc };
const char* layout_name(Layout l); // "nchw", "nhwc"
// Either name (any case); throws chameleon::Error naming the known ones.
Layout layout_from_text(const std::string& text);

// The activation a fused epilogue ends with.
enum class Activation { none, relu, relu6, silu, hardswish };
const char* activation_name(Activation a); // "relu", ... ("none")
// The activation named (network ops "relu", "relu6", "silu", "hardswish"); false when `op` is none
// of these.
bool activation_from_name(const std::string& op, Activation* out);

// What a kernel does to each output before it stores it, in this order:
//   out = act(conv + bias[k] + residual[n][k][oh][ow])
// bias is float32 (a batch norm folds into the weights and this bias), residual has the task's
// data type and the output's shape.
struct Epilogue {
  bool bias = false;
  bool residual = false;
  Activation act = Activation::none;

  bool empty() const { return !bias && !residual && act == Activation::none; }
  // "bias+add+relu" ("" when empty).
  std::string str() const;
  bool operator==(const Epilogue& o) const {
    return bias == o.bias && residual == o.residual && act == o.act;
  }
};
// The reference epilogue, as the kernels apply it (float32 arithmetic).
float apply_activation(Activation a, float v);

// One conv2d problem, NCHW input and KCRS weights unless `layout` says NHWC, of `dtype` (float32
// unless said), with the fused epilogue `epilogue` (none unless said). Two layers with equal
// workloads share a tuning task.
struct Conv2dWorkload {
  int n = 1, c = 1, h = 1, w = 1; // input
  int k = 1, r = 1, s = 1;        // output channels, kernel height and width
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  DataType dtype = DataType::f32;
  Epilogue epilogue;
  Layout layout = Layout::nchw;

  int out_h() const;
  int out_w() const;
  int64_t input_elems() const { return int64_t(n) * c * h * w; }
  int64_t weight_elems() const { return int64_t(k) * (c / groups) * r * s; }
  int64_t output_elems() const { return int64_t(n) * k * out_h() * out_w(); }
  // Multiply-adds count twice, as AutoTVM's cfg.add_flop does.
  int64_t flops() const;

  // "N1 C64 H56 W56 K128 R3 S3 s2 p1 d1" (stride, padding, dilation folded when symmetric), then
  // " fp16", " nhwc" and " +bias+add+relu" for a type other than float32, the NHWC layout and a
  // fused epilogue.
  std::string str() const;
  // The shape alone, without type and epilogue.
  std::string shape_str() const;
  // A stable identifier for caches and logs (a float32 task without epilogue keeps the key it
  // had before types and epilogues were part of a task).
  std::string key() const;

  bool operator==(const Conv2dWorkload& o) const;
  bool operator!=(const Conv2dWorkload& o) const { return !(*this == o); }
  bool operator<(const Conv2dWorkload& o) const;
};

// The fields "dtype", "layout" and "epilogue" are written only when not float32 / not NCHW / not
// empty, so that a float32 NCHW task without epilogue reads as before.
nlohmann::json to_json(const Conv2dWorkload& wl);
// Throws chameleon::Error on a missing or inconsistent field.
Conv2dWorkload workload_from_json(const nlohmann::json& j);
// Throws chameleon::Error when the shape is impossible (no output, groups not dividing, ...).
void validate(const Conv2dWorkload& wl);

} // namespace chameleon::task
