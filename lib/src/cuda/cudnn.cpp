#include "chameleon/cuda/cudnn.hpp"

#include "dl_bind.hpp"

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

std::string cudnn_algo_name(int algo) {
  static const char* kNames[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                 "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
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
