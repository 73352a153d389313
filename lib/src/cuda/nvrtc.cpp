#include "chameleon/cuda/nvrtc.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include "dl_bind.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <utility>

namespace chameleon::cuda {

namespace {

namespace fs = std::filesystem;

// NVRTC's C API, declared here (nvrtcResult is an int-sized enum, nvrtcProgram a pointer) so that
// the build needs neither nvrtc.h nor the library: each NVRTC found is bound at run time.
using Program = struct NvrtcProgramOpaque*;
struct Api {
  int (*nvrtcVersion)(int*, int*);
  int (*nvrtcGetNumSupportedArchs)(int*);
  int (*nvrtcGetSupportedArchs)(int*);
  const char* (*nvrtcGetErrorString)(int);
  int (*nvrtcCreateProgram)(Program*, const char*, const char*, int, const char* const*,
                            const char* const*);
  int (*nvrtcDestroyProgram)(Program*);
  int (*nvrtcCompileProgram)(Program, int, const char* const*);
  int (*nvrtcGetProgramLogSize)(Program, size_t*);
  int (*nvrtcGetProgramLog)(Program, char*);
  int (*nvrtcGetCUBINSize)(Program, size_t*);
  int (*nvrtcGetCUBIN)(Program, char*);
  int (*nvrtcGetPTXSize)(Program, size_t*);
  int (*nvrtcGetPTX)(Program, char*);
};
constexpr int kSuccess = 0;

struct Loaded {
  std::vector<NvrtcLibrary> libraries; // newest first
  std::vector<Api> apis;               // the same order
};

// Binds one library; false (and nothing kept) when it is not a usable NVRTC.
bool bind(void* lib, Api& a) {
  std::string e;
  auto b = [&](auto& fn, const char* symbol) { bind_symbol(lib, fn, symbol, "NVRTC", e); };
  b(a.nvrtcVersion, "nvrtcVersion");
  b(a.nvrtcGetNumSupportedArchs, "nvrtcGetNumSupportedArchs");
  b(a.nvrtcGetSupportedArchs, "nvrtcGetSupportedArchs");
  b(a.nvrtcGetErrorString, "nvrtcGetErrorString");
  b(a.nvrtcCreateProgram, "nvrtcCreateProgram");
  b(a.nvrtcDestroyProgram, "nvrtcDestroyProgram");
  b(a.nvrtcCompileProgram, "nvrtcCompileProgram");
  b(a.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize");
  b(a.nvrtcGetProgramLog, "nvrtcGetProgramLog");
  b(a.nvrtcGetCUBINSize, "nvrtcGetCUBINSize");
  b(a.nvrtcGetCUBIN, "nvrtcGetCUBIN");
  b(a.nvrtcGetPTXSize, "nvrtcGetPTXSize");
  b(a.nvrtcGetPTX, "nvrtcGetPTX");
  return e.empty();
}

// The libnvrtc.so.N files of a folder (not the builtins, not the .alt variants), or the path
// itself when it is a file.
std::vector<std::string> nvrtc_files(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  std::vector<std::string> out;
  if (!fs::is_directory(path, ec)) return out;
  static const std::regex kName(R"(libnvrtc\.so\.[0-9]+(\.[0-9]+)*)");
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, kName)) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The version filter of CHAMELEON_NVRTC_VERSION (`--nvrtc-version`): "12" or "12.9"; empty: all.
bool wanted_version(const NvrtcLibrary& l) {
  const char* only = std::getenv("CHAMELEON_NVRTC_VERSION");
  if (only == nullptr || *only == '\0') return true;
  const std::string want = only, v = l.version();
  return v == want || v.rfind(want + ".", 0) == 0;
}

Loaded load() {
  std::vector<std::string> candidates;
  for (const std::string& path : nvrtc_search_paths()) {
    for (const std::string& file : nvrtc_files(path)) candidates.push_back(file);
  }
  // Last, whatever the library path gives.
  for (const char* soname : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
    candidates.push_back(soname);
  std::vector<std::pair<NvrtcLibrary, Api>> found;
  for (const std::string& file : candidates) {
    void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) continue;
    Api api{};
    NvrtcLibrary info;
    if (!bind(lib, api) || api.nvrtcVersion(&info.major, &info.minor) != kSuccess) continue;
    const bool known = std::any_of(found.begin(), found.end(), [&](const auto& f) {
      return f.first.major == info.major && f.first.minor == info.minor;
    });
    // The first found of a version wins (the search order is the preference).
    if (known || !wanted_version(info)) continue;
    int count = 0;
    if (api.nvrtcGetNumSupportedArchs(&count) != kSuccess || count <= 0) continue;
    info.archs.resize(size_t(count));
    if (api.nvrtcGetSupportedArchs(info.archs.data()) != kSuccess) continue;
    std::sort(info.archs.begin(), info.archs.end());
    Dl_info where{};
    info.path =
        dladdr(reinterpret_cast<void*>(api.nvrtcVersion), &where) != 0 && where.dli_fname != nullptr
            ? where.dli_fname
            : file;
    found.emplace_back(std::move(info), api);
  }
  // Newest first.
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.major != b.first.major ? a.first.major > b.first.major
                                          : a.first.minor > b.first.minor;
  });
  Loaded out;
  for (auto& [info, api] : found) {
    out.libraries.push_back(std::move(info));
    out.apis.push_back(api);
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

const Api* api_for(int sm) {
  const Loaded& l = loaded();
  for (size_t i = 0; i < l.libraries.size(); ++i) {
    if (l.libraries[i].compiles_for(sm)) return &l.apis[i];
  }
  return nullptr;
}

void check_nvrtc(const Api& api, int r, const char* what) {
  if (r != kSuccess) {
    throw Error(std::string("NVRTC ") + what + " failed: " + api.nvrtcGetErrorString(r));
  }
}

int last_int(const std::string& log, const std::regex& re) {
  int value = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it) {
    value = std::stoi((*it)[1].str());
  }
  return value;
}

// Python's site-packages (and Debian's dist-packages) folders under a prefix.
std::vector<fs::path> python_packages(const fs::path& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const char* lib : {"lib", "lib64"}) {
    const fs::path dir = prefix / lib;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("python3", 0) != 0) continue;
      for (const char* packages : {"site-packages", "dist-packages"})
        out.push_back(entry.path() / packages);
    }
  }
  out.push_back(prefix / "lib/python3/dist-packages");
  return out;
}

} // namespace

bool NvrtcLibrary::compiles_for(int sm) const {
  return std::find(archs.begin(), archs.end(), sm) != archs.end();
}

std::vector<std::string> nvrtc_search_paths() {
  std::vector<std::string> out;
  if (const char* explicit_paths = std::getenv("CHAMELEON_NVRTC");
      explicit_paths && *explicit_paths) {
    std::string list = explicit_paths;
    for (size_t start = 0; start <= list.size();) {
      const size_t colon = std::min(list.find(':', start), list.size());
      if (colon > start) out.push_back(list.substr(start, colon - start));
      start = colon + 1;
    }
  }
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* home = std::getenv(var); home && *home)
      out.push_back((fs::path(home) / "lib64").string());
  }
  out.push_back("/usr/local/cuda/lib64");
  std::error_code ec;
  std::vector<std::string> versioned;
  for (const auto& entry : fs::directory_iterator("/usr/local", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("cuda-", 0) == 0) versioned.push_back((entry.path() / "lib64").string());
  }
  std::sort(versioned.rbegin(), versioned.rend()); // newest first
  out.insert(out.end(), versioned.begin(), versioned.end());
#ifdef CHAMELEON_NVRTC_BUILD_DIR
  out.push_back(CHAMELEON_NVRTC_BUILD_DIR);
#endif
  std::vector<fs::path> prefixes;
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) prefixes.emplace_back(venv);
  if (const char* home = std::getenv("HOME"); home && *home)
    prefixes.push_back(fs::path(home) / ".local");
  prefixes.emplace_back("/usr/local");
  prefixes.emplace_back("/usr");
  for (const fs::path& prefix : prefixes) {
    for (const fs::path& packages : python_packages(prefix)) {
      for (const char* wheel : {"nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"}) {
        const fs::path dir = packages / wheel;
        if (fs::is_directory(dir, ec)) out.push_back(dir.string());
      }
    }
  }
  return out;
}

const std::vector<NvrtcLibrary>& nvrtc_libraries() {
  return loaded().libraries;
}

const NvrtcLibrary* nvrtc_for(int sm) {
  for (const NvrtcLibrary& l : nvrtc_libraries()) {
    if (l.compiles_for(sm)) return &l;
  }
  return nullptr;
}

void parse_ptxas_report(const std::string& full_log, CompileOutput& out, const std::string& entry) {
  std::string log = full_log;
  const std::string marker = "Compiling entry function '";
  if (size_t at = entry.empty() ? std::string::npos : full_log.find(marker + entry + "'");
      at != std::string::npos) {
    const size_t next = full_log.find(marker, at + marker.size());
    log = full_log.substr(at, next == std::string::npos ? std::string::npos : next - at);
  }
  static const std::regex kRegs(R"(Used (\d+) registers)");
  static const std::regex kSmem(R"((\d+) bytes smem)");
  static const std::regex kStack(R"((\d+) bytes stack frame)");
  static const std::regex kStores(R"((\d+) bytes spill stores)");
  static const std::regex kLoads(R"((\d+) bytes spill loads)");
  out.resources.registers = last_int(log, kRegs);
  out.resources.static_smem = last_int(log, kSmem);
  out.resources.stack_frame = last_int(log, kStack);
  out.resources.spill_stores = last_int(log, kStores);
  out.resources.spill_loads = last_int(log, kLoads);
}

int arch_sm(const std::string& arch) {
  // An arch-specific variant (sm_90a) names the same architecture.
  const bool specific = !arch.empty() && arch.back() == 'a';
  const auto digits_end = arch.end() - (specific ? 1 : 0);
  for (const char* prefix : {"sm_", "compute_"}) {
    const std::string p = prefix;
    if (arch.rfind(p, 0) == 0 && arch.begin() + long(p.size()) < digits_end &&
        std::all_of(arch.begin() + long(p.size()), digits_end,
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return std::atoi(arch.c_str() + p.size());
    }
  }
  return 0;
}

std::string arch_specific(const std::string& arch) {
  return !arch.empty() && arch.back() == 'a' ? arch : arch + "a";
}

std::string nvrtc_version(int sm) {
  if (const NvrtcLibrary* l = nvrtc_for(sm)) return l->version();
  return nvrtc_version();
}

std::string nvrtc_version() {
  const auto& libs = nvrtc_libraries();
  return libs.empty() ? "none" : libs.front().version();
}

std::vector<int> nvrtc_supported_archs() {
  std::vector<int> archs;
  for (const NvrtcLibrary& l : nvrtc_libraries())
    archs.insert(archs.end(), l.archs.begin(), l.archs.end());
  std::sort(archs.begin(), archs.end());
  archs.erase(std::unique(archs.begin(), archs.end()), archs.end());
  return archs;
}

std::string nvrtc_arch_problem(int sm) {
  if (nvrtc_for(sm) != nullptr) return "";
  const auto& libs = nvrtc_libraries();
  const std::string arch = "sm_" + std::to_string(sm);
  const std::string get12 = "`pip install nvidia-cuda-nvrtc-cu12` (chameleon finds the wheel; or "
                            "pass --nvrtc FOLDER) or a CUDA 12.x toolkit (set CUDA_HOME)";
  if (libs.empty()) {
    return "no NVRTC found to compile for " + arch +
           " (looked in CHAMELEON_NVRTC, CUDA_HOME, /usr/local/cuda*, the nvidia-cuda-nvrtc "
           "wheels and the library path): install the CUDA toolkit (set CUDA_HOME), or " +
           get12;
  }
  std::vector<std::string> found;
  for (const NvrtcLibrary& l : libs) {
    found.push_back("NVRTC " + l.version() + " (sm_" + std::to_string(l.archs.front()) + " to sm_" +
                    std::to_string(l.archs.back()) + ", " + l.path + ")");
  }
  const std::string need = sm < 75
                               ? "NVRTC 12.x (CUDA 13 dropped Maxwell, Pascal and Volta): " + get12
                               : "a newer CUDA toolkit's NVRTC";
  return "no NVRTC found here compiles for " + arch + " (found " + util::join(found, "; ") +
         "): this target needs " + need;
}

int nvrtc_nearest_arch(int sm) {
  auto archs = nvrtc_supported_archs();
  if (archs.empty()) throw Error(nvrtc_arch_problem(sm));
  for (int a : archs) {
    if (a >= sm) return a;
  }
  return archs.back();
}

CompileOutput nvrtc_compile(const std::string& code, const std::string& name,
                            const std::string& arch, const std::vector<std::string>& extra) {
  const bool ptx = arch.rfind("compute_", 0) == 0;
  const int sm = arch_sm(arch);
  if (sm == 0) throw Error("bad arch '" + arch + "' (expected sm_XY or compute_XY)");
  const Api* found = api_for(sm);
  if (found == nullptr) throw Error(nvrtc_arch_problem(sm));
  const Api& api = *found;

  auto start = std::chrono::steady_clock::now();
  Program raw = nullptr;
  check_nvrtc(
      api, api.nvrtcCreateProgram(&raw, code.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
      "program creation");
  auto destroy = [&api](Program p) { api.nvrtcDestroyProgram(&p); };
  std::unique_ptr<NvrtcProgramOpaque, decltype(destroy)> prog(raw, destroy);

  // -default-device: lambdas and constexpr helpers in templates are device code.
  std::vector<std::string> options = {"--gpu-architecture=" + arch, "-std=c++17", "-default-device",
                                      "-diag-suppress=177"};
  if (!ptx) options.push_back("--ptxas-options=-v");
  options.insert(options.end(), extra.begin(), extra.end());
  std::vector<const char*> argv;
  for (const auto& o : options) argv.push_back(o.c_str());

  CompileOutput out;
  const int result = api.nvrtcCompileProgram(prog.get(), int(argv.size()), argv.data());
  size_t log_size = 0;
  api.nvrtcGetProgramLogSize(prog.get(), &log_size);
  out.log.resize(log_size);
  if (log_size > 0) api.nvrtcGetProgramLog(prog.get(), out.log.data());
  while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();

  if (result == kSuccess && ptx) {
    size_t size = 0;
    check_nvrtc(api, api.nvrtcGetPTXSize(prog.get(), &size), "PTX size query");
    out.ptx.resize(size);
    check_nvrtc(api, api.nvrtcGetPTX(prog.get(), out.ptx.data()), "PTX query");
    while (!out.ptx.empty() && out.ptx.back() == '\0') out.ptx.pop_back();
    out.ok = true;
  } else if (result == kSuccess) {
    size_t cubin_size = 0;
    check_nvrtc(api, api.nvrtcGetCUBINSize(prog.get(), &cubin_size), "cubin size query");
    out.cubin.resize(cubin_size);
    check_nvrtc(api, api.nvrtcGetCUBIN(prog.get(), out.cubin.data()), "cubin query");
    out.ok = true;
    parse_ptxas_report(out.log, out, name);
  } else if (out.log.empty()) {
    out.log = api.nvrtcGetErrorString(result);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace chameleon::cuda
