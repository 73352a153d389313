#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::cuda {

// What the driver says about one GPU.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int clock_khz = 0;
  int64_t total_memory = 0;
  int memory_clock_khz = 0, memory_bus_bits = 0;
  int max_threads_per_block = 0;
  int max_block_dim[3] = {0, 0, 0};
  int max_grid_dim[3] = {0, 0, 0};
  int smem_per_block = 0, smem_per_block_optin = 0, smem_per_sm = 0, smem_reserved_per_block = 0;
  int regs_per_block = 0, regs_per_sm = 0;
  int max_threads_per_sm = 0, max_blocks_per_sm = 0;
  int warp_size = 32;
  int64_t l2_bytes = 0;
  int driver_version = 0;                             // e.g. 13000
  int pci_domain = -1, pci_bus = -1, pci_device = -1; // -1: the driver did not say
};

// "0000:17:00": the GPU's place on the PCI bus, the same in every process whatever
// CUDA_VISIBLE_DEVICES numbers it; "" when the driver did not say.
std::string pci_bus_id(const DeviceInfo& d);

// Every GPU the driver sees; throws chameleon::Error when there is no driver.
std::vector<DeviceInfo> list_devices();
DeviceInfo query_device(int ordinal);

nlohmann::json to_json(const DeviceInfo& d);

} // namespace chameleon::cuda
