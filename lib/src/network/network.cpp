#include "chameleon/network/network.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace chameleon::network {

using nlohmann::json;

std::string shape_str(const Shape& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += "x";
    out += std::to_string(shape[i]);
  }
  return out;
}

namespace {
// Sizes the tasks and kernels index with int.
constexpr int64_t kMaxDim = std::numeric_limits<int>::max();

struct OpInfo {
  Op op;
  std::set<std::string> keys; // op-specific fields allowed besides name/op/inputs/comment
};

const std::map<std::string, OpInfo>& op_table() {
  static const std::set<std::string> kConvKeys = {
      "out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias", "input_shape"};
  static const std::set<std::string> kPoolKeys = {"kernel", "stride", "padding", "dilation",
                                                  "ceil_mode"};
  static const std::map<std::string, OpInfo> table = {
      {"conv2d", {Op::Conv2d, kConvKeys}},
      {"relu", {Op::Activation, {}}},
      {"relu6", {Op::Activation, {}}},
      {"sigmoid", {Op::Activation, {}}},
      {"tanh", {Op::Activation, {}}},
      {"silu", {Op::Activation, {}}},
      {"gelu", {Op::Activation, {}}},
      {"hardswish", {Op::Activation, {}}},
      {"hardsigmoid", {Op::Activation, {}}},
      {"dropout", {Op::Identity, {"rate"}}},
      {"identity", {Op::Identity, {"input_shape"}}},
      {"softmax", {Op::Identity, {"axis"}}},
      {"lrn", {Op::Identity, {"size", "alpha", "beta", "k"}}},
      {"batch_norm", {Op::BatchNorm, {"eps", "momentum"}}},
      {"max_pool", {Op::MaxPool, kPoolKeys}},
      {"avg_pool",
       {Op::AvgPool, {"kernel", "stride", "padding", "ceil_mode", "count_include_pad"}}},
      {"global_avg_pool", {Op::GlobalAvgPool, {}}},
      {"global_max_pool", {Op::GlobalMaxPool, {}}},
      {"adaptive_avg_pool", {Op::AdaptiveAvgPool, {"output_size"}}},
      {"add", {Op::Add, {}}},
      {"mul", {Op::Mul, {}}},
      {"concat", {Op::Concat, {"axis"}}},
      {"flatten", {Op::Flatten, {}}},
      {"dense", {Op::Dense, {"units", "bias"}}},
  };
  return table;
}

std::string known_ops() {
  std::string out;
  for (const auto& [name, info] : op_table()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Errors carry the file and, once known, the layer: "resnet18.json: layer 'conv1' (#1): ...".
class Context {
public:
  explicit Context(std::string source) : source_(std::move(source)) {}
  void at_layer(const std::string& name, size_t index) {
    where_ = "layer '" + name + "' (#" + std::to_string(index + 1) + ")";
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(source_ + ": " + (where_.empty() ? "" : where_ + ": ") + what);
  }

private:
  std::string source_;
  std::string where_;
};

int get_int(const Context& ctx, const json& value, const std::string& key) {
  if (!value.is_number_integer())
    ctx.fail("'" + key + "' must be a whole number, got " + value.dump());
  if (value.is_number_unsigned()
          ? value.get<uint64_t>() > uint64_t(kMaxDim)
          : value.get<int64_t>() < -kMaxDim || value.get<int64_t>() > kMaxDim) {
    ctx.fail("'" + key + "' is out of range, got " + value.dump());
  }
  return value.get<int>();
}

// An optional string field: `fallback` when absent, an error when not a string.
std::string get_string(const Context& ctx, const json& obj, const std::string& key,
                       const std::string& fallback, const std::string& owner = "") {
  if (!obj.contains(key)) return fallback;
  if (!obj.at(key).is_string())
    ctx.fail(owner + "'" + key + "' must be a string, got " + obj.at(key).dump());
  return obj.at(key).get<std::string>();
}

// "kernel": 3 or [3, 5] -> (h, w)
std::pair<int, int> get_pair(const Context& ctx, const json& layer, const std::string& key,
                             std::pair<int, int> fallback) {
  if (!layer.contains(key)) return fallback;
  const json& v = layer.at(key);
  if (v.is_number_integer()) {
    const int n = get_int(ctx, v, key);
    return {n, n};
  }
  if (v.is_array() && v.size() == 2) return {get_int(ctx, v[0], key), get_int(ctx, v[1], key)};
  ctx.fail("'" + key + "' must be a number or [h, w], got " + v.dump());
}

// "padding": p, [ph, pw] or [top, left, bottom, right]
void get_padding(const Context& ctx, const json& layer, Window& w) {
  if (!layer.contains("padding")) return;
  const json& v = layer.at("padding");
  if (v.is_array() && v.size() == 4) {
    w.pad_top = get_int(ctx, v[0], "padding");
    w.pad_left = get_int(ctx, v[1], "padding");
    w.pad_bottom = get_int(ctx, v[2], "padding");
    w.pad_right = get_int(ctx, v[3], "padding");
  } else {
    auto [ph, pw] = get_pair(ctx, layer, "padding", {0, 0});
    w.pad_top = w.pad_bottom = ph;
    w.pad_left = w.pad_right = pw;
  }
  if (std::min({w.pad_top, w.pad_left, w.pad_bottom, w.pad_right}) < 0) {
    ctx.fail("padding must not be negative");
  }
}

Window get_window(const Context& ctx, const json& layer, bool stride_defaults_to_kernel) {
  Window w;
  if (!layer.contains("kernel")) ctx.fail("missing 'kernel'");
  std::tie(w.kernel_h, w.kernel_w) = get_pair(ctx, layer, "kernel", {1, 1});
  auto stride_default =
      stride_defaults_to_kernel ? std::pair{w.kernel_h, w.kernel_w} : std::pair{1, 1};
  std::tie(w.stride_h, w.stride_w) = get_pair(ctx, layer, "stride", stride_default);
  std::tie(w.dilation_h, w.dilation_w) = get_pair(ctx, layer, "dilation", {1, 1});
  get_padding(ctx, layer, w);
  if (w.kernel_h < 1 || w.kernel_w < 1) ctx.fail("kernel must be at least 1x1");
  if (w.stride_h < 1 || w.stride_w < 1) ctx.fail("stride must be at least 1");
  if (w.dilation_h < 1 || w.dilation_w < 1) ctx.fail("dilation must be at least 1");
  return w;
}

// [N, C, H, W]: four positive whole numbers.
Shape get_shape(const Context& ctx, const json& value, const std::string& key) {
  Shape shape;
  if (value.is_array()) {
    for (const json& d : value) {
      if (!d.is_number_integer() || d.get<int64_t>() < 1) break;
      shape.push_back(d.get<int64_t>());
    }
  }
  if (shape.size() != 4 || shape.size() != value.size()) {
    ctx.fail(key + " must be [N, C, H, W], four positive whole numbers, got " + value.dump());
  }
  return shape;
}

Layer parse_layer(const Context& ctx, const json& j) {
  Layer layer;
  layer.name = j.at("name").get<std::string>();
  if (!j.contains("op")) ctx.fail("missing 'op'");
  layer.op_name = get_string(ctx, j, "op", "");
  auto it = op_table().find(layer.op_name);
  if (it == op_table().end()) {
    ctx.fail("unknown op '" + layer.op_name + "' (known: " + known_ops() + ")");
  }
  layer.op = it->second.op;
  for (const auto& [key, value] : j.items()) {
    if (key == "name" || key == "op" || key == "inputs" || key == "comment") continue;
    if (!it->second.keys.count(key)) {
      ctx.fail("unknown field '" + key + "' for op '" + layer.op_name + "'");
    }
  }
  if (j.contains("inputs")) {
    const json& in = j.at("inputs");
    if (in.is_string()) {
      layer.inputs.push_back(in.get<std::string>());
    } else if (in.is_array()) {
      for (const json& name : in) {
        if (!name.is_string()) ctx.fail("'inputs' must list layer names, got " + name.dump());
        layer.inputs.push_back(name.get<std::string>());
      }
    } else {
      ctx.fail("'inputs' must be a name or a list of names");
    }
  }
  // A conv2d, or an identity standing for a tensor of an operator the file leaves out, may give
  // the shape it reads instead of reading a layer.
  if (j.contains("input_shape")) {
    if (j.contains("inputs")) ctx.fail("a layer takes 'inputs' or an 'input_shape', not both");
    layer.input_shape = get_shape(ctx, j.at("input_shape"), "input_shape");
  }
  switch (layer.op) {
  case Op::Conv2d:
    if (!j.contains("out_channels")) ctx.fail("missing 'out_channels'");
    layer.out_channels = get_int(ctx, j.at("out_channels"), "out_channels");
    if (layer.out_channels < 1) ctx.fail("out_channels must be at least 1");
    layer.groups = j.contains("groups") ? get_int(ctx, j.at("groups"), "groups") : 1;
    if (layer.groups < 1) ctx.fail("groups must be at least 1");
    layer.window = get_window(ctx, j, false);
    if (j.contains("bias")) {
      if (!j.at("bias").is_boolean())
        ctx.fail("'bias' must be true or false, got " + j.at("bias").dump());
      layer.bias = j.at("bias").get<bool>();
    }
    break;
  case Op::MaxPool:
  case Op::AvgPool:
    layer.window = get_window(ctx, j, true);
    if (j.contains("ceil_mode") && !j.at("ceil_mode").is_boolean()) {
      ctx.fail("'ceil_mode' must be true or false, got " + j.at("ceil_mode").dump());
    }
    layer.ceil_mode = j.value("ceil_mode", false);
    if (2 * std::max(layer.window.pad_top, layer.window.pad_bottom) > layer.window.kernel_h ||
        2 * std::max(layer.window.pad_left, layer.window.pad_right) > layer.window.kernel_w) {
      ctx.fail("pool padding must be at most half the kernel size");
    }
    break;
  case Op::AdaptiveAvgPool:
    std::tie(layer.output_h, layer.output_w) = get_pair(ctx, j, "output_size", {1, 1});
    if (layer.output_h < 1 || layer.output_w < 1) ctx.fail("output_size must be at least 1x1");
    break;
  case Op::Dense:
    if (!j.contains("units")) ctx.fail("missing 'units'");
    layer.units = get_int(ctx, j.at("units"), "units");
    if (layer.units < 1) ctx.fail("units must be at least 1");
    break;
  case Op::Concat:
    layer.axis = j.contains("axis") ? get_int(ctx, j.at("axis"), "axis") : 1;
    break;
  default:
    break;
  }
  return layer;
}

// Output extent of a sliding window; ceil_mode follows PyTorch (a window must start inside the
// input or the left padding).
int64_t window_out(const Context& ctx, int64_t in, int k, int s, int pad_lo, int pad_hi, int d,
                   bool ceil_mode, const char* axis) {
  int64_t span = int64_t(d) * (k - 1) + 1;
  int64_t padded = in + pad_lo + pad_hi;
  if (span > padded) {
    std::ostringstream msg;
    msg << "kernel " << k << " (dilation " << d << ") spans " << span
        << " rows/cols but the padded " << axis << " extent is only " << padded;
    ctx.fail(msg.str());
  }
  int64_t out = (padded - span) / s + 1;
  if (ceil_mode) {
    out = (padded - span + s - 1) / s + 1;
    if ((out - 1) * s >= in + pad_lo) --out;
  }
  return out;
}

void expect_inputs(const Context& ctx, const Layer& layer, size_t min, size_t max) {
  const size_t n = layer.inputs.size() + (layer.input_shape.empty() ? 0 : 1);
  if (n < min || n > max) {
    std::string want = min == max ? std::to_string(min) : std::to_string(min) + " or more";
    ctx.fail("op '" + layer.op_name + "' takes " + want + " input(s), got " + std::to_string(n));
  }
}

void expect_rank(const Context& ctx, const Layer& layer, const Shape& in, size_t rank) {
  if (in.size() != rank) {
    ctx.fail("op '" + layer.op_name + "' needs a " + std::to_string(rank) + "-D input, got " +
             shape_str(in) + " from '" + layer.inputs[0] + "'");
  }
}

Shape infer_layer(const Context& ctx, const Layer& layer, const std::vector<Shape>& in) {
  switch (layer.op) {
  case Op::Conv2d: {
    expect_inputs(ctx, layer, 1, 1);
    expect_rank(ctx, layer, in[0], 4);
    const Window& w = layer.window;
    int64_t c = in[0][1];
    if (c % layer.groups != 0 || layer.out_channels % layer.groups != 0) {
      ctx.fail("groups=" + std::to_string(layer.groups) + " must divide both the input channels (" +
               std::to_string(c) + ") and out_channels (" + std::to_string(layer.out_channels) +
               ")");
    }
    int64_t oh = window_out(ctx, in[0][2], w.kernel_h, w.stride_h, w.pad_top, w.pad_bottom,
                            w.dilation_h, false, "height");
    int64_t ow = window_out(ctx, in[0][3], w.kernel_w, w.stride_w, w.pad_left, w.pad_right,
                            w.dilation_w, false, "width");
    return {in[0][0], layer.out_channels, oh, ow};
  }
  case Op::MaxPool:
  case Op::AvgPool: {
    expect_inputs(ctx, layer, 1, 1);
    expect_rank(ctx, layer, in[0], 4);
    const Window& w = layer.window;
    int64_t oh = window_out(ctx, in[0][2], w.kernel_h, w.stride_h, w.pad_top, w.pad_bottom,
                            w.dilation_h, layer.ceil_mode, "height");
    int64_t ow = window_out(ctx, in[0][3], w.kernel_w, w.stride_w, w.pad_left, w.pad_right,
                            w.dilation_w, layer.ceil_mode, "width");
    return {in[0][0], in[0][1], oh, ow};
  }
  case Op::GlobalAvgPool:
  case Op::GlobalMaxPool:
    expect_inputs(ctx, layer, 1, 1);
    expect_rank(ctx, layer, in[0], 4);
    return {in[0][0], in[0][1], 1, 1};
  case Op::AdaptiveAvgPool:
    expect_inputs(ctx, layer, 1, 1);
    expect_rank(ctx, layer, in[0], 4);
    return {in[0][0], in[0][1], layer.output_h, layer.output_w};
  case Op::Activation:
  case Op::Identity:
  case Op::BatchNorm:
    expect_inputs(ctx, layer, 1, 1);
    if (layer.op == Op::BatchNorm && in[0].size() < 2) ctx.fail("batch_norm needs a channel axis");
    return in[0];
  case Op::Add:
    expect_inputs(ctx, layer, 2, SIZE_MAX);
    for (size_t i = 1; i < in.size(); ++i) {
      if (in[i] != in[0]) {
        ctx.fail("shape mismatch: '" + layer.inputs[0] + "' is " + shape_str(in[0]) + " but '" +
                 layer.inputs[i] + "' is " + shape_str(in[i]));
      }
    }
    return in[0];
  case Op::Mul: {
    expect_inputs(ctx, layer, 2, 2);
    if (in[0].size() != in[1].size()) ctx.fail("mul needs inputs of the same rank");
    Shape out = in[0];
    for (size_t d = 0; d < out.size(); ++d) {
      if (in[0][d] != in[1][d] && in[0][d] != 1 && in[1][d] != 1) {
        ctx.fail("shape mismatch: " + shape_str(in[0]) + " and " + shape_str(in[1]) +
                 " do not broadcast");
      }
      out[d] = std::max(in[0][d], in[1][d]);
    }
    return out;
  }
  case Op::Concat: {
    expect_inputs(ctx, layer, 1, SIZE_MAX);
    int rank = int(in[0].size());
    int axis = layer.axis < 0 ? layer.axis + rank : layer.axis;
    if (axis < 0 || axis >= rank)
      ctx.fail("concat axis " + std::to_string(layer.axis) + " out of range");
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
      bool same = in[i].size() == in[0].size();
      for (int d = 0; same && d < rank; ++d) same = d == axis || in[i][d] == in[0][d];
      if (!same) {
        ctx.fail("shape mismatch: cannot concatenate '" + layer.inputs[0] + "' (" +
                 shape_str(in[0]) + ") and '" + layer.inputs[i] + "' (" + shape_str(in[i]) +
                 ") on axis " + std::to_string(axis));
      }
      out[axis] += in[i][axis];
    }
    return out;
  }
  case Op::Flatten: {
    expect_inputs(ctx, layer, 1, 1);
    int64_t features = 1;
    for (size_t d = 1; d < in[0].size(); ++d) features *= in[0][d];
    return {in[0][0], features};
  }
  case Op::Dense:
    expect_inputs(ctx, layer, 1, 1);
    if (in[0].size() != 2) {
      ctx.fail("dense needs a 2-D input (add a flatten layer), got " + shape_str(in[0]));
    }
    return {in[0][0], layer.units};
  }
  ctx.fail("internal error: op without shape rule");
}

} // namespace

void infer_shapes(Network& net) {
  Context ctx(net.source);
  std::map<std::string, Shape> shapes = {{net.input_name, net.input_shape}};
  for (size_t i = 0; i < net.layers.size(); ++i) {
    Layer& layer = net.layers[i];
    ctx.at_layer(layer.name, i);
    std::vector<Shape> in;
    if (!layer.input_shape.empty()) in.push_back(layer.input_shape);
    for (const auto& name : layer.inputs) {
      auto it = shapes.find(name);
      if (it == shapes.end()) {
        ctx.fail("input '" + name + "' is not the network input or an earlier layer");
      }
      in.push_back(it->second);
    }
    if (layer.op == Op::Conv2d && !in.empty()) {
      for (int64_t d : in[0]) {
        if (d > kMaxDim)
          ctx.fail("input dimension " + std::to_string(d) + " is beyond 32-bit indexing");
      }
    }
    layer.shape = infer_layer(ctx, layer, in);
    shapes[layer.name] = layer.shape;
  }
}

Network parse_network(const json& doc, const std::string& source, int batch) {
  Context ctx(source);
  if (!doc.is_object()) ctx.fail("a network file is a JSON object with 'input' and 'layers'");
  if (batch < 0) ctx.fail("batch must be positive");
  Network net;
  net.source = source;
  net.name = get_string(ctx, doc, "name", "network");
  get_string(ctx, doc, "description", "");
  net.precision = get_string(ctx, doc, "precision", "");
  if (!net.precision.empty() && net.precision != "fp32" && net.precision != "tf32" &&
      net.precision != "fp16" && net.precision != "bf16") {
    ctx.fail("'precision' is fp32, tf32, fp16 or bf16, got '" + net.precision + "'");
  }
  net.layout = get_string(ctx, doc, "layout", "");
  if (!net.layout.empty() && net.layout != "nchw" && net.layout != "nhwc")
    ctx.fail("'layout' is nchw or nhwc, got '" + net.layout + "'");
  if (doc.contains("fuse")) {
    if (!doc.at("fuse").is_boolean())
      ctx.fail("'fuse' must be true or false, got " + doc.at("fuse").dump());
    net.fuse = doc.at("fuse").get<bool>() ? 1 : 0;
  }
  // Without an 'input', every layer reads an earlier one or (a conv2d) gives its 'input_shape'.
  if (doc.contains("input")) {
    const json& input = doc.at("input");
    if (!input.is_object())
      ctx.fail("'input' is an object ({\"name\": ..., \"shape\": [N, C, H, W]})");
    net.input_name = get_string(ctx, input, "name", "input", "the input's ");
    if (!input.contains("shape")) ctx.fail("input needs a 'shape'");
    net.input_shape = get_shape(ctx, input.at("shape"), "input shape");
    if (batch > 0) net.input_shape[0] = batch;
  }

  if (!doc.contains("layers") || !doc.at("layers").is_array() || doc.at("layers").empty()) {
    ctx.fail("missing 'layers' (a non-empty list)");
  }
  std::set<std::string> names = {net.input_name};
  std::string previous = net.input_name;
  const json& layers = doc.at("layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& j = layers[i];
    std::string name = j.is_object() && j.contains("name") && j.at("name").is_string()
                           ? j.at("name").get<std::string>()
                           : "";
    ctx.at_layer(name.empty() ? "?" : name, i);
    if (!j.is_object()) ctx.fail("a layer is a JSON object");
    if (name.empty())
      ctx.fail(j.contains("name") ? "'name' must be a non-empty string, got " + j.at("name").dump()
                                  : "missing 'name'");
    if (!names.insert(name).second) ctx.fail("the name '" + name + "' is used twice");
    Layer layer = parse_layer(ctx, j);
    if (!layer.input_shape.empty()) {
      if (batch > 0) layer.input_shape[0] = batch;
    } else if (layer.inputs.empty()) { // sequential by default
      if (previous.empty()) {
        ctx.fail("no input to read: give the network an 'input', or this layer 'inputs' (or, a "
                 "conv2d or identity, an 'input_shape')");
      }
      layer.inputs.push_back(previous);
    }
    previous = layer.name;
    net.layers.push_back(std::move(layer));
  }
  infer_shapes(net);
  return net;
}

Network load_network(const std::string& path, int batch) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open network file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return parse_network_text(text.str(), path, batch);
}

Network parse_network_text(const std::string& text, const std::string& path, int batch) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    const std::string lower = util::lower(path);
    if (lower.size() > 5 && lower.compare(lower.size() - 5, 5, ".onnx") == 0) {
      throw Error(path + ": an ONNX model, not a network file: `scripts/onnx_to_network.py " +
                  path + " -o NAME.json` writes its convolutions as one (docs/network-format.md)");
    }
    throw Error(path + ": not valid JSON: " + e.what());
  }
  try {
    return parse_network(doc, path, batch);
  } catch (const json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

} // namespace chameleon::network
