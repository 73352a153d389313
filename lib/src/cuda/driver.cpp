#include "chameleon/cuda/driver.hpp"

#include "dl_bind.hpp"

#include <dlfcn.h>

#include <mutex>

namespace chameleon::cuda {

namespace {

struct Loaded {
  DriverApi api{};
  std::string error; // empty when usable
};

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
  auto bind = [&](auto& fn, const char* symbol) {
    bind_symbol(lib, fn, symbol, "the CUDA driver", e);
  };
  bind(a.cuInit, "cuInit");
  bind(a.cuDriverGetVersion, "cuDriverGetVersion");
  bind(a.cuGetErrorName, "cuGetErrorName");
  bind(a.cuGetErrorString, "cuGetErrorString");
  bind(a.cuDeviceGetCount, "cuDeviceGetCount");
  bind(a.cuDeviceGet, "cuDeviceGet");
  bind(a.cuDeviceGetName, "cuDeviceGetName");
  bind(a.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(a.cuDeviceTotalMem, "cuDeviceTotalMem_v2");
  bind(a.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(a.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  bind(a.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(a.cuCtxSynchronize, "cuCtxSynchronize");
  bind(a.cuModuleLoadData, "cuModuleLoadData");
  bind(a.cuModuleUnload, "cuModuleUnload");
  bind(a.cuModuleGetFunction, "cuModuleGetFunction");
  bind(a.cuFuncGetAttribute, "cuFuncGetAttribute");
  bind(a.cuFuncSetAttribute, "cuFuncSetAttribute");
  bind(a.cuLaunchKernel, "cuLaunchKernel");
  bind(a.cuMemAlloc, "cuMemAlloc_v2");
  bind(a.cuMemFree, "cuMemFree_v2");
  bind(a.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  bind(a.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  bind(a.cuMemcpyDtoD, "cuMemcpyDtoD_v2");
  bind(a.cuMemsetD32Async, "cuMemsetD32Async");
  bind(a.cuStreamCreate, "cuStreamCreate");
  bind(a.cuStreamDestroy, "cuStreamDestroy_v2");
  bind(a.cuStreamSynchronize, "cuStreamSynchronize");
  bind(a.cuEventCreate, "cuEventCreate");
  bind(a.cuEventDestroy, "cuEventDestroy_v2");
  bind(a.cuEventRecord, "cuEventRecord");
  bind(a.cuEventSynchronize, "cuEventSynchronize");
  bind(a.cuEventElapsedTime, "cuEventElapsedTime");
  bind(a.cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  bind(a.cuStreamEndCapture, "cuStreamEndCapture");
  bind(a.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
  bind(a.cuGraphLaunch, "cuGraphLaunch");
  bind(a.cuGraphExecDestroy, "cuGraphExecDestroy");
  bind(a.cuGraphDestroy, "cuGraphDestroy");
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
  if (api != nullptr && api->cuGetErrorName(r, &name) == CUDA_SUCCESS && name != nullptr)
    return name;
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
