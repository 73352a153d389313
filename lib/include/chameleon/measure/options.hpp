#pragma once

#include "chameleon/codegen/template.hpp"

#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::measure {

// The measurement protocol. Every field is a command-line flag and is written with each result.
struct MeasureOptions {
  int warmup = 2;             // untimed launches after the verified one
  int repeat = 5;             // timed rounds; the median round is reported
  double min_repeat_ms = 1.0; // launches per round grow until a round lasts this long
  int max_number = 10000;     // cap on launches per round
  bool flush_l2 = false;      // overwrite an L2-sized buffer before every round
  bool cuda_graph = true;     // replay each round's launches from a CUDA graph
  double run_timeout_s = 10;  // a config that takes longer is a hang (error 7)
  double rtol = 1e-4;         // verification: |out - ref| <= atol + rtol*|ref|
  double atol = 1e-4;         // ... with atol relative to max |ref|
  uint64_t seed = 0;          // inputs and weights are drawn from it
};

nlohmann::json to_json(const MeasureOptions& o);

// TF32 rounds every input to 10 mantissa bits (relative error 2^-11 per operand): its kernels are
// verified against the exact reference with at least this tolerance, fp32 ones with the options'.
// cuDNN with TF32 allowed is held to the same tolerance.
constexpr double kTf32Tolerance = 5e-3;
// Float16 and bfloat16 outputs are rounded once from float32 accumulators: 2 units in the last
// place of the format (2^-10 and 2^-7 relative: one for the rounding, one for a float32 result
// on the other side of a rounding boundary from the reference), plus the reduction's length times
// 2^-24 (float32 sums in another order than the reference's), for rtol and atol alike. The
// reference computes from the same rounded inputs (and residual).
constexpr double kF16Tolerance = 2e-3;
constexpr double kBf16Tolerance = 1.6e-2;
// The tolerance of a kernel of `f` for `wl`: the options', at least the TF32 or 16-bit floor.
MeasureOptions verification_options(MeasureOptions o, const codegen::KernelFeatures& f,
                                    const task::Conv2dWorkload& wl);
// The same for a kernel that uses TF32 or not, of the workload's type (cuDNN's).
MeasureOptions verification_options(MeasureOptions o, bool tf32, const task::Conv2dWorkload& wl);
MeasureOptions measure_options_from_json(const nlohmann::json& j);

} // namespace chameleon::measure
