#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::target {

// What a kernel must respect on a GPU and the figures the sim model needs.
struct Target {
  std::string name;        // "h100"
  std::string description; // "NVIDIA H100 SXM5 80GB"
  int sm_major = 0, sm_minor = 0;
  int sm_count = 0;
  double clock_mhz = 0;      // boost clock
  int fp32_lanes_per_sm = 0; // FP32 FMA units per SM
  int warp_size = 32;
  int max_threads_per_block = 1024;
  int max_block_dim[3] = {1024, 1024, 64};
  int max_grid_dim[3] = {2147483647, 65535, 65535};
  int smem_per_block = 48 * 1024;       // without opt-in (static shared memory limit)
  int smem_per_block_optin = 48 * 1024; // with cuFuncSetAttribute opt-in
  int smem_per_sm = 0;
  int smem_reserved_per_block = 0; // driver's per-block reservation (1 KB since sm_80)
  int regs_per_sm = 65536;
  int regs_per_block = 65536;
  int max_regs_per_thread = 255;
  int max_threads_per_sm = 2048;
  int max_blocks_per_sm = 32;
  int64_t l2_bytes = 0;
  double mem_bandwidth_gbs = 0;

  std::string arch() const; // "sm_90"
  int sm() const { return sm_major * 10 + sm_minor; }
  double peak_fp32_gflops() const {
    return 2.0 * sm_count * fp32_lanes_per_sm * clock_mhz / 1000.0;
  }
};

const std::vector<Target>& presets();

// A preset by name (case-insensitive); throws chameleon::Error listing the known names. "auto" is
// not handled here: it needs the driver (see measure::target_from_device).
Target find_preset(const std::string& name);

// The preset of architecture `sm` (90 for sm_90) that a GPU's name names ("NVIDIA H200" is h200),
// else the first preset of that architecture; nullptr when none has it.
const Target* closest_preset(const std::string& device_name, int sm);

// The compute capability of a GPU named as AutoTVM's `-model=` and TopHub name them ("v100",
// "1080ti", "t4", or a preset's name): 70 for "v100"; 0 for a name it does not know.
int sm_of_model(const std::string& model);

nlohmann::json to_json(const Target& t);
// Reads what to_json wrote (a GPU's own target, recorded with its measurements); fields it lacks
// keep the values of the preset of its architecture. Throws chameleon::Error on a bad one.
Target target_from_json(const nlohmann::json& j);

} // namespace chameleon::target
