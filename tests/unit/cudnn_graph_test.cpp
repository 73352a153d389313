// cuDNN's graph API as bench builds it: the constants, the task's graph and its finalization,
// which cuDNN does without a GPU (heuristics' plans, execution and timing need one: the [gpu]
// tests and bench).
#include <catch2/catch.hpp>

#include "chameleon/cuda/cudnn_graph.hpp"
#include "chameleon/measure/cudnn_baseline.hpp"
#include "chameleon/network/network.hpp"
#include "chameleon/task/task.hpp"

#include "problem.hpp"

#if __has_include(<cudnn_graph.h>)
#include <cudnn_graph.h>
#define CHM_HAVE_CUDNN_HEADER 1
#endif

using namespace chameleon;

namespace {

// n c h w k r s, then one stride, one padding on every side, one dilation, groups.
task::Conv2dWorkload conv(int n, int c, int h, int w, int k, int r, int s, int stride = 1,
                          int pad = 0, int dilation = 1, int groups = 1) {
  return testing::workload(n, c, h, w, k, r, s, stride, stride, pad, pad, pad, pad, dilation,
                           dilation, groups);
}

const cuda::Cudnn* graph_api() {
  std::string why;
  const cuda::Cudnn* dnn = cuda::load_cudnn(&why);
  if (dnn == nullptr) {
    WARN("cuDNN not loaded: " << why);
    return nullptr;
  }
  if (!dnn->graph_missing.empty()) {
    WARN("cuDNN without its graph API: " << dnn->graph_missing);
    return nullptr;
  }
  return dnn;
}

} // namespace

TEST_CASE("cuDNN's graph API constants are cuDNN's", "[measure]") {
#ifdef CHM_HAVE_CUDNN_HEADER
  using namespace cuda::backend;
#define SAME(ours, cudnns) STATIC_REQUIRE(int(ours) == int(cudnns))
  SAME(kPointwise, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  SAME(kConvolution, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  SAME(kEngine, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  SAME(kEngineConfig, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  SAME(kEngineHeuristics, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  SAME(kExecutionPlan, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  SAME(kConvolutionForwardOp, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  SAME(kPointwiseOp, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  SAME(kOperationGraph, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  SAME(kVariantPack, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  SAME(kTensor, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  SAME(kTypeHandle, CUDNN_TYPE_HANDLE);
  SAME(kTypeDataType, CUDNN_TYPE_DATA_TYPE);
  SAME(kTypeBoolean, CUDNN_TYPE_BOOLEAN);
  SAME(kTypeInt64, CUDNN_TYPE_INT64);
  SAME(kTypeFloat, CUDNN_TYPE_FLOAT);
  SAME(kTypeDouble, CUDNN_TYPE_DOUBLE);
  SAME(kTypeVoidPtr, CUDNN_TYPE_VOID_PTR);
  SAME(kTypeConvolutionMode, CUDNN_TYPE_CONVOLUTION_MODE);
  SAME(kTypeHeuristicsMode, CUDNN_TYPE_HEUR_MODE);
  SAME(kTypeNumericalNote, CUDNN_TYPE_NUMERICAL_NOTE);
  SAME(kTypePointwiseMode, CUDNN_TYPE_POINTWISE_MODE);
  SAME(kTypeDescriptor, CUDNN_TYPE_BACKEND_DESCRIPTOR);
  SAME(kPointwiseMode, CUDNN_ATTR_POINTWISE_MODE);
  SAME(kPointwiseMathPrecision, CUDNN_ATTR_POINTWISE_MATH_PREC);
  SAME(kPointwiseReluUpperClip, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP);
  SAME(kPointwiseSwishBeta, CUDNN_ATTR_POINTWISE_SWISH_BETA);
  SAME(kConvolutionComputeType, CUDNN_ATTR_CONVOLUTION_COMP_TYPE);
  SAME(kConvolutionMode, CUDNN_ATTR_CONVOLUTION_CONV_MODE);
  SAME(kConvolutionDilations, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  SAME(kConvolutionFilterStrides, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES);
  SAME(kConvolutionPostPaddings, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS);
  SAME(kConvolutionPrePaddings, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS);
  SAME(kConvolutionSpatialDims, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS);
  SAME(kHeuristicsMode, CUDNN_ATTR_ENGINEHEUR_MODE);
  SAME(kHeuristicsGraph, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
  SAME(kHeuristicsResults, CUDNN_ATTR_ENGINEHEUR_RESULTS);
  SAME(kEngineConfigEngine, CUDNN_ATTR_ENGINECFG_ENGINE);
  SAME(kPlanHandle, CUDNN_ATTR_EXECUTION_PLAN_HANDLE);
  SAME(kPlanEngineConfig, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
  SAME(kPlanWorkspaceSize, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
  SAME(kConvForwardAlpha, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA);
  SAME(kConvForwardBeta, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA);
  SAME(kConvForwardConvolution, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC);
  SAME(kConvForwardW, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W);
  SAME(kConvForwardX, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X);
  SAME(kConvForwardY, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y);
  SAME(kPointwiseOpDescriptor, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR);
  SAME(kPointwiseOpX, CUDNN_ATTR_OPERATION_POINTWISE_XDESC);
  SAME(kPointwiseOpB, CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
  SAME(kPointwiseOpY, CUDNN_ATTR_OPERATION_POINTWISE_YDESC);
  SAME(kGraphHandle, CUDNN_ATTR_OPERATIONGRAPH_HANDLE);
  SAME(kGraphOps, CUDNN_ATTR_OPERATIONGRAPH_OPS);
  SAME(kTensorByteAlignment, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT);
  SAME(kTensorDataType, CUDNN_ATTR_TENSOR_DATA_TYPE);
  SAME(kTensorDimensions, CUDNN_ATTR_TENSOR_DIMENSIONS);
  SAME(kTensorStrides, CUDNN_ATTR_TENSOR_STRIDES);
  SAME(kTensorUniqueId, CUDNN_ATTR_TENSOR_UNIQUE_ID);
  SAME(kTensorIsVirtual, CUDNN_ATTR_TENSOR_IS_VIRTUAL);
  SAME(kVariantPackUniqueIds, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
  SAME(kVariantPackDataPointers, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  SAME(kVariantPackWorkspace, CUDNN_ATTR_VARIANT_PACK_WORKSPACE);
  SAME(kEngineGlobalIndex, CUDNN_ATTR_ENGINE_GLOBAL_INDEX);
  SAME(kEngineNumericalNote, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE);
  SAME(kHeuristicsA, CUDNN_HEUR_MODE_A);
  SAME(kHeuristicsB, CUDNN_HEUR_MODE_B);
  SAME(kHeuristicsFallback, CUDNN_HEUR_MODE_FALLBACK);
  SAME(kAdd, CUDNN_POINTWISE_ADD);
  SAME(kReluForward, CUDNN_POINTWISE_RELU_FWD);
  SAME(kSwishForward, CUDNN_POINTWISE_SWISH_FWD);
  SAME(kNoteTensorCore, CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
  SAME(kNoteDownConvertInputs, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS);
  SAME(kNoteReducedPrecisionReduction, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION);
  SAME(kNotSupported, CUDNN_STATUS_NOT_SUPPORTED);
  SAME(cuda::Cudnn::kHalf, CUDNN_DATA_HALF);
  SAME(cuda::Cudnn::kBfloat16, CUDNN_DATA_BFLOAT16);
  SAME(cuda::Cudnn::kFloat, CUDNN_DATA_FLOAT);
  SAME(cuda::Cudnn::kCrossCorrelation, CUDNN_CROSS_CORRELATION);
#undef SAME
#else
  WARN("cudnn_graph.h not installed: the constants are not checked here");
#endif
}

TEST_CASE("a task's cuDNN graph: its layout's strides, its padding, its epilogue's steps",
          "[measure]") {
  auto wl = conv(2, 6, 9, 11, 8, 3, 2, 2, 1, 1, 2);
  wl.pad_bottom = 2; // asymmetric: the graph API takes it
  wl.epilogue = {true, true, task::Activation::relu6};
  std::string why;
  auto g = measure::cudnn_graph_spec(wl, true, &why);
  REQUIRE(g);
  CHECK(g->x_dims == std::array<int64_t, 4>{2, 6, 9, 11});
  CHECK(g->x_strides == std::array<int64_t, 4>{594, 99, 11, 1});
  CHECK(g->w_dims == std::array<int64_t, 4>{8, 3, 3, 2});
  CHECK(g->y_dims == std::array<int64_t, 4>{2, 8, wl.out_h(), wl.out_w()});
  CHECK(g->pre_padding == std::array<int64_t, 2>{1, 1});
  CHECK(g->post_padding == std::array<int64_t, 2>{2, 1});
  CHECK(g->stride == std::array<int64_t, 2>{2, 2});
  CHECK((g->bias && g->residual && g->activation == cuda::ConvGraphSpec::Activation::relu6));
  CHECK(g->dtype == cuda::Cudnn::kFloat);
  // NHWC: channels fastest, a KRSC filter.
  wl.layout = task::Layout::nhwc;
  wl.dtype = task::DataType::bf16;
  g = measure::cudnn_graph_spec(wl, false, &why);
  REQUIRE(g);
  CHECK(g->x_strides == std::array<int64_t, 4>{594, 1, 66, 6});
  CHECK(g->w_strides == std::array<int64_t, 4>{18, 1, 6, 3});
  CHECK(g->dtype == cuda::Cudnn::kBfloat16);
  CHECK(!g->epilogue()); // asked without it
  // hardswish has no pointwise mode: the graph is declined with the reason, the convolution not.
  wl.epilogue.act = task::Activation::hardswish;
  CHECK(!measure::cudnn_graph_spec(wl, true, &why));
  CHECK(why == "cuDNN's pointwise operations have no hardswish");
  CHECK(measure::cudnn_graph_spec(wl, false, nullptr));
}

TEST_CASE("cuDNN finalizes the graph of every kind of task, without a GPU", "[measure]") {
  const cuda::Cudnn* dnn = graph_api();
  if (dnn == nullptr) return;
  std::vector<task::Conv2dWorkload> tasks;
  for (const auto& t : task::extract_tasks(
           network::load_network(std::string(CHAMELEON_SOURCE_DIR) + "/networks/resnet18.json")))
    tasks.push_back(t.workload);
  // Prime channels with batch 3, non-square, dilation, asymmetric padding, depthwise with a
  // multiplier, grouped.
  tasks.push_back(conv(3, 7, 13, 5, 11, 3, 3, 1, 2, 2));
  tasks.back().pad_right = 0;
  tasks.push_back(conv(1, 16, 15, 15, 32, 3, 3, 2, 1, 1, 16));
  tasks.push_back(conv(2, 12, 8, 8, 24, 1, 1, 1, 0, 1, 4));
  const std::vector<task::Epilogue> epilogues = {{},
                                                 {true, false, task::Activation::relu},
                                                 {true, true, task::Activation::relu6},
                                                 {false, true, task::Activation::silu},
                                                 {true, false, task::Activation::none}};
  int built = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (task::DataType t : {task::DataType::f32, task::DataType::f16, task::DataType::bf16}) {
      auto wl = tasks[i];
      wl.dtype = t;
      wl.layout = (i + int(t)) % 2 ? task::Layout::nhwc : task::Layout::nchw;
      wl.epilogue = epilogues[(i + int(t)) % epilogues.size()];
      INFO(wl.str());
      auto spec = measure::cudnn_graph_spec(wl, true, nullptr);
      REQUIRE(spec);
      cuda::ConvGraph graph(*dnn, *spec);
      CHECK(graph.graph().get() != nullptr);
      ++built;
    }
  }
  CHECK(built == int(tasks.size()) * 3);
  // The steps' names, as bench reports them.
  auto wl = tasks[0];
  wl.epilogue = {true, true, task::Activation::silu};
  CHECK(cuda::ConvGraph(*dnn, *measure::cudnn_graph_spec(wl, true, nullptr)).ops() ==
        "convolution, bias, residual, silu");
}

TEST_CASE("bench keeps the faster of cuDNN's two APIs, one with the epilogue before one without",
          "[measure]") {
  using nlohmann::json;
  auto answer = [](const char* algorithm, double us, const char* epilogue = nullptr) {
    json r = {{"error_no", 0},
              {"message", ""},
              {"costs", {us * 1e-6, us * 1e-6, us * 1e-6}},
              {"algorithm", algorithm}};
    if (epilogue) r["epilogue"] = epilogue;
    return r;
  };
  auto failed = [](const char* why) {
    return json{{"error_no", 1}, {"message", why}, {"costs", json::array()}};
  };
  // Plain task: the lower median.
  auto r = measure::fastest_cudnn(answer("IMPLICIT_PRECOMP_GEMM", 14),
                                  answer("graph API engine 3 (fastest of 2)", 12), false);
  CHECK(r["cudnn_api"] == "graph");
  CHECK(r["algorithm"] == "graph API engine 3 (fastest of 2)");
  CHECK(r["cudnn_other"] == "legacy API: IMPLICIT_PRECOMP_GEMM 14.00 us");
  r = measure::fastest_cudnn(answer("WINOGRAD", 9), answer("graph API engine 3", 12), false);
  CHECK(r["cudnn_api"] == "legacy");
  CHECK(r["cudnn_other"] == "graph API: graph API engine 3 12.00 us");
  // Fused task: the answer that includes the epilogue, even when slower.
  r = measure::fastest_cudnn(answer("GEMM", 10, "separate"),
                             answer("graph API engine 7", 8, "convolution alone"), true);
  CHECK(r["cudnn_api"] == "legacy");
  CHECK(r["cudnn_other"] == "graph API: graph API engine 7 8.00 us, epilogue convolution alone");
  r = measure::fastest_cudnn(answer("GEMM", 6, "convolution alone"),
                             answer("graph API engine 7", 8, "fused"), true);
  CHECK(r["cudnn_api"] == "graph");
  r = measure::fastest_cudnn(answer("GEMM", 10, "fused"), answer("graph API engine 7", 8, "fused"),
                             true);
  CHECK(r["cudnn_api"] == "graph");
  // One API failed: the other answers, with the failure's reason beside it.
  r = measure::fastest_cudnn(failed("the legacy API takes symmetric padding only"),
                             answer("graph API engine 1", 30), false);
  CHECK(r["cudnn_api"] == "graph");
  CHECK(r["cudnn_other"] == "legacy API: the legacy API takes symmetric padding only");
  r = measure::fastest_cudnn(answer("GEMM", 30), failed("convolution: no engine ran and verified"),
                             false);
  CHECK(r["cudnn_api"] == "legacy");
  // Both: the legacy API's error, both reasons.
  r = measure::fastest_cudnn(failed("the legacy API takes symmetric padding only"),
                             failed("convolution: no engine ran and verified"), false);
  CHECK(r["error_no"] == 1);
  CHECK(!r.contains("cudnn_api"));
  CHECK(r["message"] == "the legacy API takes symmetric padding only; graph API: convolution: no "
                        "engine ran and verified");
}
