#pragma once

#include "chameleon/target/target.hpp"

#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::target {

// What a kernel claims of an SM: ptxas's report for a compiled kernel (NVRTC's log), or a
// template's prediction for one not compiled. The one definition the compiler, the sim, the cost
// model's features and the static checks share.
struct Resources {
  int registers = 0;                                      // per thread
  int static_smem = 0;                                    // bytes per block
  int spill_stores = 0, spill_loads = 0, stack_frame = 0; // bytes per thread
};
nlohmann::json to_json(const Resources& r);
Resources resources_from_json(const nlohmann::json& j);

// The occupancy arithmetic of the hardware, written once. Registers are allocated per warp in
// units of 256; a block's threads are rounded up to whole warps.
int64_t warps_per_block(const Target& t, int64_t threads);
int64_t registers_per_warp(const Target& t, int registers);
// Registers a block of `threads` threads takes from the register file.
int64_t block_registers(const Target& t, int64_t threads, int registers);
// Shared memory a block takes from its SM: its own plus the driver's per-block reservation.
int64_t block_smem(const Target& t, int64_t smem_bytes);

// Whether one block of this shape can be launched at all, with the reason when not.
struct LaunchCheck {
  bool ok = true;
  std::string reason;
};
LaunchCheck check_launch(const Target& t, int64_t threads, int registers);

// Blocks of `threads` threads using `registers` registers each and `smem_bytes` of shared memory
// (reservation excluded; block_smem adds it) that an SM holds at once: 0 when one does not fit.
int64_t blocks_per_sm(const Target& t, int64_t threads, int registers, int64_t smem_bytes);

// The registers a kernel gets: the compiled count where there is one, else the template's
// prediction capped at the thread's limit (ptxas spills the rest).
int kernel_registers(const Target& t, int predicted, const Resources* compiled);

// The most registers per thread ptxas gives a block of `threads` threads so that the block fits
// the register file: the thread's limit, or the file's share rounded down to a multiple of 8.
int register_cap(const Target& t, int64_t threads);

} // namespace chameleon::target
