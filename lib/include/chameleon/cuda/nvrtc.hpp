#pragma once

#include "chameleon/target/resources.hpp"

#include <string>
#include <vector>

namespace chameleon::cuda {

// What NVRTC made of one translation unit, with ptxas' resource report parsed.
struct CompileOutput {
  bool ok = false;
  std::string log;             // NVRTC's log, ptxas report included, trailing NUL stripped
  std::string cubin;           // the device image when ok (arch sm_XY)
  std::string ptx;             // the PTX when ok (arch compute_XY)
  target::Resources resources; // ptxas's report (for a cubin)
  double seconds = 0;
};

// Compiles `code` for `arch`: "sm_90" gives a cubin (with the ptxas resource report), "compute_90"
// PTX that the driver can JIT for newer GPUs. A compile error is returned in the output, not
// thrown; an arch this NVRTC cannot target throws chameleon::Error saying which toolkit is needed.
CompileOutput nvrtc_compile(const std::string& code, const std::string& name,
                            const std::string& arch, const std::vector<std::string>& extra = {});

// Parses a ptxas "-v" report into the resource fields of `out`: those of the entry function
// `entry` when the report has several (a split-K kernel and its reduction), else the last.
void parse_ptxas_report(const std::string& log, CompileOutput& out, const std::string& entry = "");

// NVRTC is loaded at run time, like libcuda: every libnvrtc.so.N found (nvrtc_search_paths),
// each compile done by the newest one that compiles for its arch (13 where it can, 12 for the
// sm_61 and sm_70 that CUDA 13 dropped). One process may hold several.
struct NvrtcLibrary {
  std::string path; // the file loaded
  int major = 0, minor = 0;
  std::vector<int> archs; // the sm it compiles for, ascending
  std::string version() const { return std::to_string(major) + "." + std::to_string(minor); }
  bool compiles_for(int sm) const;
};

// Where NVRTC is looked for, in order: the folders or files of CHAMELEON_NVRTC (':'-separated;
// `chameleon --nvrtc PATH` sets it), CUDA_HOME's and CUDA_PATH's lib64, /usr/local/cuda*/lib64,
// the toolkit the binary was built with, the Python wheels' folders (nvidia-cuda-nvrtc-cu12:
// site-packages/nvidia/cuda_nvrtc/lib; nvidia-cuda-nvrtc 13: site-packages/nvidia/cu13/lib) of
// $VIRTUAL_ENV, ~/.local, /usr/local and /usr, then the library path.
std::vector<std::string> nvrtc_search_paths();
// Every NVRTC found (one per version), newest first; looked for once per process. With
// CHAMELEON_NVRTC_VERSION set (`chameleon --nvrtc-version 12`), only that version is kept.
const std::vector<NvrtcLibrary>& nvrtc_libraries();
// The newest NVRTC that compiles for `sm`, or nullptr.
const NvrtcLibrary* nvrtc_for(int sm);

// "13.0": the NVRTC that compiles for `sm` (what records, cache keys, fingerprints and manifests
// name); without one, the newest found; "none" when there is no NVRTC at all.
std::string nvrtc_version(int sm);
// The newest NVRTC found ("none" without one).
std::string nvrtc_version();
std::vector<int> nvrtc_supported_archs(); // over every NVRTC found, e.g. {61, 70, 75, 80, ...}
// Empty when an NVRTC found can compile for `sm` (e.g. 90), else a message naming the arch, the
// NVRTC versions found and how to get one that can.
std::string nvrtc_arch_problem(int sm);
// 90 for "sm_90", "compute_90" or their arch-specific variants "sm_90a", "compute_90a"; 0 for
// anything else.
int arch_sm(const std::string& arch);
// The arch-specific variant of an arch ("sm_90" -> "sm_90a", "compute_90" -> "compute_90a"):
// what kernels of instructions that only that architecture has (wgmma) are compiled for.
std::string arch_specific(const std::string& arch);
// The supported arch closest to `sm` (the lowest one above it, or the highest below).
int nvrtc_nearest_arch(int sm);

} // namespace chameleon::cuda
