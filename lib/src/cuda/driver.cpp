#include "chameleon/cuda/driver.hpp"

#include <dlfcn.h>

#include <mutex>

namespace chameleon::cuda {

namespace {

struct Loaded {
  DriverApi api{};
  std::string error; // empty when usable
};

template <class Fn> bool bind(void* lib, Fn& fn, const char* symbol, std::string& error) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (fn == nullptr && error.empty()) {
    error = std::string("the CUDA driver lacks ") + symbol + " (driver too old?)";
  }
  return fn != nullptr;
}

Loaded load() {
  Loaded out;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    out.error = "no CUDA driver found (libcuda.so.1 cannot be loaded): this needs a machine with "
                "an NVIDIA GPU and its driver; use --device sim to simulate a target instead";
    return out;
  }
  DriverApi& a = out.api;
  std::string& e = out.error;
  bind(lib, a.cuInit, "cuInit", e);
  bind(lib, a.cuDriverGetVersion, "cuDriverGetVersion", e);
  bind(lib, a.cuGetErrorName, "cuGetErrorName", e);
  bind(lib, a.cuGetErrorString, "cuGetErrorString", e);
  bind(lib, a.cuDeviceGetCount, "cuDeviceGetCount", e);
  bind(lib, a.cuDeviceGet, "cuDeviceGet", e);
  bind(lib, a.cuDeviceGetName, "cuDeviceGetName", e);
  bind(lib, a.cuDeviceGetAttribute, "cuDeviceGetAttribute", e);
  bind(lib, a.cuDeviceTotalMem, "cuDeviceTotalMem_v2", e);
  bind(lib, a.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", e);
  bind(lib, a.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", e);
  bind(lib, a.cuCtxSetCurrent, "cuCtxSetCurrent", e);
  bind(lib, a.cuCtxSynchronize, "cuCtxSynchronize", e);
  bind(lib, a.cuModuleLoadData, "cuModuleLoadData", e);
  bind(lib, a.cuModuleUnload, "cuModuleUnload", e);
  bind(lib, a.cuModuleGetFunction, "cuModuleGetFunction", e);
  bind(lib, a.cuFuncGetAttribute, "cuFuncGetAttribute", e);
  bind(lib, a.cuFuncSetAttribute, "cuFuncSetAttribute", e);
  bind(lib, a.cuLaunchKernel, "cuLaunchKernel", e);
  bind(lib, a.cuMemAlloc, "cuMemAlloc_v2", e);
  bind(lib, a.cuMemFree, "cuMemFree_v2", e);
  bind(lib, a.cuMemcpyHtoD, "cuMemcpyHtoD_v2", e);
  bind(lib, a.cuMemcpyDtoH, "cuMemcpyDtoH_v2", e);
  bind(lib, a.cuMemcpyDtoD, "cuMemcpyDtoD_v2", e);
  bind(lib, a.cuMemsetD32Async, "cuMemsetD32Async", e);
  bind(lib, a.cuStreamCreate, "cuStreamCreate", e);
  bind(lib, a.cuStreamDestroy, "cuStreamDestroy_v2", e);
  bind(lib, a.cuStreamSynchronize, "cuStreamSynchronize", e);
  bind(lib, a.cuEventCreate, "cuEventCreate", e);
  bind(lib, a.cuEventDestroy, "cuEventDestroy_v2", e);
  bind(lib, a.cuEventRecord, "cuEventRecord", e);
  bind(lib, a.cuEventSynchronize, "cuEventSynchronize", e);
  bind(lib, a.cuEventElapsedTime, "cuEventElapsedTime", e);
  bind(lib, a.cuStreamBeginCapture, "cuStreamBeginCapture_v2", e);
  bind(lib, a.cuStreamEndCapture, "cuStreamEndCapture", e);
  bind(lib, a.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", e);
  bind(lib, a.cuGraphLaunch, "cuGraphLaunch", e);
  bind(lib, a.cuGraphExecDestroy, "cuGraphExecDestroy", e);
  bind(lib, a.cuGraphDestroy, "cuGraphDestroy", e);
  if (!e.empty()) return out;
  CUresult r = a.cuInit(0);
  if (r != CUDA_SUCCESS) {
    const char* name = nullptr;
    a.cuGetErrorName(r, &name);
    out.error = std::string("the CUDA driver failed to initialize (") + (name ? name : "?") +
                "): no usable GPU; use --device sim to simulate a target instead";
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded instance = load();
  return instance;
}

} // namespace

const DriverApi* try_driver(std::string* why) {
  const Loaded& l = loaded();
  if (!l.error.empty()) {
    if (why) *why = l.error;
    return nullptr;
  }
  return &l.api;
}

const DriverApi& driver() {
  std::string why;
  const DriverApi* api = try_driver(&why);
  if (api == nullptr) throw Error(why);
  return *api;
}

std::string error_name(CUresult r) {
  std::string why;
  const DriverApi* api = try_driver(&why);
  const char* name = nullptr;
  if (api != nullptr && api->cuGetErrorName(r, &name) == CUDA_SUCCESS && name != nullptr) return name;
  return "CUresult " + std::to_string(int(r));
}

void check(CUresult r, const char* call, const char* file, int line) {
  if (r == CUDA_SUCCESS) return;
  std::string name = error_name(r);
  const char* text = nullptr;
  const DriverApi* api = try_driver(nullptr);
  if (api != nullptr) api->cuGetErrorString(r, &text);
  throw CudaError(r, name,
                  name + (text ? std::string(" (") + text + ")" : std::string()) + " in " + call +
                      " at " + file + ":" + std::to_string(line));
}

bool is_sticky(CUresult r) {
  switch (r) {
  case CUDA_ERROR_ILLEGAL_ADDRESS:
  case CUDA_ERROR_LAUNCH_FAILED:
  case CUDA_ERROR_MISALIGNED_ADDRESS:
  case CUDA_ERROR_INVALID_ADDRESS_SPACE:
  case CUDA_ERROR_INVALID_PC:
  case CUDA_ERROR_ILLEGAL_INSTRUCTION:
  case CUDA_ERROR_HARDWARE_STACK_ERROR:
  case CUDA_ERROR_ASSERT:
  case CUDA_ERROR_LAUNCH_TIMEOUT:
  case CUDA_ERROR_ECC_UNCORRECTABLE:
  case CUDA_ERROR_CONTEXT_IS_DESTROYED:
    return true;
  default:
    return false;
  }
}

} // namespace chameleon::cuda
