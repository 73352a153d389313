#include "emulator.hpp"

#include "chameleon/util/sha256.hpp"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace chameleon::emu {

namespace {

using RunFn = void (*)(const unsigned*, const unsigned*, unsigned, unsigned, const float*, const float*,
                       float*);
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
    code += std::string("extern \"C\" void chm_emu_reduce(const unsigned* grid, const unsigned* block, "
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
                            CHM_EMU_DIR + "\" \"" + cpp + "\" -o \"" + tmp + "\" > \"" + log + "\" 2>&1";
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

} // namespace

std::vector<float> run_kernel(const codegen::KernelSource& src, const task::Conv2dWorkload& wl,
                              const std::vector<float>& data, const std::vector<float>& weight,
                              unsigned schedule_seed, const std::string& cache_dir) {
  const Loaded fns = load(src, cache_dir);
  const auto& g = src.geometry;
  // Split-K kernels add into a zeroed output; every other output starts as NaN, so that an output
  // the kernel never writes cannot pass.
  std::vector<float> out(size_t(wl.output_elems()),
                         g.zero_output ? 0.0f : std::numeric_limits<float>::quiet_NaN());
  const unsigned grid[3] = {g.grid[0], g.grid[1], g.grid[2]};
  const unsigned block[3] = {g.block[0], g.block[1], g.block[2]};
  if (g.workspace_splits > 0) {
    // The kernel writes its partial outputs to a NaN-filled workspace; the reduction sums them.
    std::vector<float> ws(out.size() * size_t(g.workspace_splits), std::numeric_limits<float>::quiet_NaN());
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, data.data(), weight.data(), ws.data());
    const unsigned rgrid[3] = {g.reduce_grid[0], g.reduce_grid[1], g.reduce_grid[2]};
    const unsigned rblock[3] = {g.reduce_block[0], g.reduce_block[1], g.reduce_block[2]};
    fns.reduce(rgrid, rblock, schedule_seed, ws.data(), out.data());
  } else {
    fns.run(grid, block, unsigned(g.dynamic_smem), schedule_seed, data.data(), weight.data(), out.data());
  }
  return out;
}

Comparison compare(const std::vector<float>& out, const std::vector<float>& ref, double rtol, double atol) {
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
