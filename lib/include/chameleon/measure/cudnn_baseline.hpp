#pragma once

#include "chameleon/cuda/cudnn_graph.hpp"
#include "chameleon/task/workload.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace chameleon::measure {

// cuDNN as bench times it beside our kernels (the measurement worker runs it).

// cuDNN's data type for a task's tensors (Cudnn::kFloat, kHalf, kBfloat16), in both APIs.
int cudnn_data_type(task::DataType t);

// The operation graph of a task for cuDNN's graph API: its tensors in the task's type and layout
// (NCHW, or NHWC with a KRSC filter), its padding as given (asymmetric too), and, with
// `with_epilogue`, its fused epilogue as pointwise ops. Nullopt, with the reason in `why`, when
// the graph cannot say it (hardswish: cuDNN's pointwise modes have no hardswish).
std::optional<cuda::ConvGraphSpec> cudnn_graph_spec(const task::Conv2dWorkload& wl,
                                                    bool with_epilogue, std::string* why);

// The measurement worker's two cuDNN answers for one task (replies: error_no, message, costs in
// seconds, algorithm, and for a fused task "epilogue": fused, separate, convolution alone), made
// one: a result that includes the task's epilogue before one that does not (our kernels' times
// include it), then the lower median. "cudnn_api" names the one kept ("legacy", "graph"),
// "cudnn_other" the other's time or why it has none. Both failed: the legacy API's error with
// the graph API's reason added.
nlohmann::json fastest_cudnn(nlohmann::json legacy, nlohmann::json graph, bool fused_task);

} // namespace chameleon::measure
