#pragma once

#include "chameleon/cuda/driver.hpp"

#include <cstddef>
#include <string>
#include <utility>

namespace chameleon::cuda {

// Move-only owners of driver handles. Destructors never throw: a failed release is logged.

class PrimaryContext {
public:
  explicit PrimaryContext(int ordinal); // retains the device's primary context and makes it current
  ~PrimaryContext();
  PrimaryContext(const PrimaryContext&) = delete;
  PrimaryContext& operator=(const PrimaryContext&) = delete;
  CUdevice device() const { return device_; }

private:
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
};

class Module {
public:
  Module() = default;
  explicit Module(const std::string& image); // cubin or PTX; chameleon::Error when it does not load
  // The same without throwing: an empty Module and the driver's error in `error`, for a caller
  // to whom a module that does not load is data (a measurement's error), not an exception.
  static Module load(const std::string& image, CUresult* error);
  ~Module();
  Module(Module&& o) noexcept : mod_(std::exchange(o.mod_, nullptr)) {}
  Module& operator=(Module&& o) noexcept;
  CUfunction function(const std::string& name) const;
  // The entry `name` in `*f`, or the driver's error (nothing thrown).
  CUresult find(const std::string& name, CUfunction* f) const;
  explicit operator bool() const { return mod_ != nullptr; }

private:
  CUmodule mod_ = nullptr;
};

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, 0)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  CUdeviceptr get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  void upload(const void* src, size_t bytes);
  void download(void* dst, size_t bytes) const;

private:
  CUdeviceptr ptr_ = 0;
  size_t bytes_ = 0;
};

class Stream {
public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  CUstream get() const { return s_; }
  void synchronize() const;

private:
  CUstream s_ = nullptr;
};

class Event {
public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  CUevent get() const { return e_; }
  void record(CUstream s) const;
  // Milliseconds from `start` to this event (both recorded; waits for this one).
  float elapsed_since(const Event& start) const;

private:
  CUevent e_ = nullptr;
};

// An instantiated CUDA graph captured from a stream.
class GraphExec {
public:
  GraphExec() = default;
  GraphExec(CUgraph graph); // takes ownership of the graph
  ~GraphExec();
  GraphExec(GraphExec&& o) noexcept
      : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}
  GraphExec& operator=(GraphExec&& o) noexcept;
  void launch(CUstream s) const;
  explicit operator bool() const { return exec_ != nullptr; }

private:
  CUgraph graph_ = nullptr;
  CUgraphExec exec_ = nullptr;
};

} // namespace chameleon::cuda
