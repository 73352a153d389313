#pragma once

#include "chameleon/cuda/device.hpp"
#include "chameleon/target/target.hpp"

namespace chameleon::measure {

// The target that describes a real GPU: its own limits, with the figures the driver does not
// report (FP32 lanes per SM, memory bandwidth) from the preset of the same architecture.
target::Target target_from_device(const cuda::DeviceInfo& d);
target::Target target_from_device(int ordinal);

} // namespace chameleon::measure
