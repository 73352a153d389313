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

std::string nvrtc_version();              // "13.0"
std::vector<int> nvrtc_supported_archs(); // e.g. {75, 80, 86, 87, 89, 90, ...}
// Empty when NVRTC can compile for sm `sm` (e.g. 90), else a message naming what is needed.
std::string nvrtc_arch_problem(int sm);
// The supported arch closest to `sm` (the lowest one above it, or the highest below).
int nvrtc_nearest_arch(int sm);

} // namespace chameleon::cuda
