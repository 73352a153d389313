#include "chameleon/target/resources.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace chameleon::target {

nlohmann::json to_json(const Resources& r) {
  return {{"registers", r.registers},
          {"static_smem", r.static_smem},
          {"spill_stores", r.spill_stores},
          {"spill_loads", r.spill_loads},
          {"stack_frame", r.stack_frame}};
}

Resources resources_from_json(const nlohmann::json& j) {
  Resources r;
  r.registers = j.value("registers", 0);
  r.static_smem = j.value("static_smem", 0);
  r.spill_stores = j.value("spill_stores", 0);
  r.spill_loads = j.value("spill_loads", 0);
  r.stack_frame = j.value("stack_frame", 0);
  return r;
}

namespace {
int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}
} // namespace

int64_t warps_per_block(const Target& t, int64_t threads) {
  return ceil_div(threads, t.warp_size);
}

int64_t registers_per_warp(const Target& t, int registers) {
  return ceil_div(int64_t(registers) * t.warp_size, 256) * 256;
}

int64_t block_registers(const Target& t, int64_t threads, int registers) {
  return warps_per_block(t, threads) * registers_per_warp(t, registers);
}

int64_t block_smem(const Target& t, int64_t smem_bytes) {
  return smem_bytes + t.smem_reserved_per_block;
}

LaunchCheck check_launch(const Target& t, int64_t threads, int registers) {
  if (threads > t.max_threads_per_block) {
    return {false, std::to_string(threads) + " threads exceed the " +
                       std::to_string(t.max_threads_per_block) + " of a block"};
  }
  if (block_registers(t, threads, registers) > t.regs_per_block) {
    return {false, std::to_string(registers) + " registers x " + std::to_string(threads) +
                       " threads exceed the " + std::to_string(t.regs_per_block) +
                       " registers of a block"};
  }
  return {};
}

int64_t blocks_per_sm(const Target& t, int64_t threads, int registers, int64_t smem_bytes) {
  const int64_t warps = warps_per_block(t, threads);
  if (warps <= 0) return 0;
  int64_t bps = t.max_blocks_per_sm;
  bps = std::min<int64_t>(bps, t.max_threads_per_sm / (warps * t.warp_size));
  const int64_t regs = block_registers(t, threads, registers);
  if (regs > 0) bps = std::min<int64_t>(bps, t.regs_per_sm / regs);
  const int64_t smem = block_smem(t, smem_bytes);
  if (smem > 0) bps = std::min<int64_t>(bps, t.smem_per_sm / smem);
  return std::max<int64_t>(bps, 0);
}

int kernel_registers(const Target& t, int predicted, const Resources* compiled) {
  if (compiled != nullptr && compiled->registers > 0) return compiled->registers;
  return std::min(predicted, t.max_regs_per_thread);
}

int register_cap(const Target& t, int64_t threads) {
  const int64_t whole_warps = warps_per_block(t, threads) * t.warp_size;
  return int(std::min<int64_t>(t.max_regs_per_thread, (t.regs_per_block / whole_warps) / 8 * 8));
}

} // namespace chameleon::target
