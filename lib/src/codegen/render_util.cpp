#include "render_util.hpp"

#include "chameleon/codegen/embedded.hpp"
#include "chameleon/codegen/template.hpp"

#include <algorithm>
#include <array>

namespace chameleon::codegen {

void define_constant(std::ostream& src, const char* key, int64_t value) {
  src << "static constexpr int " << key << " = " << value << ";\n";
}

void render_body(std::ostream& src, const char* source_path, const task::Conv2dWorkload& wl,
                 int64_t split_k, int reduce, bool mma) {
  define_constant(src, "SPLIT_K", split_k);
  define_constant(src, "SPLIT_WORKSPACE", reduce == kReduceWorkspace ? 1 : 0);
  src << "#define DTYPE " << int(wl.dtype) << "\n"
      << "#define EPI_BIAS " << (wl.epilogue.bias ? 1 : 0) << "\n"
      << "#define EPI_RESIDUAL " << (wl.epilogue.residual ? 1 : 0) << "\n"
      << "#define EPI_ACT " << int(wl.epilogue.act) << "\n"
      << "#define LAYOUT_NHWC " << (wl.layout == task::Layout::nhwc ? 1 : 0) << "\n"
      << epilogue_source();
  if (mma) src << mma_source();
  src << "#line 1 \"" << source_path << "\"\n" << embedded_file(source_path);
  if (split_k > 1 && reduce == kReduceWorkspace) src << splitk_reduce_source();
}

std::string mma_source() {
  return std::string("#line 1 \"templates/mma.cu\"\n") +
         std::string(embedded_file("templates/mma.cu"));
}

void render_prelude(std::ostream& src, const std::string& template_name,
                    const task::Conv2dWorkload& wl, const space::ConfigSpace& sp,
                    const space::Config& cfg) {
  src << "// chameleon " << template_name << " for " << wl.str() << "\n"
      << "// config " << cfg.index << ": " << sp.str(cfg) << "\n";
  const std::pair<const char*, int> values[] = {
      {"N", wl.n},         {"C", wl.c},           {"H", wl.h},           {"W", wl.w},
      {"K", wl.k},         {"R", wl.r},           {"S", wl.s},           {"OH", wl.out_h()},
      {"OW", wl.out_w()},  {"SH", wl.stride_h},   {"SW", wl.stride_w},   {"PT", wl.pad_top},
      {"PL", wl.pad_left}, {"DH", wl.dilation_h}, {"DW", wl.dilation_w},
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
                         const std::vector<int64_t>& weight_loads,
                         const std::vector<int64_t>& stores,
                         const std::vector<int64_t>& smem_reads) {
  f.input_load_efficiency = sector_efficiency(input_loads);
  f.weight_load_efficiency = sector_efficiency(weight_loads);
  f.store_efficiency = sector_efficiency(stores);
  f.smem_conflict_ways = bank_conflict_ways(smem_reads);
}

namespace {
// Sorted and deduplicated, in a buffer of the calling thread (these run for every config the
// explorers score: no allocation once the buffer has grown).
const std::vector<int64_t>& distinct(const std::vector<int64_t>& values) {
  thread_local std::vector<int64_t> buffer;
  buffer.assign(values.begin(), values.end());
  std::sort(buffer.begin(), buffer.end());
  buffer.erase(std::unique(buffer.begin(), buffer.end()), buffer.end());
  return buffer;
}
int64_t sector(int64_t o) {
  return o >= 0 ? o / 8 : (o - 7) / 8;
}
} // namespace

double sector_efficiency(const std::vector<int64_t>& offsets) {
  if (offsets.empty()) return 1.0;
  // The words in order: their sectors are in order too, so each new sector starts a run.
  const std::vector<int64_t>& words = distinct(offsets);
  size_t sectors = 0;
  for (size_t i = 0; i < words.size(); ++i)
    sectors += i == 0 || sector(words[i]) != sector(words[i - 1]);
  return double(words.size()) / double(8 * sectors);
}

double bank_conflict_ways(const std::vector<int64_t>& addresses) {
  // Distinct addresses per bank; the worst bank's count.
  std::array<size_t, 32> per_bank{};
  for (int64_t a : distinct(addresses)) ++per_bank[size_t(((a % 32) + 32) % 32)];
  return double(std::max<size_t>(1, *std::max_element(per_bank.begin(), per_bank.end())));
}

} // namespace chameleon::codegen
