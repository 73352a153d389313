#include "chameleon/measure/cudnn_baseline.hpp"

#include "chameleon/measure/stats.hpp"
#include "chameleon/util/strings.hpp"

namespace chameleon::measure {

namespace {

// Strides of an N x C x H x W tensor stored in `layout`: NCHW, or NHWC (channels fastest).
std::array<int64_t, 4> strides(const std::array<int64_t, 4>& d, task::Layout layout) {
  if (layout == task::Layout::nhwc) return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
  return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
}

} // namespace

int cudnn_data_type(task::DataType t) {
  return t == task::DataType::f16    ? cuda::Cudnn::kHalf
         : t == task::DataType::bf16 ? cuda::Cudnn::kBfloat16
                                     : cuda::Cudnn::kFloat;
}

std::optional<cuda::ConvGraphSpec> cudnn_graph_spec(const task::Conv2dWorkload& wl,
                                                    bool with_epilogue, std::string* why) {
  using Act = cuda::ConvGraphSpec::Activation;
  cuda::ConvGraphSpec g;
  g.dtype = cudnn_data_type(wl.dtype);
  g.x_dims = {wl.n, wl.c, wl.h, wl.w};
  g.w_dims = {wl.k, wl.c / wl.groups, wl.r, wl.s};
  g.y_dims = {wl.n, wl.k, wl.out_h(), wl.out_w()};
  g.x_strides = strides(g.x_dims, wl.layout);
  g.w_strides = strides(g.w_dims, wl.layout);
  g.y_strides = strides(g.y_dims, wl.layout);
  g.pre_padding = {wl.pad_top, wl.pad_left};
  g.post_padding = {wl.pad_bottom, wl.pad_right};
  g.stride = {wl.stride_h, wl.stride_w};
  g.dilation = {wl.dilation_h, wl.dilation_w};
  if (!with_epilogue) return g;
  const task::Epilogue& ep = wl.epilogue;
  g.bias = ep.bias;
  g.residual = ep.residual;
  switch (ep.act) {
  case task::Activation::none:
    break;
  case task::Activation::relu:
    g.activation = Act::relu;
    break;
  case task::Activation::relu6:
    g.activation = Act::relu6;
    break;
  case task::Activation::silu:
    g.activation = Act::silu;
    break;
  case task::Activation::hardswish:
    if (why) *why = "cuDNN's pointwise operations have no hardswish";
    return std::nullopt;
  }
  return g;
}

nlohmann::json fastest_cudnn(nlohmann::json legacy, nlohmann::json graph, bool fused_task) {
  using nlohmann::json;
  auto ok = [](const json& r) { return r.value("error_no", -1) == 0; };
  auto whole = [&](const json& r) {
    const std::string how = r.value("epilogue", std::string());
    return !fused_task || how == "fused" || how == "separate";
  };
  auto median = [](const json& r) {
    return summarize(r.value("costs", std::vector<double>{})).median;
  };
  auto describe = [&](const char* api, const json& r) {
    if (!ok(r)) return std::string(api) + ": " + r.value("message", std::string());
    std::string text = std::string(api) + ": " + r.value("algorithm", std::string()) + " " +
                       util::fixed(median(r) * 1e6, 2) + " us";
    if (fused_task) text += ", epilogue " + r.value("epilogue", std::string());
    return text;
  };
  if (!ok(legacy) && !ok(graph)) {
    legacy["message"] =
        legacy.value("message", std::string()) + "; " + describe("graph API", graph);
    return legacy;
  }
  bool take_graph = !ok(legacy);
  if (ok(legacy) && ok(graph))
    take_graph = whole(graph) != whole(legacy) ? whole(graph) : median(graph) < median(legacy);
  json& kept = take_graph ? graph : legacy;
  kept["cudnn_api"] = take_graph ? "graph" : "legacy";
  kept["cudnn_other"] = take_graph ? describe("legacy API", legacy) : describe("graph API", graph);
  return std::move(kept);
}

} // namespace chameleon::measure
