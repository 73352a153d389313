#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/task/workload.hpp"

#include <string>
#include <vector>

namespace chameleon::emu {

// The epilogue's inputs: bias [K] and residual (the output's shape), as its flags ask.
struct Epilogue {
  std::vector<float> bias, residual;
};

// Runs a rendered kernel on the host (tests/emu/cuda_emu.hpp): compiles it with the host C++
// compiler into a shared library (cached by source hash under `cache_dir`) and launches it over
// the config's grid. Throws std::runtime_error when the compiler or the emulated kernel fails.
// Tensors of a float16 or bfloat16 task are passed in that type (data, weight and residual
// rounded to it) and the output read back as floats.
std::vector<float> run_kernel(const codegen::KernelSource& src, const task::Conv2dWorkload& wl,
                              const std::vector<float>& data, const std::vector<float>& weight,
                              unsigned schedule_seed, const std::string& cache_dir,
                              const Epilogue* epilogue = nullptr);

// How the emulated output compares with the exact conv2d: mismatches under the GPU runner's rule
// |out - ref| <= atol * max|ref| + rtol * |ref|, and a description of the first.
struct Comparison {
  int64_t bad = 0;
  std::string first;
};
Comparison compare(const std::vector<float>& out, const std::vector<float>& ref, double rtol,
                   double atol);

} // namespace chameleon::emu
