#include "chameleon/cuda/cudnn_graph.hpp"

#include "chameleon/util/error.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace chameleon::cuda {

using namespace backend;

BackendDescriptor::BackendDescriptor(const Cudnn& api, int type) : api_(&api) {
  if (!api.graph_missing.empty()) throw Error(api.graph_missing);
  check_cudnn(api, api.cudnnBackendCreateDescriptor(type, &desc_), "create a backend descriptor");
}

BackendDescriptor::~BackendDescriptor() {
  if (desc_ == nullptr) return;
  if (int st = api_->cudnnBackendDestroyDescriptor(desc_); st != Cudnn::kSuccess)
    spdlog::warn("cuDNN destroy a backend descriptor failed: {}", api_->cudnnGetErrorString(st));
}

BackendDescriptor::BackendDescriptor(BackendDescriptor&& other) noexcept
    : api_(other.api_), desc_(std::exchange(other.desc_, nullptr)) {}

void BackendDescriptor::set(int attribute, int type, int64_t count, const void* values,
                            const char* what) {
  check_cudnn(*api_, api_->cudnnBackendSetAttribute(desc_, attribute, type, count, values), what);
}

void BackendDescriptor::set(int attribute, const std::vector<int64_t>& values, const char* what) {
  set(attribute, kTypeInt64, int64_t(values.size()), values.data(), what);
}

void BackendDescriptor::set(int attribute, const BackendDescriptor& value, const char* what) {
  Cudnn::Desc d = value.get();
  set(attribute, kTypeDescriptor, 1, &d, what);
}

int BackendDescriptor::try_finalize() {
  return api_->cudnnBackendFinalize(desc_);
}

void BackendDescriptor::finalize(const char* what) {
  check_cudnn(*api_, try_finalize(), what);
}

namespace {

template <size_t N> std::vector<int64_t> vec(const std::array<int64_t, N>& a) {
  return {a.begin(), a.end()};
}

BackendDescriptor tensor(const Cudnn& api, int64_t uid, int dtype,
                         const std::array<int64_t, 4>& dims, const std::array<int64_t, 4>& strides,
                         bool is_virtual, const char* what) {
  BackendDescriptor t(api, kTensor);
  const int64_t alignment = 16; // cuMemAlloc's allocations are 256-byte aligned
  t.set(kTensorDataType, kTypeDataType, 1, &dtype, what);
  t.set(kTensorDimensions, vec(dims), what);
  t.set(kTensorStrides, vec(strides), what);
  t.set(kTensorUniqueId, kTypeInt64, 1, &uid, what);
  t.set(kTensorByteAlignment, kTypeInt64, 1, &alignment, what);
  const bool v = is_virtual;
  t.set(kTensorIsVirtual, kTypeBoolean, 1, &v, what);
  t.finalize(what);
  return t;
}

} // namespace

ConvGraph::ConvGraph(const Cudnn& api, const ConvGraphSpec& spec, Cudnn::Handle handle)
    : spec_(spec) {
  const int f32 = Cudnn::kFloat;
  parts_.push_back(tensor(api, kGraphX, spec.dtype, spec.x_dims, spec.x_strides, false, "input"));
  const size_t x = parts_.size() - 1;
  parts_.push_back(tensor(api, kGraphW, spec.dtype, spec.w_dims, spec.w_strides, false, "filter"));
  const size_t w = parts_.size() - 1;

  BackendDescriptor conv(api, kConvolution);
  const int64_t spatial = 2;
  const int mode = Cudnn::kCrossCorrelation;
  conv.set(kConvolutionSpatialDims, kTypeInt64, 1, &spatial, "convolution");
  conv.set(kConvolutionComputeType, kTypeDataType, 1, &f32, "convolution");
  conv.set(kConvolutionMode, kTypeConvolutionMode, 1, &mode, "convolution");
  conv.set(kConvolutionPrePaddings, vec(spec.pre_padding), "convolution padding");
  conv.set(kConvolutionPostPaddings, vec(spec.post_padding), "convolution padding");
  conv.set(kConvolutionDilations, vec(spec.dilation), "convolution dilation");
  conv.set(kConvolutionFilterStrides, vec(spec.stride), "convolution stride");
  conv.finalize("convolution");
  parts_.push_back(std::move(conv));
  const size_t conv_at = parts_.size() - 1;

  // The epilogue's steps, each a pointwise op from the last result: float32 virtual tensors in
  // between, the task's type for the output in memory.
  struct Step {
    int mode;
    int64_t operand; // unique id of the second input (bias, z), 0 for none
    const char* name;
  };
  std::vector<Step> steps;
  if (spec.bias) steps.push_back({kAdd, kGraphBias, "bias"});
  if (spec.residual) steps.push_back({kAdd, kGraphZ, "residual"});
  if (spec.activation != ConvGraphSpec::Activation::none)
    steps.push_back({spec.activation == ConvGraphSpec::Activation::silu ? int(kSwishForward)
                                                                        : int(kReluForward),
                     0, "activation"});
  int64_t next_virtual = 100;
  auto result = [&](bool last) {
    return last ? tensor(api, kGraphY, spec.dtype, spec.y_dims, spec.y_strides, false, "output")
                : tensor(api, next_virtual++, f32, spec.y_dims, spec.y_strides, true,
                         "intermediate");
  };
  std::vector<size_t> ops;
  parts_.push_back(result(steps.empty()));
  size_t last = parts_.size() - 1;
  {
    BackendDescriptor op(api, kConvolutionForwardOp);
    const float alpha = 1.0f, beta = 0.0f;
    op.set(kConvForwardX, parts_[x], "convolution op");
    op.set(kConvForwardW, parts_[w], "convolution op");
    op.set(kConvForwardY, parts_[last], "convolution op");
    op.set(kConvForwardConvolution, parts_[conv_at], "convolution op");
    op.set(kConvForwardAlpha, kTypeFloat, 1, &alpha, "convolution op");
    op.set(kConvForwardBeta, kTypeFloat, 1, &beta, "convolution op");
    op.finalize("convolution op");
    parts_.push_back(std::move(op));
    ops.push_back(parts_.size() - 1);
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    BackendDescriptor pw(api, kPointwise);
    pw.set(kPointwiseMode, kTypePointwiseMode, 1, &step.mode, step.name);
    pw.set(kPointwiseMathPrecision, kTypeDataType, 1, &f32, step.name);
    if (spec.activation == ConvGraphSpec::Activation::relu6 && step.mode == kReluForward) {
      const float clip = 6.0f; // of the math precision's type
      pw.set(kPointwiseReluUpperClip, kTypeFloat, 1, &clip, step.name);
    }
    if (step.mode == kSwishForward) {
      const double beta = 1.0;
      pw.set(kPointwiseSwishBeta, kTypeDouble, 1, &beta, step.name);
    }
    pw.finalize(step.name);
    parts_.push_back(std::move(pw));
    const size_t pw_at = parts_.size() - 1;
    size_t operand = 0;
    if (step.operand == kGraphBias) {
      // 1 x K x 1 x 1 in the output's layout (channels fastest or not).
      const int64_t k = spec.y_dims[1];
      const bool channels_last = spec.y_strides[1] == 1 && k > 1;
      const std::array<int64_t, 4> dims{1, k, 1, 1};
      const std::array<int64_t, 4> strides =
          channels_last ? std::array<int64_t, 4>{k, 1, k, k} : std::array<int64_t, 4>{k, 1, 1, 1};
      parts_.push_back(tensor(api, kGraphBias, spec.dtype, dims, strides, false, "bias"));
      operand = parts_.size() - 1;
    } else if (step.operand == kGraphZ) {
      parts_.push_back(
          tensor(api, kGraphZ, spec.dtype, spec.y_dims, spec.y_strides, false, "residual"));
      operand = parts_.size() - 1;
    }
    const size_t in = last;
    parts_.push_back(result(i + 1 == steps.size()));
    last = parts_.size() - 1;
    BackendDescriptor op(api, kPointwiseOp);
    op.set(kPointwiseOpDescriptor, parts_[pw_at], step.name);
    op.set(kPointwiseOpX, parts_[in], step.name);
    if (operand != 0) op.set(kPointwiseOpB, parts_[operand], step.name);
    op.set(kPointwiseOpY, parts_[last], step.name);
    op.finalize(step.name);
    parts_.push_back(std::move(op));
    ops.push_back(parts_.size() - 1);
  }
  BackendDescriptor graph(api, kOperationGraph);
  if (handle != nullptr) {
    // Required before cuDNN 9, deprecated since (each plan gets the handle): a refusal is not
    // an error.
    api.cudnnBackendSetAttribute(graph.get(), kGraphHandle, kTypeHandle, 1, &handle);
  }
  std::vector<Cudnn::Desc> op_descs;
  for (size_t i : ops) op_descs.push_back(parts_[i].get());
  graph.set(kGraphOps, kTypeDescriptor, int64_t(op_descs.size()), op_descs.data(),
            "operation graph");
  graph.finalize("operation graph");
  parts_.push_back(std::move(graph));
}

std::string ConvGraph::ops() const {
  std::string out = "convolution";
  if (spec_.bias) out += ", bias";
  if (spec_.residual) out += ", residual";
  switch (spec_.activation) {
  case ConvGraphSpec::Activation::none:
    break;
  case ConvGraphSpec::Activation::relu:
    out += ", relu";
    break;
  case ConvGraphSpec::Activation::relu6:
    out += ", relu6";
    break;
  case ConvGraphSpec::Activation::silu:
    out += ", silu";
    break;
  }
  return out;
}

std::string ExecutionPlan::engine_name(int64_t engine) {
  return "engine " + std::to_string(engine);
}

namespace {

// The engine configurations heuristics `mode` offers, finalized by cuDNN; empty when it offers
// none for this graph (or refuses the mode).
std::vector<BackendDescriptor> engine_configs(const Cudnn& api, const ConvGraph& graph, int mode) {
  BackendDescriptor heur(api, kEngineHeuristics);
  heur.set(kHeuristicsGraph, graph.graph(), "heuristics");
  heur.set(kHeuristicsMode, kTypeHeuristicsMode, 1, &mode, "heuristics");
  if (heur.try_finalize() != Cudnn::kSuccess) return {};
  int64_t count = 0;
  if (api.cudnnBackendGetAttribute(heur.get(), kHeuristicsResults, kTypeDescriptor, 0, &count,
                                   nullptr) != Cudnn::kSuccess ||
      count <= 0)
    return {};
  std::vector<BackendDescriptor> configs;
  std::vector<Cudnn::Desc> descs;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(api, kEngineConfig);
    descs.push_back(configs.back().get());
  }
  int64_t got = 0;
  check_cudnn(api,
              api.cudnnBackendGetAttribute(heur.get(), kHeuristicsResults, kTypeDescriptor, count,
                                           &got, descs.data()),
              "heuristics results");
  while (int64_t(configs.size()) > std::max<int64_t>(got, 0)) configs.pop_back();
  return configs;
}

struct EngineInfo {
  int64_t index = -1;
  std::vector<int> notes;
};

EngineInfo engine_info(const Cudnn& api, const BackendDescriptor& config) {
  BackendDescriptor engine(api, kEngine);
  Cudnn::Desc d = engine.get();
  int64_t n = 0;
  check_cudnn(
      api,
      api.cudnnBackendGetAttribute(config.get(), kEngineConfigEngine, kTypeDescriptor, 1, &n, &d),
      "engine of a configuration");
  EngineInfo info;
  check_cudnn(api,
              api.cudnnBackendGetAttribute(d, kEngineGlobalIndex, kTypeInt64, 1, &n, &info.index),
              "engine index");
  std::vector<int> notes(16, -1);
  if (api.cudnnBackendGetAttribute(d, kEngineNumericalNote, kTypeNumericalNote,
                                   int64_t(notes.size()), &n, notes.data()) == Cudnn::kSuccess) {
    notes.resize(size_t(std::clamp<int64_t>(n, 0, int64_t(notes.size()))));
    info.notes = std::move(notes);
  }
  return info;
}

// Why `filter` rules the engine out, or "".
std::string ruled_out(const EngineInfo& e, const PlanFilter& filter) {
  for (int note : e.notes) {
    if (note == kNoteReducedPrecisionReduction) return "reduces in less than float32";
    if (!filter.tensor_cores && note == kNoteTensorCore)
      return "tensor cores (TF32) for a float32 task";
    if (!filter.tensor_cores && note == kNoteDownConvertInputs)
      return "converts float32 inputs down";
  }
  return "";
}

} // namespace

std::vector<ExecutionPlan> execution_plans(const Cudnn& api, Cudnn::Handle handle,
                                           const ConvGraph& graph, const PlanFilter& filter,
                                           size_t max, std::vector<std::string>* skipped) {
  std::vector<ExecutionPlan> plans;
  std::vector<int64_t> seen;
  for (int mode : {int(kHeuristicsA), int(kHeuristicsFallback)}) {
    for (BackendDescriptor& config : engine_configs(api, graph, mode)) {
      if (plans.size() >= max) return plans;
      const EngineInfo info = engine_info(api, config);
      // The fallback list repeats engines of mode A's (with default knobs): one plan each.
      if (mode == kHeuristicsFallback &&
          std::find(seen.begin(), seen.end(), info.index) != seen.end())
        continue;
      seen.push_back(info.index);
      const std::string name = ExecutionPlan::engine_name(info.index);
      if (std::string why = ruled_out(info, filter); !why.empty()) {
        if (skipped) skipped->push_back(name + ": " + why);
        continue;
      }
      ExecutionPlan p{std::move(config), BackendDescriptor(api, kExecutionPlan), info.index, 0};
      p.plan.set(kPlanHandle, kTypeHandle, 1, &handle, "execution plan");
      p.plan.set(kPlanEngineConfig, p.config, "execution plan");
      if (int st = p.plan.try_finalize(); st != Cudnn::kSuccess) {
        if (skipped) skipped->push_back(name + ": " + api.cudnnGetErrorString(st));
        continue;
      }
      int64_t n = 0;
      check_cudnn(api,
                  api.cudnnBackendGetAttribute(p.plan.get(), kPlanWorkspaceSize, kTypeInt64, 1, &n,
                                               &p.workspace_bytes),
                  "plan workspace");
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

VariantPack::VariantPack(const Cudnn& api, const std::vector<int64_t>& ids,
                         const std::vector<void*>& pointers, void* workspace)
    : pack_(api, kVariantPack) {
  if (ids.size() != pointers.size()) throw Error("variant pack: as many pointers as ids");
  pack_.set(kVariantPackUniqueIds, ids, "variant pack");
  pack_.set(kVariantPackDataPointers, kTypeVoidPtr, int64_t(pointers.size()), pointers.data(),
            "variant pack");
  pack_.set(kVariantPackWorkspace, kTypeVoidPtr, 1, &workspace, "variant pack");
  pack_.finalize("variant pack");
}

int VariantPack::execute(const Cudnn& api, Cudnn::Handle handle, const ExecutionPlan& plan) const {
  return api.cudnnBackendExecute(handle, plan.plan.get(), pack_.get());
}

} // namespace chameleon::cuda
