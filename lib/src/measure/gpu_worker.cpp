// The GPU side of CudaRunner: a process that owns the CUDA context and measures one kernel per
// request. It may die with a faulting kernel; its parent then starts another.
#include "chameleon/codegen/embedded.hpp"
#include "chameleon/cuda/cudnn.hpp"
#include "chameleon/cuda/cudnn_graph.hpp"
#include "chameleon/cuda/device.hpp"
#include "chameleon/cuda/handles.hpp"
#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/measure/cudnn_baseline.hpp"
#include "chameleon/measure/device.hpp"
#include "chameleon/measure/options.hpp"
#include "chameleon/measure/reference.hpp"
#include "chameleon/measure/result.hpp"
#include "chameleon/measure/stats.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

namespace chameleon::measure {

namespace {

using nlohmann::json;

// A quiet NaN as a float and as each of its 16-bit halves (float16 and bfloat16): outputs a
// kernel never writes fail.
constexpr unsigned kPoison = 0x7fff7fffu;

std::string describe(CUresult r) {
  const char* text = nullptr;
  cuda::driver().cuGetErrorString(r, &text);
  return cuda::error_name(r) + (text ? std::string(" (") + text + ")" : std::string());
}

// The buffers of one task, its reference output and the verification counters. data, weight,
// out and residual hold the task's type; bias, ref and ref_conv float32.
struct TaskState {
  task::Conv2dWorkload wl;
  cuda::DeviceBuffer data, weight, out, ref, counters;
  cuda::DeviceBuffer bias, residual; // the epilogue's inputs, when it reads them
  cuda::DeviceBuffer ref_conv;       // a fused task's convolution alone (to verify cuDNN's)
  cuda::DeviceBuffer cudnn_bias;     // a fused task's bias in its type (zeros without one), for
                                     // cuDNN's epilogue
  unsigned long long inputs_sum = 0; // checksum of the inputs and references as set up
  cuda::DeviceBuffer workspace;      // split-K partial outputs, grown on demand
  float atol_scale = 1;              // max |ref|
  float atol_scale_conv = 1;         // max |ref_conv|
  size_t out_words() const {
    return (size_t(wl.output_elems()) * task::dtype_bytes(wl.dtype) + 3) / 4;
  }
};

class GpuWorker {
public:
  json init(const json& req) {
    ordinal_ = req.value("ordinal", 0);
    ctx_ = std::make_unique<cuda::PrimaryContext>(ordinal_);
    info_ = cuda::query_device(ordinal_);
    int sm = info_.cc_major * 10 + info_.cc_minor;
    std::string problem = cuda::nvrtc_arch_problem(sm);
    if (!problem.empty()) return {{"ok", false}, {"error", info_.name + ": " + problem}};
    std::string helpers = std::string(codegen::embedded_file("kernels/conv2d_reference.cu")) +
                          "\n" + std::string(codegen::embedded_file("kernels/verify.cu"));
    auto compiled = cuda::nvrtc_compile(helpers, "chameleon_helpers", "sm_" + std::to_string(sm));
    if (!compiled.ok)
      return {{"ok", false}, {"error", "helper kernels failed to compile: " + compiled.log}};
    helpers_ = cuda::Module(compiled.cubin);
    reference_fn_ = helpers_.function("conv2d_reference");
    compare_fn_ = helpers_.function("compare_outputs");
    compare16_fn_ = helpers_.function("compare_outputs_16");
    checksum_fn_ = helpers_.function("checksum_words");
    stream_ = std::make_unique<cuda::Stream>();
    json device = cuda::to_json(info_);
    return {{"ok", true}, {"device", device}, {"fingerprint", device_fingerprint(info_)}};
  }

  json set_task(const json& req) {
    task_.reset();
    task_request_ = req;
    auto t = std::make_unique<TaskState>();
    t->wl = task::workload_from_json(req.at("workload"));
    const auto& w = t->wl;
    uint64_t seed = req.value("seed", uint64_t(0));
    const TaskInputs in = make_inputs(w, seed);
    auto upload = [](cuda::DeviceBuffer& b, const std::vector<uint8_t>& bytes) {
      // Rounded up to whole words: the poison and the checksums work in 4-byte words.
      b = cuda::DeviceBuffer((bytes.size() + 3) / 4 * 4);
      b.upload(bytes.data(), bytes.size());
    };
    // The kernels' tensors in the task's layout; the reference works in NCHW.
    const bool nhwc = w.layout == task::Layout::nhwc;
    upload(t->data, to_bytes(w.dtype, to_task_layout(w, Tensor::Data, in.data)));
    upload(t->weight, to_bytes(w.dtype, to_task_layout(w, Tensor::Weight, in.weight)));
    if (!in.bias.empty()) upload(t->bias, to_bytes(task::DataType::f32, in.bias));
    if (!in.residual.empty())
      upload(t->residual, to_bytes(w.dtype, to_task_layout(w, Tensor::Residual, in.residual)));
    if (!w.epilogue.empty()) {
      upload(t->cudnn_bias,
             to_bytes(w.dtype, in.bias.empty() ? std::vector<float>(size_t(w.k), 0.0f) : in.bias));
    }
    const size_t out_bytes = size_t(w.output_elems()) * 4;
    t->out = cuda::DeviceBuffer(t->out_words() * 4);
    t->ref = cuda::DeviceBuffer(out_bytes);
    if (req.value("flush_l2", false) && flush_.bytes() == 0) {
      flush_ = cuda::DeviceBuffer(size_t(std::max<int64_t>(info_.l2_bytes, 1 << 20)) * 2);
    }

    // The reference convolution reads float32 NCHW: a float16 or bfloat16 task's rounded inputs
    // as floats, an NHWC task's in NCHW order.
    cuda::DeviceBuffer data32, weight32;
    if (w.dtype != task::DataType::f32 || nhwc) {
      upload(data32, to_bytes(task::DataType::f32, in.data));
      upload(weight32, to_bytes(task::DataType::f32, in.weight));
    }
    int oh = w.out_h(), ow = w.out_w();
    CUdeviceptr d = data32.bytes() ? data32.get() : t->data.get();
    CUdeviceptr wt = weight32.bytes() ? weight32.get() : t->weight.get();
    CUdeviceptr o = t->ref.get();
    int args_i[] = {w.n,        w.c,          w.h,          w.w,        w.k,        w.r,
                    w.s,        oh,           ow,           w.stride_h, w.stride_w, w.pad_top,
                    w.pad_left, w.dilation_h, w.dilation_w, w.groups};
    void* args[19] = {&d, &wt, &o};
    for (int i = 0; i < 16; ++i) args[3 + i] = &args_i[i];
    unsigned blocks = unsigned(std::min<int64_t>((w.output_elems() + 255) / 256, 65535 * 8));
    CU_CHECK(cuda::driver().cuLaunchKernel(reference_fn_, blocks, 1, 1, 256, 1, 1, 0,
                                           stream_->get(), args, nullptr));
    stream_->synchronize();
    std::vector<float> ref(size_t(w.output_elems()));
    t->ref.download(ref.data(), out_bytes);
    auto max_abs = [](const std::vector<float>& v) {
      float m = 0;
      for (float x : v) m = std::max(m, std::fabs(x));
      return m > 0 ? m : 1.0f;
    };
    if (!w.epilogue.empty()) {
      // The convolution alone stays, for cuDNN; the reference gets the epilogue (on the host).
      t->ref_conv = cuda::DeviceBuffer(out_bytes);
      t->ref_conv.upload(to_task_layout(w, Tensor::Residual, ref).data(), out_bytes);
      t->atol_scale_conv = max_abs(ref);
      apply_epilogue(w, in, ref);
      t->ref.upload(to_task_layout(w, Tensor::Residual, ref).data(), out_bytes);
    } else if (nhwc) {
      t->ref.upload(to_task_layout(w, Tensor::Residual, ref).data(), out_bytes);
    }
    t->atol_scale = max_abs(ref);
    t->counters = cuda::DeviceBuffer(32);
    t->inputs_sum = inputs_checksum(*t);
    const float max_reference = t->atol_scale;
    task_ = std::move(t);
    return {{"ok", true}, {"max_abs_reference", max_reference}};
  }

  json measure(const json& req, const std::string& cubin) {
    if (!task_) return error(ErrorNo::RuntimeDevice, "no task set up", false);
    const auto& api = cuda::driver();
    MeasureOptions opt = measure_options_from_json(req.at("options"));
    const codegen::LaunchGeometry g = codegen::geometry_from_json(req);
    const unsigned smem = unsigned(g.dynamic_smem);

    CUresult r = CUDA_SUCCESS;
    const cuda::Module module = cuda::Module::load(cubin, &r);
    if (r != CUDA_SUCCESS) {
      return error(ErrorNo::RuntimeDevice, "module load failed: " + describe(r),
                   cuda::is_sticky(r));
    }
    CUfunction fn = nullptr;
    r = module.find(req.at("entry").get<std::string>(), &fn);
    if (r != CUDA_SUCCESS)
      return error(ErrorNo::RuntimeDevice, "no kernel entry: " + describe(r), false);
    if (smem > 48 * 1024) {
      r = api.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(smem));
      if (r != CUDA_SUCCESS)
        return error(ErrorNo::RuntimeDevice, "shared memory opt-in: " + describe(r), false);
    }

    CUdeviceptr d = task_->data.get(), w = task_->weight.get(), o = task_->out.get();
    CUdeviceptr bias = task_->bias.get(), residual = task_->residual.get();
    const size_t out_elems = size_t(task_->wl.output_elems());
    // Workspace split-K: the kernel writes its partial outputs to the workspace, and the module's
    // reduction kernel sums them into the output; both launches are timed.
    CUfunction reduce_fn = nullptr;
    CUdeviceptr ws = 0;
    if (g.workspace_splits > 0) {
      r = module.find(codegen::kSplitkReduceEntry, &reduce_fn);
      if (r != CUDA_SUCCESS)
        return error(ErrorNo::RuntimeDevice, "no split-K reduction entry: " + describe(r), false);
      const size_t ws_bytes = out_elems * 4 * size_t(g.workspace_splits);
      if (task_->workspace.bytes() < ws_bytes) {
        try {
          task_->workspace = cuda::DeviceBuffer();
          task_->workspace = cuda::DeviceBuffer(ws_bytes);
        } catch (const std::exception& e) {
          return error(ErrorNo::RuntimeDevice, std::string("split-K workspace: ") + e.what(),
                       false);
        }
      }
      ws = task_->workspace.get();
      // NaN, like the output: a partial sum the kernel never writes cannot pass verification.
      r = api.cuMemsetD32Async(ws, kPoison, ws_bytes / 4, stream_->get());
      if (r != CUDA_SUCCESS)
        return error(ErrorNo::RuntimeDevice, "workspace reset: " + describe(r), cuda::is_sticky(r));
    }
    CUdeviceptr kernel_out = g.workspace_splits > 0 ? ws : o;
    // Every kernel takes (data, weight, out, bias, residual); the reduction (ws, out, bias,
    // residual). Null where the epilogue reads nothing.
    void* args[] = {&d, &w, &kernel_out, &bias, &residual};
    void* reduce_args[] = {&ws, &o, &bias, &residual};
    CUstream s = stream_->get();
    return verify_and_time(
        [&] {
          // Split-K kernels add into the output: zeroing it is part of every launch (and timed).
          if (g.zero_output) { // float32 outputs only (atomics)
            CUresult zeroed = api.cuMemsetD32Async(o, 0, out_elems, s);
            if (zeroed != CUDA_SUCCESS) return zeroed;
          }
          CUresult launched = api.cuLaunchKernel(fn, g.grid[0], g.grid[1], g.grid[2], g.block[0],
                                                 g.block[1], g.block[2], smem, s, args, nullptr);
          if (launched != CUDA_SUCCESS || reduce_fn == nullptr) return launched;
          return api.cuLaunchKernel(reduce_fn, g.reduce_grid[0], g.reduce_grid[1], g.reduce_grid[2],
                                    g.reduce_block[0], g.reduce_block[1], g.reduce_block[2], 0, s,
                                    reduce_args, nullptr);
        },
        opt);
  }

  // cuDNN at its best for the task: its legacy API's fastest algorithm and its graph API's
  // fastest engine, each verified and timed like a kernel, the faster kept (fastest_cudnn).
  json cudnn(const json& req) {
    if (!task_) return error(ErrorNo::RuntimeDevice, "no task set up", false);
    std::string why;
    const cuda::Cudnn* dnn = cuda::load_cudnn(&why);
    if (dnn == nullptr) return error(ErrorNo::Unknown, why, false);
    const MeasureOptions opt = measure_options_from_json(req.at("options"));
    const bool tf32 = req.value("allow_tf32", false);
    if (!dnn_handle_) dnn_handle_ = std::make_unique<cuda::CudnnHandle>(*dnn, stream_->get());
    const cuda::Cudnn::Handle handle = dnn_handle_->get();
    // A refusal of one API (an exception from a cuDNN call) leaves the other to answer; a CUDA
    // error is the worker's (its context may be lost) and ends the request.
    auto attempt = [&](auto run) {
      try {
        return run();
      } catch (const cuda::CudaError&) {
        throw;
      } catch (const Error& e) {
        return error(ErrorNo::Instantiation, e.what(), false);
      }
    };
    json legacy = attempt([&] { return cudnn_legacy(dnn, handle, tf32, opt); });
    if (legacy.value("fatal", false)) return legacy;
    json graph = dnn->graph_missing.empty()
                     ? attempt([&] { return cudnn_graph(*dnn, handle, tf32, opt); })
                     : error(ErrorNo::Instantiation, dnn->graph_missing, false);
    if (graph.value("fatal", false)) return graph;
    json out = fastest_cudnn(std::move(legacy), std::move(graph), !task_->wl.epilogue.empty());
    out["cudnn_version"] = cuda::cudnn_version(*dnn);
    return out;
  }

private:
  // The legacy API's fastest forward algorithm (cudnnFindConvolutionForwardAlgorithm) and, for a
  // fused task, its epilogue (cudnn_epilogue).
  json cudnn_legacy(const cuda::Cudnn* dnn, cuda::Cudnn::Handle handle, bool tf32,
                    const MeasureOptions& opt) {
    const auto& w = task_->wl;
    if (w.pad_top != w.pad_bottom || w.pad_left != w.pad_right) {
      return error(ErrorNo::Instantiation, "the legacy API takes symmetric padding only", false);
    }
    auto check = [&](int status, const char* what) { cuda::check_cudnn(*dnn, status, what); };
    const cuda::ConvDescriptors desc(*dnn);
    // The task's type for the tensors, float32 arithmetic (cuDNN's "pseudo half" for float16 and
    // bfloat16, which may use tensor cores).
    const int type = cudnn_data_type(w.dtype);
    // The task's layout: NHWC tensors and a KRSC filter for an NHWC task (cuDNN's NHWC format).
    const int format = w.layout == task::Layout::nhwc ? cuda::Cudnn::kNhwc : cuda::Cudnn::kNchw;
    check(dnn->cudnnSetTensor4dDescriptor(desc.x, format, type, w.n, w.c, w.h, w.w), "input");
    check(dnn->cudnnSetFilter4dDescriptor(desc.w, type, format, w.k, w.c / w.groups, w.r, w.s),
          "filter");
    check(dnn->cudnnSetTensor4dDescriptor(desc.y, format, type, w.n, w.k, w.out_h(), w.out_w()),
          "output");
    check(dnn->cudnnSetConvolution2dDescriptor(desc.conv, w.pad_top, w.pad_left, w.stride_h,
                                               w.stride_w, w.dilation_h, w.dilation_w,
                                               cuda::Cudnn::kCrossCorrelation, cuda::Cudnn::kFloat),
          "convolution");
    check(dnn->cudnnSetConvolutionGroupCount(desc.conv, w.groups), "groups");
    // fp32 means no TF32 tensor cores unless asked for; float16 and bfloat16 take them.
    const bool tensor_cores = tf32 || w.dtype != task::DataType::f32;
    check(dnn->cudnnSetConvolutionMathType(desc.conv, tensor_cores ? cuda::Cudnn::kDefaultMath
                                                                   : cuda::Cudnn::kFmaMath),
          "math type");
    cuda::Cudnn::AlgoPerf perf[16];
    int returned = 0;
    check(dnn->cudnnFindConvolutionForwardAlgorithm(handle, desc.x, desc.w, desc.conv, desc.y, 16,
                                                    &returned, perf),
          "find");
    int algo = -1;
    for (int i = 0; i < returned && algo < 0; ++i) {
      if (perf[i].status == cuda::Cudnn::kSuccess) algo = perf[i].algo;
    }
    if (algo < 0) return error(ErrorNo::RuntimeDevice, "cuDNN found no usable algorithm", false);
    size_t ws_bytes = 0;
    check(dnn->cudnnGetConvolutionForwardWorkspaceSize(handle, desc.x, desc.w, desc.conv, desc.y,
                                                       algo, &ws_bytes),
          "workspace");
    // cuDNN's fused call takes ReLU or no activation; without one, IMPLICIT_PRECOMP_GEMM only.
    // -1: not offered.
    const task::Epilogue& ep = w.epilogue;
    int fused_algo = -1;
    if (!ep.empty() && dnn->epilogue_missing.empty()) {
      if (ep.act == task::Activation::relu)
        fused_algo = algo;
      else if (ep.act == task::Activation::none)
        fused_algo = cuda::Cudnn::kImplicitPrecompGemm;
    }
    size_t fused_ws_bytes = ws_bytes;
    if (fused_algo >= 0 && fused_algo != algo &&
        dnn->cudnnGetConvolutionForwardWorkspaceSize(handle, desc.x, desc.w, desc.conv, desc.y,
                                                     fused_algo,
                                                     &fused_ws_bytes) != cuda::Cudnn::kSuccess) {
      fused_ws_bytes = ws_bytes;
    }
    cuda::DeviceBuffer workspace(std::max<size_t>({ws_bytes, fused_ws_bytes, 4}));
    const float alpha = 1.0f, beta = 0.0f;
    void* x = reinterpret_cast<void*>(task_->data.get());
    void* wt = reinterpret_cast<void*>(task_->weight.get());
    void* y = reinterpret_cast<void*>(task_->out.get());
    void* ws = reinterpret_cast<void*>(workspace.get());
    auto convolve = [&] {
      return dnn->cudnnConvolutionForward(handle, &alpha, desc.x, x, desc.w, wt, desc.conv, algo,
                                          ws, ws_bytes, &beta, desc.y, y);
    };
    json out;
    // A fused task: how cuDNN's time includes the epilogue ("fused", "separate", or the
    // "convolution alone"), and the operators or the reasons.
    std::string epilogue, detail;
    if (!ep.empty()) {
      out = cudnn_epilogue(*dnn, handle, desc, format, type, fused_algo, ws, fused_ws_bytes,
                           convolve, opt, &epilogue, &detail);
      if (out.is_null()) {
        epilogue = "convolution alone"; // neither way ran and verified; detail says why
      } else if (epilogue == "fused") {
        algo = fused_algo;
        ws_bytes = fused_ws_bytes;
      }
    }
    if (out.is_null()) {
      out = verify_and_time(
          [&] { return convolve() == cuda::Cudnn::kSuccess ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN; },
          opt, /*conv_only=*/true);
    }
    if (!ep.empty()) {
      out["epilogue"] = epilogue;
      out["epilogue_detail"] = detail;
    }
    out["algorithm"] = cuda::cudnn_algo_name(algo);
    out["workspace_bytes"] = ws_bytes;
    return out;
  }

  // The graph API: the task's operation graph (with its epilogue where cuDNN's pointwise
  // operations can say it; without, or when no engine runs that graph, the convolution alone),
  // the plans cuDNN's heuristics offer for it (at most kGraphPlans), each verified and timed, the
  // fastest kept.
  static constexpr size_t kGraphPlans = 8;
  static constexpr int64_t kGraphMaxWorkspace = int64_t(1) << 30;
  json cudnn_graph(const cuda::Cudnn& dnn, cuda::Cudnn::Handle handle, bool tf32,
                   const MeasureOptions& opt) {
    const auto& w = task_->wl;
    std::vector<std::string> reasons;
    for (const bool with_epilogue : {true, false}) {
      if (!with_epilogue && w.epilogue.empty()) break; // the first graph was the convolution
      std::string why;
      const auto spec = cudnn_graph_spec(w, with_epilogue, &why);
      if (!spec) {
        reasons.push_back(why);
        continue;
      }
      std::vector<std::string> skipped;
      json best;
      double best_s = 0;
      std::string best_name, ops;
      int64_t best_ws = 0;
      int timed = 0;
      try {
        const cuda::ConvGraph graph(dnn, *spec, handle);
        ops = graph.ops();
        const cuda::PlanFilter filter{tf32 || w.dtype != task::DataType::f32};
        auto plans = cuda::execution_plans(dnn, handle, graph, filter, kGraphPlans, &skipped);
        std::vector<int64_t> ids = {cuda::kGraphX, cuda::kGraphW, cuda::kGraphY};
        std::vector<void*> pointers = {reinterpret_cast<void*>(task_->data.get()),
                                       reinterpret_cast<void*>(task_->weight.get()),
                                       reinterpret_cast<void*>(task_->out.get())};
        if (spec->bias) {
          ids.push_back(cuda::kGraphBias);
          pointers.push_back(reinterpret_cast<void*>(task_->cudnn_bias.get()));
        }
        if (spec->residual) {
          ids.push_back(cuda::kGraphZ);
          pointers.push_back(reinterpret_cast<void*>(task_->residual.get()));
        }
        for (const auto& plan : plans) {
          if (plan.workspace_bytes > kGraphMaxWorkspace) {
            skipped.push_back(plan.name() + ": a workspace of " +
                              std::to_string(plan.workspace_bytes) + " bytes");
            continue;
          }
          cuda::DeviceBuffer workspace(size_t(std::max<int64_t>(plan.workspace_bytes, 4)));
          const cuda::VariantPack pack(dnn, ids, pointers,
                                       reinterpret_cast<void*>(workspace.get()));
          auto launch = [&] { return pack.execute(dnn, handle, plan); };
          // One call first: an engine may still refuse the pointers before it launches anything.
          if (int st = launch(); st != cuda::Cudnn::kSuccess) {
            skipped.push_back(plan.name() + ": " + dnn.cudnnGetErrorString(st));
            continue;
          }
          json r = verify_and_time(
              [&] { return launch() == cuda::Cudnn::kSuccess ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN; },
              opt, /*conv_only=*/!spec->epilogue());
          if (r.value("fatal", false)) return r;
          if (r.value("error_no", -1) != 0) {
            skipped.push_back(plan.name() + ": " + r.value("message", std::string()));
            continue;
          }
          ++timed;
          const double t = summarize(r.at("costs").get<std::vector<double>>()).median;
          if (best.is_null() || t < best_s) {
            best = std::move(r);
            best_s = t;
            best_name = plan.name();
            best_ws = plan.workspace_bytes;
          }
        }
      } catch (const cuda::CudaError&) {
        throw;
      } catch (const Error& e) {
        skipped.push_back(e.what());
      }
      const std::string graph_name = ops.empty() ? "the graph" : ops;
      if (best.is_null()) {
        // The first three engines' reasons: enough to say why, short enough for bench's column.
        const size_t shown = std::min<size_t>(skipped.size(), 3);
        std::string why_not = util::join({skipped.begin(), skipped.begin() + long(shown)}, "; ");
        if (skipped.size() > shown)
          why_not += "; " + std::to_string(skipped.size() - shown) + " more";
        reasons.push_back(graph_name + ": no engine ran and verified" +
                          (skipped.empty() ? std::string() : " (" + why_not + ")"));
        continue;
      }
      best["algorithm"] = "graph API " + best_name + " (fastest of " + std::to_string(timed) + ")";
      best["workspace_bytes"] = best_ws;
      if (!w.epilogue.empty()) {
        best["epilogue"] = spec->epilogue() ? "fused" : "convolution alone";
        best["epilogue_detail"] = spec->epilogue() ? "graph API: " + ops + " in one operation graph"
                                                   : util::join(reasons, "; ");
      }
      return best;
    }
    return error(ErrorNo::Instantiation, util::join(reasons, "; "), false);
  }

  // A fused task's epilogue with cuDNN, each way it has, verified against the whole epilogue's
  // reference and timed, the faster kept: its fused call (cudnnConvolutionBiasActivationForward;
  // RELU or no activation, with `fused_algo`; < 0: not offered) and the convolution followed by
  // separate operators (cudnnAddTensor for the bias and the residual, then cudnnActivationForward:
  // RELU, CLIPPED_RELU at 6, SWISH; cuDNN has no hardswish). `kind` is the way kept ("fused",
  // "separate"), `detail` its operators. Null when neither ran and verified, `detail` then the
  // reasons; a lost context's reply as it is, `kind` "failed".
  template <class Convolve>
  json cudnn_epilogue(const cuda::Cudnn& dnn, cuda::Cudnn::Handle handle,
                      const cuda::ConvDescriptors& desc, int format, int type, int fused_algo,
                      void* ws, size_t fused_ws_bytes, Convolve& convolve,
                      const MeasureOptions& opt, std::string* kind, std::string* detail) {
    using cuda::Cudnn;
    const auto& w = task_->wl;
    const task::Epilogue& ep = w.epilogue;
    std::unique_ptr<cuda::EpilogueDescriptors> ed;
    try {
      ed = std::make_unique<cuda::EpilogueDescriptors>(dnn); // throws when cuDNN lacks them
      cuda::check_cudnn(dnn, dnn.cudnnSetTensor4dDescriptor(ed->bias, format, type, 1, w.k, 1, 1),
                        "bias");
    } catch (const std::exception& e) {
      *detail = e.what();
      return nullptr;
    }
    void* x = reinterpret_cast<void*>(task_->data.get());
    void* wt = reinterpret_cast<void*>(task_->weight.get());
    void* y = reinterpret_cast<void*>(task_->out.get());
    const void* bias = reinterpret_cast<void*>(task_->cudnn_bias.get());
    // Without a residual the fused call still reads z (times alpha2 = 0): zeros, not the output's
    // NaN poison.
    cuda::DeviceBuffer zeros;
    if (!ep.residual && fused_algo >= 0) {
      zeros = cuda::DeviceBuffer(task_->out_words() * 4);
      CU_CHECK(cuda::driver().cuMemsetD32Async(zeros.get(), 0, task_->out_words(), stream_->get()));
    }
    const void* z = reinterpret_cast<void*>(ep.residual ? task_->residual.get() : zeros.get());
    const float one = 1.0f, zero = 0.0f, alpha2 = ep.residual ? 1.0f : 0.0f;
    auto set_activation = [&](int mode, double coef) {
      int st =
          dnn.cudnnSetActivationDescriptor(ed->activation, mode, Cudnn::kNotPropagateNan, coef);
      if (st == Cudnn::kSuccess && mode == Cudnn::kSwish)
        st = dnn.cudnnSetActivationDescriptorSwishBeta(ed->activation, 1.0);
      return st;
    };
    std::vector<std::string> reasons;
    json best;
    double best_s = 0;
    auto consider = [&](const char* way, const std::string& name, int set_up, auto launch) {
      if (set_up != Cudnn::kSuccess) {
        reasons.push_back(name + ": " + dnn.cudnnGetErrorString(set_up));
        return;
      }
      // One call first: cuDNN refuses what it does not support before it launches anything.
      if (int st = launch(); st != Cudnn::kSuccess) {
        reasons.push_back(name + ": " + dnn.cudnnGetErrorString(st));
        return;
      }
      json r = verify_and_time(
          [&] { return launch() == Cudnn::kSuccess ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN; }, opt);
      if (r.value("error_no", -1) != 0) {
        reasons.push_back(name + ": " + r.value("message", std::string()));
        if (r.value("fatal", false)) { // the context is lost: nothing more runs
          best = r;
          *kind = "failed";
          *detail = reasons.back();
        }
        return;
      }
      const double s = summarize(r.at("costs").get<std::vector<double>>()).median;
      if (best.is_null() || s < best_s) {
        best = std::move(r);
        best_s = s;
        *kind = way;
        *detail = name;
      }
    };
    if (fused_algo >= 0) {
      const bool relu = ep.act == task::Activation::relu;
      consider("fused", "fused (cudnnConvolutionBiasActivationForward)",
               set_activation(relu ? Cudnn::kRelu : Cudnn::kIdentity, 0.0), [&] {
                 return dnn.cudnnConvolutionBiasActivationForward(
                     handle, &one, desc.x, x, desc.w, wt, desc.conv, fused_algo, ws, fused_ws_bytes,
                     &alpha2, desc.y, z, ed->bias, bias, ed->activation, desc.y, y);
               });
    }
    if (*kind == "failed") return best;
    int mode = -1;
    double coef = 0.0;
    switch (ep.act) {
    case task::Activation::none:
      break;
    case task::Activation::relu:
      mode = Cudnn::kRelu;
      break;
    case task::Activation::relu6:
      mode = Cudnn::kClippedRelu;
      coef = 6.0;
      break;
    case task::Activation::silu:
      mode = Cudnn::kSwish;
      break;
    case task::Activation::hardswish:
      reasons.push_back("separate operators: cuDNN has no hardswish");
      mode = -2;
      break;
    }
    if (mode != -2) {
      std::string ops = "cudnnConvolutionForward";
      if (ep.bias || ep.residual) ops += ", cudnnAddTensor";
      if (mode >= 0) ops += ", cudnnActivationForward";
      consider("separate", "separate operators (" + ops + ")",
               mode >= 0 ? set_activation(mode, coef) : int(Cudnn::kSuccess), [&] {
                 int st = convolve();
                 if (st == Cudnn::kSuccess && ep.bias)
                   st = dnn.cudnnAddTensor(handle, &one, ed->bias, bias, &one, desc.y, y);
                 if (st == Cudnn::kSuccess && ep.residual)
                   st = dnn.cudnnAddTensor(handle, &one, desc.y, z, &one, desc.y, y);
                 if (st == Cudnn::kSuccess && mode >= 0)
                   st = dnn.cudnnActivationForward(handle, ed->activation, &one, desc.y, y, &zero,
                                                   desc.y, y);
                 return st;
               });
    }
    if (best.is_null()) *detail = util::join(reasons, "; ");
    return best;
  }

private:
  // One launch into a NaN-poisoned output, verification against the reference, warm-up, then the
  // timed rounds (from a CUDA graph when asked and capturable).
  template <class Launch>
  json verify_and_time(Launch launch, const MeasureOptions& opt, bool conv_only = false) {
    const auto& api = cuda::driver();
    CUstream s = stream_->get();
    CU_CHECK(api.cuMemsetD32Async(task_->out.get(), kPoison, task_->out_words(), s));
    CUresult r = launch();
    if (r != CUDA_SUCCESS)
      return error(ErrorNo::RuntimeDevice, "launch failed: " + describe(r), cuda::is_sticky(r));
    r = api.cuStreamSynchronize(s);
    if (r != CUDA_SUCCESS)
      return error(ErrorNo::RuntimeDevice, "kernel failed: " + describe(r), true);
    std::optional<std::string> wrong = verify(opt, conv_only);
    if (inputs_checksum(*task_) != task_->inputs_sum) {
      // The kernel wrote outside its output: set the task up again, so that the configs measured
      // next are not failed by damaged inputs or a damaged reference.
      std::string what =
          "the kernel wrote outside its output (the inputs or the reference changed)";
      if (wrong) what += "; its output is wrong too: " + *wrong;
      const json request = task_request_; // set_task overwrites task_request_
      json again = set_task(request);
      if (!again.value("ok", false))
        return error(ErrorNo::WrongAnswer, what + "; resetting the task failed", true);
      return error(ErrorNo::WrongAnswer, what, false);
    }
    if (wrong) return error(ErrorNo::WrongAnswer, *wrong, false);

    int warmup = opt.warmup, repeat = std::max(1, opt.repeat);
    cuda::Event e0, e1;
    for (int i = 0; i < warmup; ++i) CU_CHECK(launch());
    e0.record(s);
    CU_CHECK(launch());
    e1.record(s);
    const double single_ms = e1.elapsed_since(e0);
    // A very slow kernel gets fewer rounds, so that it ends well inside the run timeout.
    const double budget_ms = 0.4 * opt.run_timeout_s * 1000;
    if (single_ms * (repeat + warmup) > budget_ms) {
      repeat = std::max(1, std::min(repeat, int(budget_ms / std::max(single_ms, 1e-3))));
    }
    const int number = launches_per_round(single_ms, opt.min_repeat_ms, opt.max_number);
    cuda::GraphExec graph;
    if (opt.cuda_graph) graph = capture(launch, number);
    std::vector<double> costs;
    for (int round = 0; round < repeat; ++round) {
      if (opt.flush_l2 && flush_.bytes() > 0) {
        CU_CHECK(api.cuMemsetD32Async(flush_.get(), unsigned(round + 1), flush_.bytes() / 4, s));
      }
      e0.record(s);
      if (graph) {
        graph.launch(s);
      } else {
        for (int i = 0; i < number; ++i) CU_CHECK(launch());
      }
      e1.record(s);
      costs.push_back(double(e1.elapsed_since(e0)) / 1000.0 / number);
    }
    r = api.cuStreamSynchronize(s);
    if (r != CUDA_SUCCESS)
      return error(ErrorNo::RuntimeDevice, "kernel failed while timed: " + describe(r), true);
    return {{"error_no", 0},
            {"message", ""},
            {"costs", costs},
            {"number", number},
            {"cuda_graph_used", bool(graph)},
            {"fatal", false}};
  }

  static json error(ErrorNo e, const std::string& message, bool fatal) {
    return {{"error_no", int(e)}, {"message", message}, {"costs", json::array()}, {"fatal", fatal}};
  }

  template <class Launch> cuda::GraphExec capture(Launch& launch, int number) {
    const auto& api = cuda::driver();
    CUstream s = stream_->get();
    if (api.cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) != CUDA_SUCCESS) return {};
    bool ok = true;
    for (int i = 0; ok && i < number; ++i) ok = launch() == CUDA_SUCCESS;
    CUgraph g = nullptr;
    if (api.cuStreamEndCapture(s, &g) != CUDA_SUCCESS || !ok || g == nullptr) {
      if (g != nullptr) api.cuGraphDestroy(g);
      return {};
    }
    try {
      return cuda::GraphExec(g);
    } catch (const std::exception&) {
      return {};
    }
  }

  // The checksum of a task's data, weights and reference (checksum_words in kernels/verify.cu).
  unsigned long long inputs_checksum(TaskState& t) {
    const auto& api = cuda::driver();
    CUstream s = stream_->get();
    CUdeviceptr sum = t.counters.get() + 24;
    CU_CHECK(api.cuMemsetD32Async(sum, 0, 2, s));
    for (const cuda::DeviceBuffer* b :
         {&t.data, &t.weight, &t.ref, &t.bias, &t.residual, &t.ref_conv}) {
      if (b->bytes() == 0) continue;
      CUdeviceptr p = b->get();
      long long n = (long long)(b->bytes() / 4);
      void* args[] = {&p, &n, &sum};
      unsigned blocks = unsigned(std::min<long long>((n + 255) / 256, 1024));
      CU_CHECK(api.cuLaunchKernel(checksum_fn_, blocks, 1, 1, 256, 1, 1, 0, s, args, nullptr));
    }
    stream_->synchronize();
    unsigned long long got = 0;
    CU_CHECK(api.cuMemcpyDtoH(&got, sum, sizeof(got)));
    return got;
  }

  // A description of the mismatch, or nothing when the output matches the reference (with
  // conv_only, a fused task's convolution alone: what cuDNN computes).
  std::optional<std::string> verify(const MeasureOptions& opt, bool conv_only = false) {
    const auto& api = cuda::driver();
    CUstream s = stream_->get();
    TaskState& t = *task_;
    const bool alone = conv_only && t.ref_conv.bytes() > 0;
    CUdeviceptr out = t.out.get(), ref = alone ? t.ref_conv.get() : t.ref.get();
    long long n = t.wl.output_elems();
    float rtol = float(opt.rtol),
          atol = float(opt.atol) * (alone ? t.atol_scale_conv : t.atol_scale);
    CUdeviceptr bad = t.counters.get(), first = bad + 8, worst = bad + 16;
    // The counters are reset on the stream itself, ordered before the comparison.
    CU_CHECK(api.cuMemsetD32Async(bad, 0, 2, s));
    CU_CHECK(api.cuMemsetD32Async(first, ~0u, 2, s));
    CU_CHECK(api.cuMemsetD32Async(worst, 0, 2, s));
    int bf16 = t.wl.dtype == task::DataType::bf16 ? 1 : 0;
    void* args[] = {&out, &ref, &n, &rtol, &atol, &bad, &first, &worst, &bf16};
    unsigned blocks = unsigned(std::min<long long>((n + 255) / 256, 4096));
    CUfunction fn = t.wl.dtype == task::DataType::f32 ? compare_fn_ : compare16_fn_;
    CU_CHECK(api.cuLaunchKernel(fn, blocks, 1, 1, 256, 1, 1, 0, s, args, nullptr));
    stream_->synchronize();
    unsigned long long got[3];
    t.counters.download(got, sizeof(got));
    if (got[0] == 0) return std::nullopt;
    const size_t size = size_t(task::dtype_bytes(t.wl.dtype));
    unsigned char bytes[4] = {0, 0, 0, 0};
    float rv = 0;
    CU_CHECK(api.cuMemcpyDtoH(bytes, out + got[1] * size, size));
    CU_CHECK(api.cuMemcpyDtoH(&rv, ref + got[1] * 4, 4));
    const float o = from_bytes(t.wl.dtype, bytes);
    float worst_ratio;
    unsigned worst_bits = unsigned(got[2]);
    std::memcpy(&worst_ratio, &worst_bits, 4);
    return std::to_string(got[0]) + " of " + std::to_string(n) +
           " outputs differ from the reference (first at index " + std::to_string(got[1]) +
           ": got " + std::to_string(o) + ", expected " + std::to_string(rv) + "; worst error " +
           util::fixed(worst_ratio, 1) + "x the tolerance)";
  }

  int ordinal_ = 0;
  std::unique_ptr<cuda::PrimaryContext> ctx_;
  cuda::DeviceInfo info_;
  cuda::Module helpers_;
  CUfunction reference_fn_ = nullptr, compare_fn_ = nullptr, compare16_fn_ = nullptr,
             checksum_fn_ = nullptr;
  json task_request_; // the last set_task, to set the task up again after a kernel damaged it
  std::unique_ptr<cuda::Stream> stream_;
  cuda::DeviceBuffer flush_;
  std::unique_ptr<TaskState> task_;
  std::unique_ptr<cuda::CudnnHandle> dnn_handle_; // made on the first cuDNN request
};

} // namespace

int run_gpu_worker(int fd) {
  GpuWorker worker;
  while (auto request = util::read_message(fd)) {
    const json& h = request->header;
    std::string op = h.value("op", std::string());
    json reply;
    try {
      if (op == "init") {
        reply = worker.init(h);
      } else if (op == "task") {
        reply = worker.set_task(h);
      } else if (op == "measure") {
        reply = worker.measure(h, request->blob);
      } else if (op == "cudnn") {
        reply = worker.cudnn(h);
      } else {
        reply = {{"ok", false}, {"error", "unknown request '" + op + "'"}};
      }
    } catch (const std::exception& e) {
      // Something outside the kernel failed (allocation, event, copy): report and let the parent
      // replace this process, whose context may be damaged.
      reply = {{"ok", false},
               {"error", e.what()},
               {"error_no", int(ErrorNo::RuntimeDevice)},
               {"message", e.what()},
               {"costs", json::array()},
               {"fatal", true}};
    }
    if (!util::write_message(fd, {reply, ""})) break;
  }
  return 0;
}

} // namespace chameleon::measure
