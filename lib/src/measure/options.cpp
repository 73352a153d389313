#include "chameleon/measure/options.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace chameleon::measure {

nlohmann::json to_json(const MeasureOptions& o) {
  return {{"warmup", o.warmup},
          {"repeat", o.repeat},
          {"min_repeat_ms", o.min_repeat_ms},
          {"max_number", o.max_number},
          {"flush_l2", o.flush_l2},
          {"cuda_graph", o.cuda_graph},
          {"run_timeout_s", o.run_timeout_s},
          {"rtol", o.rtol},
          {"atol", o.atol},
          {"seed", o.seed}};
}

MeasureOptions measure_options_from_json(const nlohmann::json& j) {
  MeasureOptions d;
  MeasureOptions o;
  o.warmup = j.value("warmup", d.warmup);
  o.repeat = j.value("repeat", d.repeat);
  o.min_repeat_ms = j.value("min_repeat_ms", d.min_repeat_ms);
  o.max_number = j.value("max_number", d.max_number);
  o.flush_l2 = j.value("flush_l2", d.flush_l2);
  o.cuda_graph = j.value("cuda_graph", d.cuda_graph);
  o.run_timeout_s = j.value("run_timeout_s", d.run_timeout_s);
  o.rtol = j.value("rtol", d.rtol);
  o.atol = j.value("atol", d.atol);
  o.seed = j.value("seed", d.seed);
  return o;
}

MeasureOptions verification_options(MeasureOptions o, const codegen::KernelFeatures& f,
                                    const task::Conv2dWorkload& wl) {
  return verification_options(o, f.tf32, wl);
}

MeasureOptions verification_options(MeasureOptions o, bool tf32, const task::Conv2dWorkload& wl) {
  const double reduction = double(wl.c / wl.groups) * wl.r * wl.s * std::ldexp(1.0, -24);
  const double floor = wl.dtype == task::DataType::bf16  ? kBf16Tolerance + reduction
                       : wl.dtype == task::DataType::f16 ? kF16Tolerance + reduction
                       : tf32                            ? kTf32Tolerance
                                                         : 0.0;
  o.rtol = std::max(o.rtol, floor);
  o.atol = std::max(o.atol, floor);
  return o;
}

} // namespace chameleon::measure
