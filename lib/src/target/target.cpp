#include "chameleon/target/target.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <utility>

#include <cstdlib>

namespace chameleon::target {

std::string Target::arch() const {
  return "sm_" + std::to_string(sm());
}

namespace {

struct Row {
  const char* name;
  const char* description;
  int major, minor, sms;
  double clock_mhz;
  int lanes;
  int smem_optin_kb, smem_sm_kb, reserved;
  int max_threads_sm, max_blocks_sm;
  double l2_mb, bandwidth;
};

// Figures from NVIDIA's CUDA programming guide (compute capability tables) and product sheets.
constexpr Row kRows[] = {
    {"titanxp", "NVIDIA TITAN Xp (Pascal)", 6, 1, 30, 1582, 128, 48, 96, 0, 2048, 32, 3, 547.7},
    {"1080ti", "NVIDIA GeForce GTX 1080 Ti (Pascal)", 6, 1, 28, 1582, 128, 48, 96, 0, 2048, 32,
     2.75, 484},
    {"v100", "NVIDIA Tesla V100 SXM2 (Volta)", 7, 0, 80, 1530, 64, 96, 96, 0, 2048, 32, 6, 900},
    {"t4", "NVIDIA T4 (Turing)", 7, 5, 40, 1590, 64, 64, 64, 0, 1024, 16, 4, 320},
    {"a100", "NVIDIA A100 SXM4 80GB (Ampere)", 8, 0, 108, 1410, 64, 163, 164, 1, 2048, 32, 40,
     2039},
    {"a10", "NVIDIA A10 (Ampere)", 8, 6, 72, 1695, 128, 99, 100, 1, 1536, 16, 6, 600},
    {"l4", "NVIDIA L4 (Ada)", 8, 9, 58, 2040, 128, 99, 100, 1, 1536, 24, 48, 300},
    {"rtx4090", "NVIDIA GeForce RTX 4090 (Ada)", 8, 9, 128, 2520, 128, 99, 100, 1, 1536, 24, 72,
     1008},
    {"h100", "NVIDIA H100 SXM5 80GB (Hopper)", 9, 0, 132, 1980, 128, 227, 228, 1, 2048, 32, 50,
     3350},
    {"h200", "NVIDIA H200 SXM 141GB (Hopper)", 9, 0, 132, 1980, 128, 227, 228, 1, 2048, 32, 50,
     4800},
};

Target from_row(const Row& r) {
  Target t;
  t.name = r.name;
  t.description = r.description;
  t.sm_major = r.major;
  t.sm_minor = r.minor;
  t.sm_count = r.sms;
  t.clock_mhz = r.clock_mhz;
  t.fp32_lanes_per_sm = r.lanes;
  t.smem_per_block_optin = r.smem_optin_kb * 1024;
  t.smem_per_sm = r.smem_sm_kb * 1024;
  t.smem_reserved_per_block = r.reserved * 1024;
  t.max_threads_per_sm = r.max_threads_sm;
  t.max_blocks_per_sm = r.max_blocks_sm;
  t.l2_bytes = int64_t(r.l2_mb * 1024 * 1024);
  t.mem_bandwidth_gbs = r.bandwidth;
  return t;
}

} // namespace

const std::vector<Target>& presets() {
  static const std::vector<Target> all = [] {
    std::vector<Target> out;
    for (const Row& r : kRows) out.push_back(from_row(r));
    return out;
  }();
  return all;
}

const Target* closest_preset(const std::string& device_name, int sm) {
  const std::string name = util::lower(device_name);
  const Target* same_arch = nullptr;
  for (const Target& t : presets()) {
    if (t.sm() != sm) continue;
    if (name.find(t.name) != std::string::npos) return &t;
    if (same_arch == nullptr) same_arch = &t;
  }
  return same_arch;
}

Target find_preset(const std::string& name) {
  std::string want = util::lower(name);
  std::string known;
  for (const Target& t : presets()) {
    if (t.name == want) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  throw Error("unknown target '" + name + "' (known: " + known +
              ", or 'auto' to read GPU 0); 'chameleon targets' lists them");
}

int sm_of_model(const std::string& model) {
  const std::string m = util::lower(model);
  for (const Target& t : presets()) {
    if (t.name == m) return t.sm();
  }
  static const std::pair<const char*, int> kModels[] = {
      {"k80", 37},    {"m60", 52},     {"p100", 60}, {"1080ti", 61},   {"1080", 61}, {"1070", 61},
      {"titanx", 61}, {"titanxp", 61}, {"p40", 61},  {"p4", 61},       {"v100", 70}, {"titanv", 70},
      {"t4", 75},     {"2080ti", 75},  {"2080", 75}, {"titanrtx", 75}, {"a100", 80}, {"a30", 80},
      {"a10", 86},    {"3090", 86},    {"3080", 86}, {"a40", 86},      {"l4", 89},   {"4090", 89},
      {"l40", 89},    {"h100", 90},    {"h200", 90}};
  for (const auto& [name, sm] : kModels) {
    if (m == name) return sm;
  }
  return 0;
}

nlohmann::json to_json(const Target& t) {
  return {{"name", t.name},
          {"description", t.description},
          {"arch", t.arch()},
          {"sm_count", t.sm_count},
          {"clock_mhz", t.clock_mhz},
          {"fp32_lanes_per_sm", t.fp32_lanes_per_sm},
          {"peak_fp32_gflops", t.peak_fp32_gflops()},
          {"max_threads_per_block", t.max_threads_per_block},
          {"max_block_dim", {t.max_block_dim[0], t.max_block_dim[1], t.max_block_dim[2]}},
          {"max_grid_dim", {t.max_grid_dim[0], t.max_grid_dim[1], t.max_grid_dim[2]}},
          {"smem_per_block", t.smem_per_block},
          {"smem_per_block_optin", t.smem_per_block_optin},
          {"smem_per_sm", t.smem_per_sm},
          {"regs_per_sm", t.regs_per_sm},
          {"regs_per_block", t.regs_per_block},
          {"max_regs_per_thread", t.max_regs_per_thread},
          {"max_threads_per_sm", t.max_threads_per_sm},
          {"max_blocks_per_sm", t.max_blocks_per_sm},
          {"l2_bytes", t.l2_bytes},
          {"mem_bandwidth_gbs", t.mem_bandwidth_gbs},
          {"warp_size", t.warp_size},
          {"smem_reserved_per_block", t.smem_reserved_per_block}};
}

Target target_from_json(const nlohmann::json& j) {
  try {
    // Fields a target written before they were would lack keep the preset of its arch's values.
    const std::string arch = j.at("arch").get<std::string>();
    int sm = 0;
    if (arch.rfind("sm_", 0) != 0 || (sm = std::atoi(arch.c_str() + 3)) <= 0)
      throw Error("bad arch '" + arch + "'");
    Target t;
    if (const Target* p = closest_preset(j.value("description", std::string()), sm)) t = *p;
    t.name = j.at("name").get<std::string>();
    t.description = j.value("description", t.description);
    t.sm_major = sm / 10;
    t.sm_minor = sm % 10;
    auto read = [&](const char* key, auto& field) { field = j.value(key, field); };
    read("sm_count", t.sm_count);
    read("clock_mhz", t.clock_mhz);
    read("fp32_lanes_per_sm", t.fp32_lanes_per_sm);
    read("max_threads_per_block", t.max_threads_per_block);
    read("smem_per_block", t.smem_per_block);
    read("smem_per_block_optin", t.smem_per_block_optin);
    read("smem_per_sm", t.smem_per_sm);
    read("smem_reserved_per_block", t.smem_reserved_per_block);
    read("regs_per_sm", t.regs_per_sm);
    read("regs_per_block", t.regs_per_block);
    read("max_regs_per_thread", t.max_regs_per_thread);
    read("max_threads_per_sm", t.max_threads_per_sm);
    read("max_blocks_per_sm", t.max_blocks_per_sm);
    read("l2_bytes", t.l2_bytes);
    read("mem_bandwidth_gbs", t.mem_bandwidth_gbs);
    read("warp_size", t.warp_size);
    for (int i = 0; i < 3 && j.contains("max_block_dim"); ++i)
      t.max_block_dim[i] = j.at("max_block_dim").at(i).get<int>();
    for (int i = 0; i < 3 && j.contains("max_grid_dim"); ++i)
      t.max_grid_dim[i] = j.at("max_grid_dim").at(i).get<int>();
    if (t.sm_count <= 0 || t.warp_size <= 0 || t.clock_mhz <= 0)
      throw Error("SM count, warp size and clock must be positive");
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("bad target description: ") + e.what());
  }
}

} // namespace chameleon::target
