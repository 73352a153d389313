#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/codegen/template.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace chameleon::codegen {

void define_constant(std::ostream& src, const char* key, int64_t value) {
  src << "static constexpr int " << key << " = " << value << ";\n";
}

void render_body(std::ostream& src, const char* source_path, int64_t split_k, int reduce) {
  define_constant(src, "SPLIT_K", split_k);
  define_constant(src, "SPLIT_WORKSPACE", reduce == kReduceWorkspace ? 1 : 0);
  src << "#line 1 \"" << source_path << "\"\n" << embedded_file(source_path);
  if (split_k > 1 && reduce == kReduceWorkspace) src << splitk_reduce_source();
}

void render_prelude(std::ostream& src, const std::string& template_name, const task::Conv2dWorkload& wl,
                    const space::ConfigSpace& sp, const space::Config& cfg) {
  src << "// chameleon " << template_name << " for " << wl.str() << "\n"
      << "// config " << cfg.index << ": " << sp.str(cfg) << "\n";
  const std::pair<const char*, int> values[] = {
      {"N", wl.n},          {"C", wl.c},         {"H", wl.h},           {"W", wl.w},
      {"K", wl.k},          {"R", wl.r},         {"S", wl.s},           {"OH", wl.out_h()},
      {"OW", wl.out_w()},   {"SH", wl.stride_h}, {"SW", wl.stride_w},   {"PT", wl.pad_top},
      {"PL", wl.pad_left},  {"DH", wl.dilation_h}, {"DW", wl.dilation_w},
  };
  for (const auto& [key, value] : values) define_constant(src, key, value);
}

space::ConfigSpace space_of(const std::vector<KnobDef>& defs) {
  std::vector<space::Knob> knobs;
  for (const auto& k : defs) knobs.push_back(space::other_knob(k.name, k.values));
  return space::ConfigSpace(std::move(knobs));
}

std::string knob_text(const std::vector<KnobDef>& defs) {
  std::string text;
  for (const auto& k : defs) {
    text += std::string(" ") + k.name + ":";
    for (int v : k.values) text += std::to_string(v) + ",";
  }
  return text;
}

int64_t pow2_at_least(int64_t v) {
  int64_t p = 1;
  while (p < v) p *= 2;
  return p;
}

void set_access_features(KernelFeatures& f, const std::vector<int64_t>& input_loads,
                         const std::vector<int64_t>& weight_loads, const std::vector<int64_t>& stores,
                         const std::vector<int64_t>& smem_reads) {
  f.input_load_efficiency = sector_efficiency(input_loads);
  f.weight_load_efficiency = sector_efficiency(weight_loads);
  f.store_efficiency = sector_efficiency(stores);
  f.smem_conflict_ways = bank_conflict_ways(smem_reads);
}

double sector_efficiency(const std::vector<int64_t>& offsets) {
  if (offsets.empty()) return 1.0;
  std::set<int64_t> sectors, words;
  for (int64_t o : offsets) {
    sectors.insert(o >= 0 ? o / 8 : (o - 7) / 8);
    words.insert(o);
  }
  return double(words.size()) / double(8 * sectors.size());
}

double bank_conflict_ways(const std::vector<int64_t>& addresses) {
  std::array<std::set<int64_t>, 32> banks;
  for (int64_t a : addresses) banks[size_t(((a % 32) + 32) % 32)].insert(a);
  size_t worst = 1;
  for (const auto& b : banks) worst = std::max(worst, b.size());
  return double(worst);
}

} // namespace chameleon::codegen
