// What every emulated kernel run is compared with: a task's measurement inputs (drawn from a seed
// as the GPU worker draws them, rounded to the task's type, with the epilogue's bias and residual)
// and the exact output, act(conv + bias + residual) from those same values.
#pragma once

#include "../emu/emulator.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/reference.hpp"

#include <vector>

namespace chameleon::testing {

// A validated workload of these sizes (float32, no epilogue).
inline task::Conv2dWorkload workload(int n, int c, int h, int w, int k, int r, int s, int stride_h,
                                     int stride_w, int pad_top, int pad_left, int pad_bottom,
                                     int pad_right, int dil_h = 1, int dil_w = 1, int groups = 1) {
  task::Conv2dWorkload wl;
  wl.n = n;
  wl.c = c;
  wl.h = h;
  wl.w = w;
  wl.k = k;
  wl.r = r;
  wl.s = s;
  wl.stride_h = stride_h;
  wl.stride_w = stride_w;
  wl.pad_top = pad_top;
  wl.pad_left = pad_left;
  wl.pad_bottom = pad_bottom;
  wl.pad_right = pad_right;
  wl.dilation_h = dil_h;
  wl.dilation_w = dil_w;
  wl.groups = groups;
  task::validate(wl);
  return wl;
}

struct Problem {
  // Computed in NCHW order, kept in the task's layout (what its kernels read and write).
  Problem(const task::Conv2dWorkload& wl, uint64_t seed) {
    using measure::Tensor;
    const measure::TaskInputs in = measure::make_inputs(wl, seed);
    ref = measure::conv2d_cpu(wl, in.data, in.weight);
    measure::apply_epilogue(wl, in, ref);
    data = measure::to_task_layout(wl, Tensor::Data, in.data);
    weight = measure::to_task_layout(wl, Tensor::Weight, in.weight);
    ref = measure::to_task_layout(wl, Tensor::Residual, ref);
    fused.bias = in.bias;
    fused.residual = measure::to_task_layout(wl, Tensor::Residual, in.residual);
  }
  std::vector<float> data, weight, ref; // in the task's layout
  emu::Epilogue fused;                  // the kernel's bias and residual
};

// The verification tolerance of the template's kernels for the task (rtol and atol alike), as the
// GPU runner's: 1e-4, TF32's, or the 16-bit types'.
inline double tolerance(const codegen::Template& tmpl, const task::Conv2dWorkload& wl) {
  codegen::KernelFeatures f;
  f.tf32 = tmpl.tf32();
  return measure::verification_options(measure::MeasureOptions{}, f, wl).rtol;
}

} // namespace chameleon::testing
