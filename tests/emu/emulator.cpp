#include "emulator.hpp"

#include "chameleon/util/sha256.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace chameleon::emu {

namespace {

using RunFn = void (*)(const unsigned*, const unsigned*, unsigned, unsigned, const float*,
                       const float*, float*);
using ReduceFn = void (*)(const unsigned*, const unsigned*, unsigned, const float*, float*);

struct Loaded {
  RunFn run = nullptr;
  ReduceFn reduce = nullptr; // workspace split-K configs only
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Loaded load(const codegen::KernelSource& src, const std::string& cache_dir) {
  static std::mutex mu;
  static std::map<std::string, Loaded> loaded;
  std::lock_guard<std::mutex> lock(mu);
  const bool reduce = src.geometry.workspace_splits > 0;
  std::string code = "#define CHM_EMULATE 1\n#include \"cuda_emu.hpp\"\n" + src.code +
                     "\nextern \"C\" void chm_emu_run(const unsigned* grid, const unsigned* block, "
                     "unsigned smem, unsigned seed, const float* d, const float* w, float* o) {\n"
                     "  chm_emu::launch(grid, block, smem, seed, [&] { " +
                     src.entry + "(d, w, o); });\n}\n";
  if (reduce) {
    code +=
        std::string("extern \"C\" void chm_emu_reduce(const unsigned* grid, const unsigned* block, "
                    "unsigned seed, const float* ws, float* o) {\n"
                    "  chm_emu::launch(grid, block, 0, seed, [&] { ") +
        codegen::kSplitkReduceEntry + "(ws, o); });\n}\n";
  }
  const std::string key = util::sha256_hex(code + CHM_HOST_CXX).substr(0, 20);
  if (auto it = loaded.find(key); it != loaded.end()) return it->second;

  std::filesystem::create_directories(cache_dir);
  const std::string base = cache_dir + "/" + key;
  const std::string so = base + ".so";
  if (!std::filesystem::exists(so)) {
    const std::string cpp = base + ".cpp";
    const std::string tmp = base + "." + std::to_string(::getpid()) + ".so";
    std::ofstream(cpp) << code;
    const std::string log = base + ".log";
    const std::string cmd = std::string(CHM_HOST_CXX) + " -std=c++17 -O1 -fPIC -shared -w -I\"" +
                            CHM_EMU_DIR + "\" \"" + cpp + "\" -o \"" + tmp + "\" > \"" + log +
                            "\" 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("host compile of " + cpp + " failed:\n" + read_file(log));
    }
    std::filesystem::rename(tmp, so);
  }
  void* handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  Loaded fns;
  fns.run = reinterpret_cast<RunFn>(dlsym(handle, "chm_emu_run"));
  if (fns.run == nullptr) throw std::runtime_error("no chm_emu_run in " + so);
  if (reduce) {
    fns.reduce = reinterpret_cast<ReduceFn>(dlsym(handle, "chm_emu_reduce"));
    if (fns.reduce == nullptr) throw std::runtime_error("no chm_emu_reduce in " + so);
  }
  loaded[key] = fns;
  return fns;
}

// A buffer between two guard zones of a known NaN pattern: a kernel that writes past either end
// of the buffer changes a guard, which `check` reports. The buffers of the kernel under test all
// live in such an allocation.
class Guarded {
public:
  static constexpr size_t kGuard = 4096; // floats on each side
  Guarded(const std::string& name, size_t n, float fill)
      : name_(name), n_(n), mem_(n + 2 * kGuard, guard()) {
    std::fill(begin(), begin() + n, fill);
  }
  Guarded(const std::string& name, const std::vector<float>& v) : Guarded(name, v.size(), 0.0f) {
    std::copy(v.begin(), v.end(), begin());
  }
  float* begin() { return mem_.data() + kGuard; }
  std::vector<float> values() const {
    return {mem_.begin() + kGuard, mem_.begin() + kGuard + long(n_)};
  }
  // Throws when a guard changed, or when the contents differ from `unchanged` (for inputs).
  void check(const std::vector<float>* unchanged = nullptr) const {
    size_t before = 0, after = 0;
    for (size_t i = 0; i < kGuard; ++i) {
      before += !same_bits(mem_[i], guard());
      after += !same_bits(mem_[kGuard + n_ + i], guard());
    }
    if (before + after > 0) {
      throw std::runtime_error("the kernel wrote outside its buffers: " + std::to_string(before) +
                               " floats before and " + std::to_string(after) + " after " + name_);
    }
    if (unchanged != nullptr) {
      for (size_t i = 0; i < n_; ++i) {
        if (!same_bits(mem_[kGuard + i], (*unchanged)[i])) {
          throw std::runtime_error("the kernel changed its input " + name_ + " (first at index " +
                                   std::to_string(i) + ")");
        }
      }
    }
  }

private:
  static float guard() {
    const uint32_t bits = 0x7fa5a5a5u; // a NaN no kernel computes
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  static bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }
  std::string name_;
  size_t n_;
  std::vector<float> mem_;
};

} // namespace

std::vector<float> run_kernel(const codegen::KernelSource& src, const task::Conv2dWorkload& wl,
                              const std::vector<float>& data, const std::vector<float>& weight,
                              unsigned schedule_seed, const std::string& cache_dir) {
  const Loaded fns = load(src, cache_dir);
  const auto& g = src.geometry;
  // Split-K kernels add into a zeroed output; every other output starts as NaN, so that an output
  // the kernel never writes cannot pass.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Guarded in("data", data), w("weight", weight);
  Guarded out("out", size_t(wl.output_elems()), g.zero_output ? 0.0f : nan);
  const unsigned grid[3] = {g.grid[0], g.grid[1], g.grid[2]};
  const unsigned block[3] = {g.block[0], g.block[1], g.block[2]};
  if (g.workspace_splits > 0) {
    // The kernel writes its partial outputs to a NaN-filled workspace; the reduction sums them.
    Guarded ws("workspace", size_t(wl.output_elems()) * size_t(g.workspace_splits), nan);
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, in.begin(), w.begin(),
            ws.begin());
    ws.check();
    const unsigned rgrid[3] = {g.reduce_grid[0], g.reduce_grid[1], g.reduce_grid[2]};
    const unsigned rblock[3] = {g.reduce_block[0], g.reduce_block[1], g.reduce_block[2]};
    fns.reduce(rgrid, rblock, schedule_seed, ws.begin(), out.begin());
    ws.check();
  } else {
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, in.begin(), w.begin(),
            out.begin());
  }
  in.check(&data);
  w.check(&weight);
  out.check();
  return out.values();
}

Comparison compare(const std::vector<float>& out, const std::vector<float>& ref, double rtol,
                   double atol) {
  double max_ref = 0;
  for (float r : ref) max_ref = std::max(max_ref, double(std::fabs(r)));
  const double abs_tol = atol * (max_ref > 0 ? max_ref : 1.0);
  Comparison c;
  for (size_t i = 0; i < out.size(); ++i) {
    const double err = std::fabs(double(out[i]) - double(ref[i]));
    if (!(err <= abs_tol + rtol * std::fabs(double(ref[i])))) {
      if (c.bad++ == 0) {
        c.first = "index " + std::to_string(i) + ": got " + std::to_string(out[i]) + ", expected " +
                  std::to_string(ref[i]);
      }
    }
  }
  return c;
}

} // namespace chameleon::emu
