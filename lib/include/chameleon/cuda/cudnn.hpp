#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace chameleon::cuda {

// The part of cuDNN's (legacy, v7-v9) convolution API that bench uses to time cuDNN's fastest
// forward algorithm, and a fused task's epilogue with it, declared here and loaded at run time:
// GPU hosts often have libcudnn without its headers, and chameleon must run without cuDNN at all.
struct Cudnn {
  using Handle = void*;
  using Desc = void*;
  enum : int {
    kSuccess = 0,
    kNchw = 0,
    kNhwc = 1, // CUDNN_TENSOR_NHWC (a filter: KRSC)
    kFloat = 0,
    kHalf = 2,
    kBfloat16 = 9,
    kCrossCorrelation = 1,
    kImplicitPrecompGemm = 1, // CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
    kNotPropagateNan = 0
  };
  enum Activation : int { kRelu = 1, kClippedRelu = 3, kIdentity = 5, kSwish = 6 };
  enum Math : int { kDefaultMath = 0, kTensorOpMath = 1, kFmaMath = 3 };
  struct AlgoPerf { // cudnnConvolutionFwdAlgoPerf_t
    int algo;
    int status;
    float time;
    size_t memory;
    int determinism;
    int math_type;
    int reserved[3];
  };

  size_t (*cudnnGetVersion)();
  const char* (*cudnnGetErrorString)(int);
  int (*cudnnCreate)(Handle*);
  int (*cudnnDestroy)(Handle);
  int (*cudnnSetStream)(Handle, CUstream);
  int (*cudnnCreateTensorDescriptor)(Desc*);
  int (*cudnnSetTensor4dDescriptor)(Desc, int format, int dtype, int n, int c, int h, int w);
  int (*cudnnDestroyTensorDescriptor)(Desc);
  int (*cudnnCreateFilterDescriptor)(Desc*);
  int (*cudnnSetFilter4dDescriptor)(Desc, int dtype, int format, int k, int c, int h, int w);
  int (*cudnnDestroyFilterDescriptor)(Desc);
  int (*cudnnCreateConvolutionDescriptor)(Desc*);
  int (*cudnnSetConvolution2dDescriptor)(Desc, int pad_h, int pad_w, int u, int v, int dil_h,
                                         int dil_w, int mode, int compute_type);
  int (*cudnnSetConvolutionGroupCount)(Desc, int);
  int (*cudnnSetConvolutionMathType)(Desc, int);
  int (*cudnnDestroyConvolutionDescriptor)(Desc);
  int (*cudnnFindConvolutionForwardAlgorithm)(Handle, Desc x, Desc w, Desc conv, Desc y,
                                              int requested, int* returned, AlgoPerf* results);
  int (*cudnnGetConvolutionForwardWorkspaceSize)(Handle, Desc x, Desc w, Desc conv, Desc y,
                                                 int algo, size_t* bytes);
  int (*cudnnConvolutionForward)(Handle, const void* alpha, Desc x, const void* xp, Desc w,
                                 const void* wp, Desc conv, int algo, void* workspace,
                                 size_t workspace_bytes, const void* beta, Desc y, void* yp);

  // The epilogue's operators: null, with the reason in epilogue_missing, when this cuDNN lacks
  // them (bench then times a fused task's convolution alone). y = act(alpha1 conv(x, w) + alpha2 z
  // + bias), activation RELU or IDENTITY (the latter with IMPLICIT_PRECOMP_GEMM only).
  int (*cudnnConvolutionBiasActivationForward)(Handle, const void* alpha1, Desc x, const void* xp,
                                               Desc w, const void* wp, Desc conv, int algo,
                                               void* workspace, size_t workspace_bytes,
                                               const void* alpha2, Desc z, const void* zp,
                                               Desc bias, const void* bp, Desc activation, Desc y,
                                               void* yp);
  int (*cudnnAddTensor)(Handle, const void* alpha, Desc a, const void* ap, const void* beta, Desc c,
                        void* cp); // c = alpha a + beta c, a broadcast over c's dimensions of 1
  int (*cudnnCreateActivationDescriptor)(Desc*);
  int (*cudnnSetActivationDescriptor)(Desc, int mode, int nan_option, double coef);
  int (*cudnnSetActivationDescriptorSwishBeta)(Desc, double beta);
  int (*cudnnDestroyActivationDescriptor)(Desc);
  int (*cudnnActivationForward)(Handle, Desc activation, const void* alpha, Desc x, const void* xp,
                                const void* beta, Desc y, void* yp);
  std::string epilogue_missing;

  // The graph (backend) API, cuDNN 8 and 9 (cudnn_graph.hpp builds on it): null, with the reason
  // in graph_missing, when this cuDNN lacks it (bench then times the legacy API alone).
  int (*cudnnBackendCreateDescriptor)(int type, Desc*);
  int (*cudnnBackendDestroyDescriptor)(Desc);
  int (*cudnnBackendFinalize)(Desc);
  int (*cudnnBackendSetAttribute)(Desc, int attribute, int attribute_type, int64_t count,
                                  const void* values);
  int (*cudnnBackendGetAttribute)(Desc, int attribute, int attribute_type, int64_t requested,
                                  int64_t* count, void* values);
  int (*cudnnBackendExecute)(Handle, Desc plan, Desc variant_pack);
  std::string graph_missing;
};

// The loaded library, or nullptr with the reason (not installed, too old).
const Cudnn* load_cudnn(std::string* why);
// Throws chameleon::Error "cuDNN WHAT: cuDNN's message" unless `status` is success.
void check_cudnn(const Cudnn& api, int status, const char* what);

// Move-only owners of cuDNN's handle and a convolution's descriptors, as handles.hpp owns the
// driver's: creation is checked (chameleon::Error), destruction never throws.
class CudnnHandle {
public:
  CudnnHandle(const Cudnn& api, CUstream stream); // a handle whose work goes to `stream`
  ~CudnnHandle();
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  Cudnn::Handle get() const { return handle_; }

private:
  const Cudnn& api_;
  Cudnn::Handle handle_ = nullptr;
};

// The four descriptors of one forward convolution: input x, filter w, output y and the
// convolution itself.
class ConvDescriptors {
public:
  explicit ConvDescriptors(const Cudnn& api);
  ~ConvDescriptors();
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;
  Cudnn::Desc x = nullptr, w = nullptr, y = nullptr, conv = nullptr;

private:
  void destroy() noexcept;
  const Cudnn& api_;
};

// The descriptors of a fused task's epilogue: the bias (1 x K x 1 x 1) and the activation.
class EpilogueDescriptors {
public:
  explicit EpilogueDescriptors(const Cudnn& api); // needs api.epilogue_missing empty
  ~EpilogueDescriptors();
  EpilogueDescriptors(const EpilogueDescriptors&) = delete;
  EpilogueDescriptors& operator=(const EpilogueDescriptors&) = delete;
  Cudnn::Desc bias = nullptr, activation = nullptr;

private:
  void destroy() noexcept;
  const Cudnn& api_;
};

// "IMPLICIT_PRECOMP_GEMM", ...
std::string cudnn_algo_name(int algo);
// "9.19.0"
std::string cudnn_version(const Cudnn& api);

} // namespace chameleon::cuda
