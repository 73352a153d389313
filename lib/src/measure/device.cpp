#include "chameleon/measure/device.hpp"

#include "chameleon/cuda/nvrtc.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace chameleon::measure {

target::Target target_from_device(const cuda::DeviceInfo& d) {
  target::Target t;
  if (const target::Target* p = target::closest_preset(d.name, d.cc_major * 10 + d.cc_minor))
    t = *p;
  t.name = "auto";
  t.description = d.name + " (GPU " + std::to_string(d.ordinal) + ")";
  t.sm_major = d.cc_major;
  t.sm_minor = d.cc_minor;
  t.sm_count = d.sm_count;
  t.clock_mhz = d.clock_khz / 1000.0;
  if (t.fp32_lanes_per_sm == 0) {
    t.fp32_lanes_per_sm = (d.cc_major == 7 || (d.cc_major == 8 && d.cc_minor == 0)) ? 64 : 128;
  }
  t.warp_size = d.warp_size;
  t.max_threads_per_block = d.max_threads_per_block;
  std::copy(d.max_block_dim, d.max_block_dim + 3, t.max_block_dim);
  std::copy(d.max_grid_dim, d.max_grid_dim + 3, t.max_grid_dim);
  t.smem_per_block = d.smem_per_block;
  t.smem_per_block_optin = d.smem_per_block_optin;
  t.smem_per_sm = d.smem_per_sm;
  t.smem_reserved_per_block = d.smem_reserved_per_block;
  t.regs_per_block = d.regs_per_block;
  t.regs_per_sm = d.regs_per_sm;
  t.max_threads_per_sm = d.max_threads_per_sm;
  t.max_blocks_per_sm = d.max_blocks_per_sm;
  t.l2_bytes = d.l2_bytes;
  if (t.mem_bandwidth_gbs == 0) {
    // DDR: two transfers per clock.
    t.mem_bandwidth_gbs = 2.0 * d.memory_clock_khz * 1e3 * (d.memory_bus_bits / 8) / 1e9;
  }
  return t;
}

target::Target target_from_device(int ordinal) {
  return target_from_device(cuda::query_device(ordinal));
}

std::string device_fingerprint(const cuda::DeviceInfo& d) {
  char memory[32];
  std::snprintf(memory, sizeof(memory), "%.1f GiB", double(d.total_memory) / double(1 << 30));
  return d.name + " | sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor) + " | " +
         std::to_string(d.sm_count) + " SMs | " + memory + " | " +
         std::to_string(d.clock_khz / 1000) + " MHz | driver " +
         std::to_string(d.driver_version / 1000) + "." +
         std::to_string((d.driver_version % 1000) / 10) + " | nvrtc " +
         cuda::nvrtc_version(d.cc_major * 10 + d.cc_minor);
}

std::string gpu_turn_path(const std::string& pci_bus_id) {
  const char* dir = std::getenv("CHAMELEON_LOCK_DIR");
  std::string name = pci_bus_id;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
      '-');
  return std::string(dir && *dir ? dir : "/tmp") + "/chameleon-gpu-" + name + ".lock";
}

} // namespace chameleon::measure
