#pragma once

#include "chameleon/cuda/cudnn.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace chameleon::cuda {

// cuDNN's graph (backend) API, the part bench uses to time cuDNN at its best: a forward
// convolution and its epilogue as one operation graph, the engine configurations cuDNN's
// heuristics offer for it, each made an execution plan, and their execution. The legacy API's
// cudnnFind... times a fixed list of algorithms; the graph API also reaches the engines that
// cuDNN's own frontend and PyTorch use, and runtime-fused epilogues.

// cuDNN's values (cudnn_graph.h, unchanged since cuDNN 8.0; the unit tests compare them with the
// header where it is installed: GPU hosts often have the library without its headers).
namespace backend {
enum Descriptor : int {
  kPointwise = 0,
  kConvolution = 1,
  kEngine = 2,
  kEngineConfig = 3,
  kEngineHeuristics = 4,
  kExecutionPlan = 5,
  kConvolutionForwardOp = 10,
  kPointwiseOp = 13,
  kOperationGraph = 15,
  kVariantPack = 16,
  kTensor = 17
};
enum AttributeType : int {
  kTypeHandle = 0,
  kTypeDataType = 1,
  kTypeBoolean = 2,
  kTypeInt64 = 3,
  kTypeFloat = 4,
  kTypeDouble = 5,
  kTypeVoidPtr = 6,
  kTypeConvolutionMode = 7,
  kTypeHeuristicsMode = 8,
  kTypeNumericalNote = 11,
  kTypePointwiseMode = 14,
  kTypeDescriptor = 15
};
enum Attribute : int {
  kPointwiseMode = 0,
  kPointwiseMathPrecision = 1,
  kPointwiseReluUpperClip = 4,
  kPointwiseSwishBeta = 8,
  kConvolutionComputeType = 100,
  kConvolutionMode = 101,
  kConvolutionDilations = 102,
  kConvolutionFilterStrides = 103,
  kConvolutionPostPaddings = 104,
  kConvolutionPrePaddings = 105,
  kConvolutionSpatialDims = 106,
  kHeuristicsMode = 200,
  kHeuristicsGraph = 201,
  kHeuristicsResults = 202,
  kEngineConfigEngine = 300,
  kPlanHandle = 400,
  kPlanEngineConfig = 401,
  kPlanWorkspaceSize = 402,
  kConvForwardAlpha = 700,
  kConvForwardBeta = 701,
  kConvForwardConvolution = 702,
  kConvForwardW = 703,
  kConvForwardX = 704,
  kConvForwardY = 705,
  kPointwiseOpDescriptor = 750,
  kPointwiseOpX = 751,
  kPointwiseOpB = 752,
  kPointwiseOpY = 753,
  kGraphHandle = 800,
  kGraphOps = 801,
  kTensorByteAlignment = 900,
  kTensorDataType = 901,
  kTensorDimensions = 902,
  kTensorStrides = 903,
  kTensorUniqueId = 906,
  kTensorIsVirtual = 907,
  kVariantPackUniqueIds = 1000,
  kVariantPackDataPointers = 1001,
  kVariantPackWorkspace = 1003,
  kEngineGlobalIndex = 1301,
  kEngineNumericalNote = 1303
};
enum HeuristicsMode : int { kHeuristicsB = 1, kHeuristicsFallback = 2, kHeuristicsA = 3 };
enum PointwiseMode : int { kAdd = 0, kReluForward = 100, kSwishForward = 106 };
enum NumericalNote : int {
  kNoteTensorCore = 0,
  kNoteDownConvertInputs = 1,
  kNoteReducedPrecisionReduction = 2
};
enum Status : int { kNotSupported = 3000 };
} // namespace backend

// A move-only owner of one backend descriptor; every call is checked (chameleon::Error "cuDNN
// WHAT: cuDNN's message"), destruction never throws.
class BackendDescriptor {
public:
  BackendDescriptor(const Cudnn& api, int type); // needs api.graph_missing empty
  ~BackendDescriptor();
  BackendDescriptor(BackendDescriptor&& other) noexcept;
  BackendDescriptor& operator=(BackendDescriptor&&) = delete;
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;
  Cudnn::Desc get() const { return desc_; }

  void set(int attribute, int type, int64_t count, const void* values, const char* what);
  void set(int attribute, const std::vector<int64_t>& values, const char* what);
  void set(int attribute, const BackendDescriptor& value, const char* what);
  // cuDNN's status, unchecked: finalizing is where it refuses what it does not support.
  int try_finalize();
  void finalize(const char* what);

private:
  const Cudnn* api_;
  Cudnn::Desc desc_ = nullptr;
};

// What the operation graph computes: y = act(conv(x, w) + bias + z), the epilogue's parts
// optional. Dimensions in cuDNN's order (N, C, H, W; a filter K, C/groups, R, S) whatever the
// layout, which the strides give. The bias is 1 x K x 1 x 1; z has y's shape.
struct ConvGraphSpec {
  enum class Activation { none, relu, relu6, silu };
  int dtype = Cudnn::kFloat; // of every tensor in memory; arithmetic in float32
  std::array<int64_t, 4> x_dims{}, x_strides{}, w_dims{}, w_strides{}, y_dims{}, y_strides{};
  std::array<int64_t, 2> pre_padding{}, post_padding{}, stride{1, 1}, dilation{1, 1};
  bool bias = false, residual = false;
  Activation activation = Activation::none;
  bool epilogue() const { return bias || residual || activation != Activation::none; }
};

// The variant pack's unique ids of the graph's tensors in memory.
enum ConvGraphTensor : int64_t {
  kGraphX = 1,
  kGraphW = 2,
  kGraphY = 3,
  kGraphBias = 4,
  kGraphZ = 5
};

// A finalized operation graph of one spec: its ops in order (convolution, then bias, residual,
// activation as pointwise ops on float32 virtual tensors). Needs no GPU: only heuristics and
// plans do.
class ConvGraph {
public:
  ConvGraph(const Cudnn& api, const ConvGraphSpec& spec, Cudnn::Handle handle = nullptr);
  const BackendDescriptor& graph() const { return parts_.back(); }
  // "convolution, bias, residual, relu"
  std::string ops() const;

private:
  ConvGraphSpec spec_;
  std::vector<BackendDescriptor> parts_; // tensors, descriptors and ops, the graph last
};

// Which engines a task may use: float32 arithmetic throughout unless TF32 is allowed (no
// tensor-core engine for a float32 task, none that converts inputs down or reduces in less than
// float32).
struct PlanFilter {
  bool tensor_cores = true;
};

// One engine configuration made an execution plan for a handle (the configuration kept alive
// with it, as cuDNN's frontend keeps it).
struct ExecutionPlan {
  BackendDescriptor config;
  BackendDescriptor plan;
  int64_t engine = -1; // cuDNN's global engine index
  int64_t workspace_bytes = 0;
  std::string name() const { return engine_name(engine); }
  static std::string engine_name(int64_t engine); // "engine 12"
};

// The plans of cuDNN's heuristics for `graph` (mode A's list, then the fallback list's engines
// not in it), in cuDNN's order, at most `max`; an engine the filter rules out, or that does not
// finalize, is left out with its reason in `skipped` (when given).
std::vector<ExecutionPlan> execution_plans(const Cudnn& api, Cudnn::Handle handle,
                                           const ConvGraph& graph, const PlanFilter& filter,
                                           size_t max, std::vector<std::string>* skipped);

// The pointers of one execution: the graph's tensors by unique id and the workspace.
class VariantPack {
public:
  VariantPack(const Cudnn& api, const std::vector<int64_t>& ids, const std::vector<void*>& pointers,
              void* workspace);
  int execute(const Cudnn& api, Cudnn::Handle handle, const ExecutionPlan& plan) const;

private:
  BackendDescriptor pack_;
};

} // namespace chameleon::cuda
