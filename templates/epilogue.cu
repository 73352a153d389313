// epilogue: the element type of a task's tensors and what a kernel does to each output before it
// stores it. chameleon renders it before every template, after the template's constants:
//   DTYPE     0 float32, 1 float16, 2 bfloat16: the type of data, weight, out and residual
//             (arithmetic and accumulation are float32 in every template);
//   EPI_BIAS, EPI_RESIDUAL (0 or 1), EPI_ACT (0 none, 1 relu, 2 relu6, 3 silu, 4 hardswish):
//             out = act(conv + bias[k] + residual[n][k][oh][ow]);
//   LAYOUT_NHWC 0: NCHW tensors; 1: NHWC data, KRSC weights, NHWC out and residual (only
//             templates that take NHWC tasks read it; splitk_reduce finds a channel by it).
// Every kernel takes (data, weight, out, bias, residual): bias float32 [K], residual of elem_t in
// the output's layout; either may be null when the epilogue does not read it. A split-K kernel
// that adds into its output with atomics cannot apply an epilogue (its configs are ruled out); one
// that writes a workspace leaves it to splitk_reduce.
#if DTYPE == 0
typedef float elem_t;
#else
typedef unsigned short elem_t; // the bits of a float16 or a bfloat16
#endif
static constexpr bool EPI_ANY = EPI_BIAS || EPI_RESIDUAL || EPI_ACT != 0;

__device__ __forceinline__ float elem_to_float(float x) { return x; }
__device__ __forceinline__ float elem_to_float(unsigned short x) {
#if defined(CHM_EMULATE)
  return DTYPE == 2 ? chm_emu::bf16_to_float(x) : chm_emu::half_to_float(x);
#elif DTYPE == 2
  return __uint_as_float(unsigned(x) << 16);
#else
  float f;
  asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(x));
  return f;
#endif
}
// Rounds to the nearest elem_t, ties to even.
__device__ __forceinline__ elem_t float_to_elem(float x) {
#if DTYPE == 0
  return x;
#elif defined(CHM_EMULATE)
  return DTYPE == 2 ? chm_emu::float_to_bf16(x) : chm_emu::float_to_half(x);
#elif DTYPE == 2 && defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // No bfloat16 conversion before sm_80: round the bits (a NaN stays a NaN).
  const unsigned u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
#elif DTYPE == 2
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(h) : "f"(x));
  return h;
#else
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(h) : "f"(x));
  return h;
#endif
}

// The output of channel k (of the bias' K) at flat index i (of the residual), as stored: v itself
// when the task has no epilogue (the index arithmetic of a call is then dead code).
__device__ __forceinline__ float epilogue(float v, int k, long long i,
                                          const float* __restrict__ bias,
                                          const elem_t* __restrict__ residual) {
#if EPI_BIAS
  v += bias[k];
#endif
#if EPI_RESIDUAL
  v += elem_to_float(residual[i]);
#endif
#if EPI_ACT == 1
  v = fmaxf(v, 0.0f);
#elif EPI_ACT == 2
  v = fminf(fmaxf(v, 0.0f), 6.0f);
#elif EPI_ACT == 3
  v = v / (1.0f + expf(-v));
#elif EPI_ACT == 4
  v = v * fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
#endif
  return v;
}
static_assert(!EPI_ANY || SPLIT_K == 1 || SPLIT_WORKSPACE,
              "a fused epilogue needs split 1 or a workspace split-K");
static_assert(DTYPE == 0 || SPLIT_K == 1 || SPLIT_WORKSPACE,
              "a split by atomics adds into float32 outputs only");
