#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::network {

// A tensor shape: NCHW for feature maps, NF after flatten/dense.
using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape); // "1x3x224x224"

// Sliding-window geometry shared by conv2d and the pools. Padding is top, left, bottom, right.
struct Window {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
};

enum class Op {
  Conv2d,
  Activation, // relu, relu6, sigmoid, tanh, silu, gelu, hardswish, hardsigmoid: shape-preserving
  Identity,   // dropout, identity, softmax, lrn: shape-preserving, no weights
  BatchNorm,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  GlobalMaxPool,
  AdaptiveAvgPool,
  Add,
  Mul,
  Concat,
  Flatten,
  Dense,
};

struct Layer {
  std::string name;
  std::string op_name; // as written in the file ("relu", "max_pool", ...)
  Op op = Op::Identity;
  std::vector<std::string> inputs;
  Window window;        // conv2d, max_pool, avg_pool
  int out_channels = 0; // conv2d
  int groups = 1;       // conv2d
  bool bias = false;    // conv2d: adds a bias per output channel ("bias": true)
  bool ceil_mode = false;
  int units = 0;                  // dense
  int axis = 1;                   // concat
  int output_h = 1, output_w = 1; // adaptive_avg_pool
  // conv2d only: the shape of the tensor it reads, given in the file ("input_shape") instead of
  // an input layer, for a network written as a list of standalone conv2d layers (one exported
  // from another framework, scripts/onnx_to_network.py). Empty: the input layer's shape.
  Shape input_shape;
  Shape shape; // inferred output shape
};

struct Network {
  std::string name;
  std::string source;     // file the network came from, for messages
  std::string input_name; // empty when the file has no 'input' (its conv2d layers give theirs)
  Shape input_shape;
  std::vector<Layer> layers;
  // The file's own settings, for what the command line does not say: "precision" ("fp32", "tf32",
  // "fp16", "bf16"; empty when not given) and "fuse" (-1 not given, 0 false, 1 true).
  std::string precision;
  int fuse = -1;
  std::string layout; // "layout": "nchw" or "nhwc" (empty when not given)
};

// Parses and shape-checks a network description (format: docs/network-format.md). Every problem
// is a chameleon::Error naming the file, the layer and what is wrong. batch > 0 overrides the
// batch size of the input shape.
Network parse_network(const nlohmann::json& doc, const std::string& source, int batch = 0);
Network load_network(const std::string& path, int batch = 0);
// The same from a file's text; `path` names it in errors and as the network's source.
Network parse_network_text(const std::string& text, const std::string& path, int batch = 0);

// Runs shape inference over the layers again, e.g. after the input batch was changed.
void infer_shapes(Network& net);

} // namespace chameleon::network
