#include "chameleon/cuda/cudnn.hpp"

#include <dlfcn.h>

namespace chameleon::cuda {

namespace {

struct Loaded {
  Cudnn api{};
  std::string error;
};

template <class Fn> void bind(void* lib, Fn& fn, const char* symbol, std::string& error) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (fn == nullptr && error.empty()) error = std::string("cuDNN lacks ") + symbol;
}

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
  bind(lib, a.cudnnGetVersion, "cudnnGetVersion", e);
  bind(lib, a.cudnnGetErrorString, "cudnnGetErrorString", e);
  bind(lib, a.cudnnCreate, "cudnnCreate", e);
  bind(lib, a.cudnnDestroy, "cudnnDestroy", e);
  bind(lib, a.cudnnSetStream, "cudnnSetStream", e);
  bind(lib, a.cudnnCreateTensorDescriptor, "cudnnCreateTensorDescriptor", e);
  bind(lib, a.cudnnSetTensor4dDescriptor, "cudnnSetTensor4dDescriptor", e);
  bind(lib, a.cudnnDestroyTensorDescriptor, "cudnnDestroyTensorDescriptor", e);
  bind(lib, a.cudnnCreateFilterDescriptor, "cudnnCreateFilterDescriptor", e);
  bind(lib, a.cudnnSetFilter4dDescriptor, "cudnnSetFilter4dDescriptor", e);
  bind(lib, a.cudnnDestroyFilterDescriptor, "cudnnDestroyFilterDescriptor", e);
  bind(lib, a.cudnnCreateConvolutionDescriptor, "cudnnCreateConvolutionDescriptor", e);
  bind(lib, a.cudnnSetConvolution2dDescriptor, "cudnnSetConvolution2dDescriptor", e);
  bind(lib, a.cudnnSetConvolutionGroupCount, "cudnnSetConvolutionGroupCount", e);
  bind(lib, a.cudnnSetConvolutionMathType, "cudnnSetConvolutionMathType", e);
  bind(lib, a.cudnnDestroyConvolutionDescriptor, "cudnnDestroyConvolutionDescriptor", e);
  bind(lib, a.cudnnFindConvolutionForwardAlgorithm, "cudnnFindConvolutionForwardAlgorithm", e);
  bind(lib, a.cudnnGetConvolutionForwardWorkspaceSize, "cudnnGetConvolutionForwardWorkspaceSize", e);
  bind(lib, a.cudnnConvolutionForward, "cudnnConvolutionForward", e);
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
