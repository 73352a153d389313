#include <catch2/catch.hpp>

#include "chameleon/target/resources.hpp"
#include "chameleon/target/target.hpp"

#include <nlohmann/json.hpp>

using namespace chameleon;

TEST_CASE("the occupancy arithmetic follows the hardware's allocation", "[target]") {
  const target::Target h100 = target::find_preset("h100");
  // Registers go per warp in units of 256; threads round up to whole warps.
  CHECK(target::registers_per_warp(h100, 1) == 256);
  CHECK(target::registers_per_warp(h100, 8) == 256);
  CHECK(target::registers_per_warp(h100, 9) == 512);
  CHECK(target::warps_per_block(h100, 33) == 2);
  CHECK(target::block_registers(h100, 256, 64) == 8 * 2048);
  // 256 threads x 64 registers: 4 blocks fill the register file; 8 by threads.
  CHECK(target::blocks_per_sm(h100, 256, 64, 0) == 4);
  // 128 threads x 32 registers: 16 by registers and threads, 32 blocks at most.
  CHECK(target::blocks_per_sm(h100, 128, 32, 0) == 16);
  // Shared memory counts with the per-block reservation.
  CHECK(target::block_smem(h100, 1000) == 1000 + h100.smem_reserved_per_block);
  CHECK(target::blocks_per_sm(h100, 64, 16, 100 * 1024) == 2);
  // A block that does not fit at all.
  CHECK(target::blocks_per_sm(h100, 64, 16, 300 * 1024) == 0);
  const target::LaunchCheck too_many = target::check_launch(h100, 1024, 128);
  CHECK_FALSE(too_many.ok);
  CHECK(too_many.reason == "128 registers x 1024 threads exceed the 65536 registers of a block");
  CHECK_FALSE(target::check_launch(h100, 2048, 8).ok);
  CHECK(target::check_launch(h100, 1024, 64).ok);
}

TEST_CASE("a kernel's registers: compiled where known, else the capped prediction", "[target]") {
  const target::Target h100 = target::find_preset("h100");
  target::Resources compiled;
  compiled.registers = 40;
  CHECK(target::kernel_registers(h100, 300, &compiled) == 40);
  CHECK(target::kernel_registers(h100, 300, nullptr) == 255);
  compiled.registers = 0; // not compiled (estimated): the prediction
  CHECK(target::kernel_registers(h100, 100, &compiled) == 100);
  // ptxas fits a block in the register file: 1024 threads get at most 64 registers each.
  CHECK(target::register_cap(h100, 1024) == 64);
  CHECK(target::register_cap(h100, 1000) == 64);
  CHECK(target::register_cap(h100, 128) == 255);
  CHECK(target::register_cap(h100, 320) == 200);
}

TEST_CASE("resources round-trip through JSON", "[target]") {
  target::Resources r{96, 8036, 12, 8, 16};
  const target::Resources back = target::resources_from_json(target::to_json(r));
  CHECK(back.registers == 96);
  CHECK(back.static_smem == 8036);
  CHECK(back.spill_stores == 12);
  CHECK(back.spill_loads == 8);
  CHECK(back.stack_frame == 16);
  CHECK(target::resources_from_json(nlohmann::json::object()).registers == 0);
}
