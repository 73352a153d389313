#include "chameleon/cuda/handles.hpp"

#include <spdlog/spdlog.h>

namespace chameleon::cuda {

namespace {
// Release paths must not throw; a failure there is worth a line in the log and nothing more.
void release(CUresult r, const char* what) noexcept {
  if (r != CUDA_SUCCESS) spdlog::warn("CUDA {} failed: {}", what, error_name(r));
}
} // namespace

PrimaryContext::PrimaryContext(int ordinal) {
  const DriverApi& api = driver();
  CU_CHECK(api.cuDeviceGet(&device_, ordinal));
  CU_CHECK(api.cuDevicePrimaryCtxRetain(&ctx_, device_));
  CU_CHECK(api.cuCtxSetCurrent(ctx_));
}

PrimaryContext::~PrimaryContext() {
  if (ctx_ != nullptr) release(driver().cuDevicePrimaryCtxRelease(device_), "context release");
}

Module::Module(const std::string& image) {
  CU_CHECK(driver().cuModuleLoadData(&mod_, image.data()));
}

Module Module::load(const std::string& image, CUresult* error) {
  Module m;
  CUresult r = driver().cuModuleLoadData(&m.mod_, image.data());
  if (r != CUDA_SUCCESS) m.mod_ = nullptr;
  if (error != nullptr) *error = r;
  return m;
}

CUresult Module::find(const std::string& name, CUfunction* f) const {
  return driver().cuModuleGetFunction(f, mod_, name.c_str());
}

Module::~Module() {
  if (mod_ != nullptr) release(driver().cuModuleUnload(mod_), "module unload");
}

Module& Module::operator=(Module&& o) noexcept {
  if (this != &o) {
    if (mod_ != nullptr) release(driver().cuModuleUnload(mod_), "module unload");
    mod_ = std::exchange(o.mod_, nullptr);
  }
  return *this;
}

CUfunction Module::function(const std::string& name) const {
  CUfunction f = nullptr;
  CU_CHECK(driver().cuModuleGetFunction(&f, mod_, name.c_str()));
  return f;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  CU_CHECK(driver().cuMemAlloc(&ptr_, bytes == 0 ? 4 : bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != 0) release(driver().cuMemFree(ptr_), "memory free");
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != 0) release(driver().cuMemFree(ptr_), "memory free");
    ptr_ = std::exchange(o.ptr_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* src, size_t bytes) {
  CU_CHECK(driver().cuMemcpyHtoD(ptr_, src, bytes));
  // From pageable memory, cuMemcpyHtoD may return before its DMA has landed, and it runs on the
  // legacy stream, which our non-blocking streams do not wait for: without this, a kernel launched
  // next on such a stream (the reference conv2d) could read a half-uploaded tensor. Seen on an
  // H200: a reference computed from partly uploaded weights failed our kernel and cuDNN alike.
  CU_CHECK(driver().cuCtxSynchronize());
}

void DeviceBuffer::download(void* dst, size_t bytes) const {
  CU_CHECK(driver().cuMemcpyDtoH(dst, ptr_, bytes));
}

Stream::Stream() {
  CU_CHECK(driver().cuStreamCreate(&s_, CU_STREAM_NON_BLOCKING));
}

Stream::~Stream() {
  if (s_ != nullptr) release(driver().cuStreamDestroy(s_), "stream destroy");
}

void Stream::synchronize() const {
  CU_CHECK(driver().cuStreamSynchronize(s_));
}

Event::Event() {
  CU_CHECK(driver().cuEventCreate(&e_, CU_EVENT_DEFAULT));
}

Event::~Event() {
  if (e_ != nullptr) release(driver().cuEventDestroy(e_), "event destroy");
}

void Event::record(CUstream s) const {
  CU_CHECK(driver().cuEventRecord(e_, s));
}

float Event::elapsed_since(const Event& start) const {
  CU_CHECK(driver().cuEventSynchronize(e_));
  float ms = 0;
  CU_CHECK(driver().cuEventElapsedTime(&ms, start.e_, e_));
  return ms;
}

GraphExec::GraphExec(CUgraph graph) : graph_(graph) {
  CUresult r = driver().cuGraphInstantiateWithFlags(&exec_, graph_, 0);
  if (r != CUDA_SUCCESS) {
    release(driver().cuGraphDestroy(graph_), "graph destroy");
    graph_ = nullptr;
    CU_CHECK(r);
  }
}

GraphExec::~GraphExec() {
  if (exec_ != nullptr) release(driver().cuGraphExecDestroy(exec_), "graph exec destroy");
  if (graph_ != nullptr) release(driver().cuGraphDestroy(graph_), "graph destroy");
}

GraphExec& GraphExec::operator=(GraphExec&& o) noexcept {
  if (this != &o) {
    if (exec_ != nullptr) release(driver().cuGraphExecDestroy(exec_), "graph exec destroy");
    if (graph_ != nullptr) release(driver().cuGraphDestroy(graph_), "graph destroy");
    graph_ = std::exchange(o.graph_, nullptr);
    exec_ = std::exchange(o.exec_, nullptr);
  }
  return *this;
}

void GraphExec::launch(CUstream s) const {
  CU_CHECK(driver().cuGraphLaunch(exec_, s));
}

} // namespace chameleon::cuda
