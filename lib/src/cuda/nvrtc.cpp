#include "chameleon/cuda/nvrtc.hpp"

#include "chameleon/util/error.hpp"

#include <nvrtc.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <regex>

namespace chameleon::cuda {

namespace {

void check_nvrtc(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) {
    throw Error(std::string("NVRTC ") + what + " failed: " + nvrtcGetErrorString(r));
  }
}

struct ProgramDeleter {
  void operator()(nvrtcProgram p) const noexcept { nvrtcDestroyProgram(&p); }
};
using Program = std::unique_ptr<std::remove_pointer_t<nvrtcProgram>, ProgramDeleter>;

int last_int(const std::string& log, const std::regex& re) {
  int value = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it) {
    value = std::stoi((*it)[1].str());
  }
  return value;
}

} // namespace

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

std::string nvrtc_version() {
  int major = 0, minor = 0;
  check_nvrtc(nvrtcVersion(&major, &minor), "version query");
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> nvrtc_supported_archs() {
  int count = 0;
  check_nvrtc(nvrtcGetNumSupportedArchs(&count), "arch query");
  std::vector<int> archs(size_t(std::max(count, 0)));
  if (count > 0) check_nvrtc(nvrtcGetSupportedArchs(archs.data()), "arch query");
  std::sort(archs.begin(), archs.end());
  return archs;
}

std::string nvrtc_arch_problem(int sm) {
  auto archs = nvrtc_supported_archs();
  if (std::find(archs.begin(), archs.end(), sm) != archs.end()) return "";
  std::string range = archs.empty() ? "none"
                                    : "sm_" + std::to_string(archs.front()) + " to sm_" +
                                          std::to_string(archs.back());
  std::string need = !archs.empty() && sm < archs.front()
                         ? "a CUDA 12.x toolkit (CUDA 13 dropped Maxwell, Pascal and Volta)"
                         : "a newer CUDA toolkit";
  return "NVRTC " + nvrtc_version() + " cannot compile for sm_" + std::to_string(sm) +
         " (it supports " + range + "): this target needs " + need;
}

int nvrtc_nearest_arch(int sm) {
  auto archs = nvrtc_supported_archs();
  if (archs.empty()) throw Error("NVRTC reports no supported GPU architecture");
  for (int a : archs) {
    if (a >= sm) return a;
  }
  return archs.back();
}

CompileOutput nvrtc_compile(const std::string& code, const std::string& name,
                            const std::string& arch, const std::vector<std::string>& extra) {
  const bool ptx = arch.rfind("compute_", 0) == 0;
  if (arch.rfind("sm_", 0) != 0 && !ptx)
    throw Error("bad arch '" + arch + "' (expected sm_XY or compute_XY)");
  std::string problem = nvrtc_arch_problem(std::stoi(arch.substr(ptx ? 8 : 3)));
  if (!problem.empty()) throw Error(problem);

  auto start = std::chrono::steady_clock::now();
  nvrtcProgram raw = nullptr;
  check_nvrtc(nvrtcCreateProgram(&raw, code.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
              "program creation");
  Program prog(raw);

  // -default-device: lambdas and constexpr helpers in templates are device code.
  std::vector<std::string> options = {"--gpu-architecture=" + arch, "-std=c++17", "-default-device",
                                      "-diag-suppress=177"};
  if (!ptx) options.push_back("--ptxas-options=-v");
  options.insert(options.end(), extra.begin(), extra.end());
  std::vector<const char*> argv;
  for (const auto& o : options) argv.push_back(o.c_str());

  CompileOutput out;
  nvrtcResult result = nvrtcCompileProgram(prog.get(), int(argv.size()), argv.data());
  size_t log_size = 0;
  nvrtcGetProgramLogSize(prog.get(), &log_size);
  out.log.resize(log_size);
  if (log_size > 0) nvrtcGetProgramLog(prog.get(), out.log.data());
  while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();

  if (result == NVRTC_SUCCESS && ptx) {
    size_t size = 0;
    check_nvrtc(nvrtcGetPTXSize(prog.get(), &size), "PTX size query");
    out.ptx.resize(size);
    check_nvrtc(nvrtcGetPTX(prog.get(), out.ptx.data()), "PTX query");
    while (!out.ptx.empty() && out.ptx.back() == '\0') out.ptx.pop_back();
    out.ok = true;
  } else if (result == NVRTC_SUCCESS) {
    size_t cubin_size = 0;
    check_nvrtc(nvrtcGetCUBINSize(prog.get(), &cubin_size), "cubin size query");
    out.cubin.resize(cubin_size);
    check_nvrtc(nvrtcGetCUBIN(prog.get(), out.cubin.data()), "cubin query");
    out.ok = true;
    parse_ptxas_report(out.log, out, name);
  } else if (out.log.empty()) {
    out.log = nvrtcGetErrorString(result);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace chameleon::cuda
