#include "chameleon/cuda/device.hpp"

#include "chameleon/cuda/driver.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace chameleon::cuda {

DeviceInfo query_device(int ordinal) {
  const DriverApi& api = driver();
  CUdevice dev = 0;
  CU_CHECK(api.cuDeviceGet(&dev, ordinal));
  auto attr = [&](CUdevice_attribute a) {
    int v = 0;
    CU_CHECK(api.cuDeviceGetAttribute(&v, a, dev));
    return v;
  };
  DeviceInfo d;
  d.ordinal = ordinal;
  char name[256] = {};
  CU_CHECK(api.cuDeviceGetName(name, sizeof(name), dev));
  d.name = name;
  d.cc_major = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  d.cc_minor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  d.sm_count = attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  d.clock_khz = attr(CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
  size_t mem = 0;
  CU_CHECK(api.cuDeviceTotalMem(&mem, dev));
  d.total_memory = int64_t(mem);
  d.memory_clock_khz = attr(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
  d.memory_bus_bits = attr(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
  d.max_threads_per_block = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
  d.max_block_dim[0] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
  d.max_block_dim[1] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y);
  d.max_block_dim[2] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z);
  d.max_grid_dim[0] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X);
  d.max_grid_dim[1] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y);
  d.max_grid_dim[2] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z);
  d.smem_per_block = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
  d.smem_per_block_optin = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  d.smem_per_sm = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
  d.smem_reserved_per_block = attr(CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK);
  d.regs_per_block = attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
  d.regs_per_sm = attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR);
  d.max_threads_per_sm = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
  d.max_blocks_per_sm = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
  d.warp_size = attr(CU_DEVICE_ATTRIBUTE_WARP_SIZE);
  d.l2_bytes = attr(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
  CU_CHECK(api.cuDriverGetVersion(&d.driver_version));
  // Only for the lock through which processes take turns on the GPU: a driver that does not say
  // costs the turns, never the GPU.
  auto optional_attr = [&](CUdevice_attribute a) {
    int v = -1;
    return api.cuDeviceGetAttribute(&v, a, dev) == CUDA_SUCCESS ? v : -1;
  };
  d.pci_domain = optional_attr(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
  d.pci_bus = optional_attr(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
  d.pci_device = optional_attr(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
  return d;
}

std::vector<DeviceInfo> list_devices() {
  const DriverApi& api = driver();
  int count = 0;
  CU_CHECK(api.cuDeviceGetCount(&count));
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) out.push_back(query_device(i));
  return out;
}

std::string pci_bus_id(const DeviceInfo& d) {
  if (d.pci_domain < 0 || d.pci_bus < 0 || d.pci_device < 0) return "";
  char id[32];
  std::snprintf(id, sizeof(id), "%04x:%02x:%02x", unsigned(d.pci_domain), unsigned(d.pci_bus),
                unsigned(d.pci_device));
  return id;
}

nlohmann::json to_json(const DeviceInfo& d) {
  return {{"ordinal", d.ordinal},
          {"name", d.name},
          {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
          {"sm_count", d.sm_count},
          {"clock_mhz", d.clock_khz / 1000},
          {"memory_gib", double(d.total_memory) / (1 << 30)},
          {"memory_clock_mhz", d.memory_clock_khz / 1000},
          {"memory_bus_bits", d.memory_bus_bits},
          {"l2_bytes", d.l2_bytes},
          {"smem_per_block_optin", d.smem_per_block_optin},
          {"pci_bus_id", pci_bus_id(d)},
          {"driver_version", std::to_string(d.driver_version / 1000) + "." +
                                 std::to_string((d.driver_version % 1000) / 10)}};
}

} // namespace chameleon::cuda
