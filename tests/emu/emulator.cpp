#include "emulator.hpp"

#include "chameleon/measure/reference.hpp"
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

using RunFn = void (*)(const unsigned*, const unsigned*, unsigned, unsigned, const void*,
                       const void*, void*, const float*, const void*);
using ReduceFn = void (*)(const unsigned*, const unsigned*, unsigned, const float*, void*,
                          const float*, const void*);

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
                     "unsigned smem, unsigned seed, const void* d, const void* w, void* o, "
                     "const float* b, const void* r) {\n"
                     "  chm_emu::launch(grid, block, smem, seed, [&] { " +
                     src.entry +
                     "((const elem_t*)d, (const elem_t*)w, (elem_t*)o, b, (const elem_t*)r); "
                     "});\n}\n";
  if (reduce) {
    code +=
        std::string("extern \"C\" void chm_emu_reduce(const unsigned* grid, const unsigned* block, "
                    "unsigned seed, const float* ws, void* o, const float* b, const void* r) {\n"
                    "  chm_emu::launch(grid, block, 0, seed, [&] { ") +
        codegen::kSplitkReduceEntry + "(ws, (elem_t*)o, b, (const elem_t*)r); });\n}\n";
  }
  // The emulator's own headers are part of what is compiled: a change to them is a new library.
  static const std::string headers =
      read_file(std::string(CHM_EMU_DIR) + "/cuda_emu.hpp") +
      read_file(std::string(CHM_LIB_INCLUDE_DIR) + "/chameleon/util/float16.hpp");
  const std::string key = util::sha256_hex(code + CHM_HOST_CXX + headers).substr(0, 20);
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
                            CHM_EMU_DIR + "\" -I\"" + CHM_LIB_INCLUDE_DIR + "\" \"" + cpp +
                            "\" -o \"" + tmp + "\" > \"" + log + "\" 2>&1";
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
// live in such an allocation. T: float, or uint16_t for float16 and bfloat16 tensors.
template <typename T> class Guarded {
public:
  static constexpr size_t kGuard = 4096; // elements on each side
  Guarded(const std::string& name, size_t n, T fill)
      : name_(name), n_(n), mem_(n + 2 * kGuard, guard()) {
    std::fill(begin(), begin() + n, fill);
  }
  Guarded(const std::string& name, const std::vector<T>& v) : Guarded(name, v.size(), T(0)) {
    std::copy(v.begin(), v.end(), begin());
  }
  T* begin() { return mem_.data() + kGuard; }
  std::vector<T> values() const {
    return {mem_.begin() + kGuard, mem_.begin() + kGuard + long(n_)};
  }
  // Throws when a guard changed, or when the contents differ from `unchanged` (for inputs).
  void check(const std::vector<T>* unchanged = nullptr) const {
    size_t before = 0, after = 0;
    for (size_t i = 0; i < kGuard; ++i) {
      before += !same_bits(mem_[i], guard());
      after += !same_bits(mem_[kGuard + n_ + i], guard());
    }
    if (before + after > 0) {
      throw std::runtime_error("the kernel wrote outside its buffers: " + std::to_string(before) +
                               " elements before and " + std::to_string(after) + " after " + name_);
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
  static T guard() {
    // A NaN no kernel computes, as a float or as a float16/bfloat16.
    const uint32_t bits = sizeof(T) == 4 ? 0x7fa5a5a5u : 0x7fa5u;
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    return v;
  }
  static bool same_bits(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }
  std::string name_;
  size_t n_;
  std::vector<T> mem_;
};

// Values to the storage type of the task and back.
template <typename T> std::vector<T> stored(const std::vector<float>& v, task::DataType t) {
  const std::vector<uint8_t> bytes = measure::to_bytes(t, v);
  std::vector<T> out(v.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}
template <typename T> std::vector<float> loaded(const std::vector<T>& v, task::DataType t) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = measure::from_bytes(t, &v[i]);
  return out;
}

template <typename T>
std::vector<float> run_typed(const Loaded& fns, const codegen::KernelSource& src,
                             const task::Conv2dWorkload& wl, const std::vector<float>& data_f,
                             const std::vector<float>& weight_f, unsigned schedule_seed,
                             const Epilogue* epi) {
  const auto& g = src.geometry;
  const task::DataType t = wl.dtype;
  const std::vector<T> data = stored<T>(data_f, t), weight = stored<T>(weight_f, t);
  const std::vector<float> no_bias;
  const std::vector<T> residual = stored<T>(epi ? epi->residual : std::vector<float>(), t);
  const std::vector<float>& bias = epi ? epi->bias : no_bias;
  // Split-K kernels add into a zeroed output; every other output starts as NaN, so that an output
  // the kernel never writes cannot pass.
  const T nan = stored<T>({std::numeric_limits<float>::quiet_NaN()}, t)[0];
  Guarded<T> in("data", data), w("weight", weight), res("residual", residual);
  Guarded<float> b("bias", bias);
  Guarded<T> out("out", size_t(wl.output_elems()), g.zero_output ? T(0) : nan);
  const unsigned grid[3] = {g.grid[0], g.grid[1], g.grid[2]};
  const unsigned block[3] = {g.block[0], g.block[1], g.block[2]};
  const float* bias_ptr = bias.empty() ? nullptr : b.begin();
  const T* res_ptr = residual.empty() ? nullptr : res.begin();
  if (g.workspace_splits > 0) {
    // The kernel writes its float32 partial outputs to a NaN-filled workspace; the reduction sums
    // them.
    Guarded<float> ws("workspace", size_t(wl.output_elems()) * size_t(g.workspace_splits),
                      std::numeric_limits<float>::quiet_NaN());
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, in.begin(), w.begin(), ws.begin(),
            bias_ptr, res_ptr);
    ws.check();
    const unsigned rgrid[3] = {g.reduce_grid[0], g.reduce_grid[1], g.reduce_grid[2]};
    const unsigned rblock[3] = {g.reduce_block[0], g.reduce_block[1], g.reduce_block[2]};
    fns.reduce(rgrid, rblock, schedule_seed, ws.begin(), out.begin(), bias_ptr, res_ptr);
    ws.check();
  } else {
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, in.begin(), w.begin(),
            out.begin(), bias_ptr, res_ptr);
  }
  in.check(&data);
  w.check(&weight);
  res.check(&residual);
  b.check(&bias);
  out.check();
  return loaded<T>(out.values(), t);
}

} // namespace

std::vector<float> run_kernel(const codegen::KernelSource& src, const task::Conv2dWorkload& wl,
                              const std::vector<float>& data, const std::vector<float>& weight,
                              unsigned schedule_seed, const std::string& cache_dir,
                              const Epilogue* epilogue) {
  const Loaded fns = load(src, cache_dir);
  if (wl.dtype == task::DataType::f32)
    return run_typed<float>(fns, src, wl, data, weight, schedule_seed, epilogue);
  return run_typed<uint16_t>(fns, src, wl, data, weight, schedule_seed, epilogue);
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
