#include "chameleon/cuda/cudnn.hpp"

#include "dl_bind.hpp"

#include "chameleon/util/error.hpp"

#include <spdlog/spdlog.h>

#include <dlfcn.h>

namespace chameleon::cuda {

namespace {

struct Loaded {
  Cudnn api{};
  std::string error;
};

Loaded load() {
  Loaded out;
  void* lib = nullptr;
  for (const char* name : {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"}) {
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  }
  if (lib == nullptr) {
    out.error = "cuDNN not found (libcudnn.so.9 or .8 on the library path)";
    return out;
  }
  Cudnn& a = out.api;
  std::string& e = out.error;
  auto bind = [&](auto& fn, const char* symbol) { bind_symbol(lib, fn, symbol, "cuDNN", e); };
  bind(a.cudnnGetVersion, "cudnnGetVersion");
  bind(a.cudnnGetErrorString, "cudnnGetErrorString");
  bind(a.cudnnCreate, "cudnnCreate");
  bind(a.cudnnDestroy, "cudnnDestroy");
  bind(a.cudnnSetStream, "cudnnSetStream");
  bind(a.cudnnCreateTensorDescriptor, "cudnnCreateTensorDescriptor");
  bind(a.cudnnSetTensor4dDescriptor, "cudnnSetTensor4dDescriptor");
  bind(a.cudnnDestroyTensorDescriptor, "cudnnDestroyTensorDescriptor");
  bind(a.cudnnCreateFilterDescriptor, "cudnnCreateFilterDescriptor");
  bind(a.cudnnSetFilter4dDescriptor, "cudnnSetFilter4dDescriptor");
  bind(a.cudnnDestroyFilterDescriptor, "cudnnDestroyFilterDescriptor");
  bind(a.cudnnCreateConvolutionDescriptor, "cudnnCreateConvolutionDescriptor");
  bind(a.cudnnSetConvolution2dDescriptor, "cudnnSetConvolution2dDescriptor");
  bind(a.cudnnSetConvolutionGroupCount, "cudnnSetConvolutionGroupCount");
  bind(a.cudnnSetConvolutionMathType, "cudnnSetConvolutionMathType");
  bind(a.cudnnDestroyConvolutionDescriptor, "cudnnDestroyConvolutionDescriptor");
  bind(a.cudnnFindConvolutionForwardAlgorithm, "cudnnFindConvolutionForwardAlgorithm");
  bind(a.cudnnGetConvolutionForwardWorkspaceSize, "cudnnGetConvolutionForwardWorkspaceSize");
  bind(a.cudnnConvolutionForward, "cudnnConvolutionForward");
  // Optional parts: a missing symbol is remembered in `missing`, and the rest still loads. The
  // epilogue's operators (without them bench times the convolution alone), the graph API.
  auto optional_into = [&](std::string& missing) {
    return [lib, m = &missing](auto& fn, const char* symbol) {
      bind_symbol(lib, fn, symbol, "cuDNN", *m);
    };
  };
  auto optional = optional_into(a.epilogue_missing);
  optional(a.cudnnConvolutionBiasActivationForward, "cudnnConvolutionBiasActivationForward");
  optional(a.cudnnAddTensor, "cudnnAddTensor");
  optional(a.cudnnCreateActivationDescriptor, "cudnnCreateActivationDescriptor");
  optional(a.cudnnSetActivationDescriptor, "cudnnSetActivationDescriptor");
  optional(a.cudnnSetActivationDescriptorSwishBeta, "cudnnSetActivationDescriptorSwishBeta");
  optional(a.cudnnDestroyActivationDescriptor, "cudnnDestroyActivationDescriptor");
  optional(a.cudnnActivationForward, "cudnnActivationForward");
  auto graph = optional_into(a.graph_missing);
  graph(a.cudnnBackendCreateDescriptor, "cudnnBackendCreateDescriptor");
  graph(a.cudnnBackendDestroyDescriptor, "cudnnBackendDestroyDescriptor");
  graph(a.cudnnBackendFinalize, "cudnnBackendFinalize");
  graph(a.cudnnBackendSetAttribute, "cudnnBackendSetAttribute");
  graph(a.cudnnBackendGetAttribute, "cudnnBackendGetAttribute");
  graph(a.cudnnBackendExecute, "cudnnBackendExecute");
  return out;
}

} // namespace

const Cudnn* load_cudnn(std::string* why) {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) {
    if (why) *why = loaded.error;
    return nullptr;
  }
  return &loaded.api;
}

void check_cudnn(const Cudnn& api, int status, const char* what) {
  if (status != Cudnn::kSuccess) {
    throw Error(std::string("cuDNN ") + what + ": " + api.cudnnGetErrorString(status));
  }
}

namespace {
// Release paths must not throw; a failure there is worth a line in the log and nothing more.
void release(const Cudnn& api, int status, const char* what) noexcept {
  if (status != Cudnn::kSuccess)
    spdlog::warn("cuDNN {} failed: {}", what, api.cudnnGetErrorString(status));
}
} // namespace

CudnnHandle::CudnnHandle(const Cudnn& api, CUstream stream) : api_(api) {
  check_cudnn(api, api.cudnnCreate(&handle_), "create");
  try {
    check_cudnn(api, api.cudnnSetStream(handle_, stream), "set stream");
  } catch (...) {
    release(api, api.cudnnDestroy(handle_), "destroy");
    throw;
  }
}

CudnnHandle::~CudnnHandle() {
  if (handle_ != nullptr) release(api_, api_.cudnnDestroy(handle_), "destroy");
}

ConvDescriptors::ConvDescriptors(const Cudnn& api) : api_(api) {
  try {
    check_cudnn(api, api.cudnnCreateTensorDescriptor(&x), "input descriptor");
    check_cudnn(api, api.cudnnCreateFilterDescriptor(&w), "filter descriptor");
    check_cudnn(api, api.cudnnCreateTensorDescriptor(&y), "output descriptor");
    check_cudnn(api, api.cudnnCreateConvolutionDescriptor(&conv), "convolution descriptor");
  } catch (...) {
    destroy();
    throw;
  }
}

ConvDescriptors::~ConvDescriptors() {
  destroy();
}

void ConvDescriptors::destroy() noexcept {
  if (x != nullptr) release(api_, api_.cudnnDestroyTensorDescriptor(x), "destroy input descriptor");
  if (w != nullptr)
    release(api_, api_.cudnnDestroyFilterDescriptor(w), "destroy filter descriptor");
  if (y != nullptr)
    release(api_, api_.cudnnDestroyTensorDescriptor(y), "destroy output descriptor");
  if (conv != nullptr)
    release(api_, api_.cudnnDestroyConvolutionDescriptor(conv), "destroy convolution descriptor");
  x = w = y = conv = nullptr;
}

EpilogueDescriptors::EpilogueDescriptors(const Cudnn& api) : api_(api) {
  if (!api.epilogue_missing.empty()) throw Error(api.epilogue_missing);
  try {
    check_cudnn(api, api.cudnnCreateTensorDescriptor(&bias), "bias descriptor");
    check_cudnn(api, api.cudnnCreateActivationDescriptor(&activation), "activation descriptor");
  } catch (...) {
    destroy();
    throw;
  }
}

EpilogueDescriptors::~EpilogueDescriptors() {
  destroy();
}

void EpilogueDescriptors::destroy() noexcept {
  if (bias != nullptr)
    release(api_, api_.cudnnDestroyTensorDescriptor(bias), "destroy bias descriptor");
  if (activation != nullptr)
    release(api_, api_.cudnnDestroyActivationDescriptor(activation),
            "destroy activation descriptor");
  bias = activation = nullptr;
}

std::string cudnn_algo_name(int algo) {
  static const char* kNames[] = {
      "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
      "WINOGRAD",      "WINOGRAD_NONFUSED"};
  return algo >= 0 && algo < 8 ? kNames[algo] : "ALGO_" + std::to_string(algo);
}

std::string cudnn_version(const Cudnn& api) {
  size_t v = api.cudnnGetVersion();
  // cuDNN 9 encodes major*10000 + minor*100 + patch; cuDNN 8 major*1000 + minor*100 + patch.
  size_t major = v >= 90000 ? v / 10000 : v / 1000;
  size_t minor = v >= 90000 ? (v / 100) % 100 : (v / 100) % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

} // namespace chameleon::cuda
