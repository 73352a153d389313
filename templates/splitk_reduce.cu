// splitk_reduce: the second kernel of a split-K config whose splits write their partial sums to
// a workspace (SPLIT_K slices of the output's shape and layout, floats, passed to the first kernel
// as its output) instead
// of adding them into the output with atomics: it sums the SPLIT_K slices into the output, in a
// fixed order (deterministic results), and applies the epilogue. Appended to the template's
// source, so that one module holds both entries; it reads the same prelude (N, K, OH, OW, SPLIT_K,
// the epilogue).
static constexpr long long REDUCE_TOTAL = (long long)N * K * OH * OW;
static constexpr int REDUCE_THREADS = 256;

extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
    splitk_reduce(const float* __restrict__ ws, elem_t* __restrict__ out,
                  const float* __restrict__ bias, const elem_t* __restrict__ residual) {
  for (long long i = blockIdx.x * (long long)REDUCE_THREADS + threadIdx.x; i < REDUCE_TOTAL;
       i += (long long)gridDim.x * REDUCE_THREADS) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < SPLIT_K; ++k) s += ws[k * REDUCE_TOTAL + i];
    // The output channel of element i: NHWC outputs hold the channels innermost.
    s = epilogue(s, LAYOUT_NHWC ? int(i % K) : int((i / (OH * OW)) % K), i, bias, residual);
    out[i] = float_to_elem(s);
  }
}
