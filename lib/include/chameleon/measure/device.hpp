#pragma once

#include "chameleon/cuda/device.hpp"
#include "chameleon/target/target.hpp"

namespace chameleon::measure {

// The target that describes a real GPU: its own limits, with the figures the driver does not
// report (FP32 lanes per SM, memory bandwidth) from the preset of the same architecture.
target::Target target_from_device(const cuda::DeviceInfo& d);
target::Target target_from_device(int ordinal);

// What makes measurements of one GPU comparable: name, arch, SMs, memory, clock, driver and NVRTC
// versions, as " | "-separated parts ("NVIDIA H100 80GB HBM3 | sm_90 | 132 SMs | 79.2 GiB |
// 1980 MHz | driver 13.0 | nvrtc 13.0"). Records of another fingerprint are stale.
std::string device_fingerprint(const cuda::DeviceInfo& d);

// The lock file through which chameleon processes measuring on the GPU at `pci_bus_id`
// (cuda::pci_bus_id) take turns, so that no process times a kernel while another runs one:
// $CHAMELEON_LOCK_DIR (default /tmp)/chameleon-gpu-DDDD-BB-DD.lock.
std::string gpu_turn_path(const std::string& pci_bus_id);

} // namespace chameleon::measure
