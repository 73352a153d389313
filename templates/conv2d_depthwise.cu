// conv2d_depthwise: a direct kernel for depthwise convolutions (one input channel per group:
// groups = C, K = C * M with M output channels per input channel, the "channel multiplier").
//   out[n][k][oh][ow] = sum_{r,s} data[n][k / M][oh*SH - PT + r*DH][ow*SW - PL + s*DW] * weight[k][0][r][s]
// As a GEMM this is one row per group with a reduction of R*S: nothing to tile, all memory
// traffic. So each block stages, for CB output channels, the input patch its TILE_H x TILE_W
// outputs need (halo included, zeros for padding) in shared memory once, with coalesced loads,
// and the R*S weights of each channel; every thread then computes THREAD_H x THREAD_W outputs of
// one channel from shared memory.
// chameleon prepends a prelude of compile-time constants:
//   workload  N C H W K R S OH OW SH SW PT PL DH DW
//   knobs     TILE_H TILE_W (outputs of a block per channel), THREAD_H THREAD_W (outputs of a
//             thread), CB (output channels of a block), INTERLEAVE (0: a thread's outputs are
//             adjacent in a row, and the input row they share is read from shared memory once;
//             1: they are TILE_W / THREAD_W columns apart, so that neighbouring lanes read
//             neighbouring words)
// Grid: (output tiles of a plane, ceil(K / CB), N); block: CB * (TILE_H / THREAD_H) *
// (TILE_W / THREAD_W) threads, the columns fastest (coalesced stores); with LAYOUT_NHWC the
// channels fastest, in the staging loads as in the stores.
// Layout: data [N][C][H][W], weight [K][1][R][S], out [N][K][OH][OW]; with LAYOUT_NHWC data
// [N][H][W][C], weight [K][R][S][1] (the same memory), out [N][OH][OW][K]; of elem_t (float32, or
// float16/bfloat16: converted to float32 as they are staged, accumulated in float32, the output
// rounded once). Every size is
// handled by bounds checks: odd and non-square planes, stride, dilation, asymmetric padding,
// prime channel counts and batch > 1.

static constexpr int M = K / C; // output channels per input channel
static constexpr bool NHWC = LAYOUT_NHWC;
static constexpr int LANES_H = TILE_H / THREAD_H;
static constexpr int LANES_W = TILE_W / THREAD_W;
static constexpr int PLANE_THREADS = LANES_H * LANES_W; // threads of one channel
static constexpr int THREADS = CB * PLANE_THREADS;
static constexpr int IN_H = (TILE_H - 1) * SH + (R - 1) * DH + 1; // input patch rows
static constexpr int IN_W = (TILE_W - 1) * SW + (S - 1) * DW + 1; // input patch columns
static constexpr int IN_SIZE = IN_H * IN_W;
static constexpr int RS = R * S;
static constexpr int TILES_W = (OW + TILE_W - 1) / TILE_W;
// The input columns of a thread's adjacent outputs in one row (INTERLEAVE 0).
static constexpr int SEG = (THREAD_W - 1) * SW + (S - 1) * DW + 1;

extern "C" __global__ void __launch_bounds__(THREADS)
    conv2d_depthwise(const elem_t* __restrict__ data, const elem_t* __restrict__ weight,
                     elem_t* __restrict__ out, const float* __restrict__ bias,
                     const elem_t* __restrict__ residual) {
  __shared__ float patch[CB * IN_SIZE];
  __shared__ float taps[CB * RS];

  const int tid = threadIdx.x;
  const int oh0 = (blockIdx.x / TILES_W) * TILE_H, ow0 = (blockIdx.x % TILES_W) * TILE_W;
  const int k0 = blockIdx.y * CB;
  const int n = blockIdx.z;
  const int ih0 = oh0 * SH - PT, iw0 = ow0 * SW - PL;

  // Cooperative loads, consecutive threads on consecutive columns (NHWC: channels); padding and
  // edges are zeros.
#pragma unroll 4
  for (int e = tid; e < CB * IN_SIZE; e += THREADS) {
    const int cl = NHWC ? e % CB : e / IN_SIZE, rest = NHWC ? e / CB : e % IN_SIZE;
    const int y = rest / IN_W, x = rest % IN_W;
    const int k = k0 + cl, ih = ih0 + y, iw = iw0 + x;
    const bool valid = k < K && ih >= 0 && ih < H && iw >= 0 && iw < W;
    const size_t at = NHWC ? ((size_t(n) * H + ih) * W + iw) * C + k / M
                           : ((size_t(n) * C + k / M) * H + ih) * W + iw;
    patch[cl * IN_SIZE + rest] = valid ? elem_to_float(data[at]) : 0.0f;
  }
  for (int e = tid; e < CB * RS; e += THREADS) {
    const int k = k0 + e / RS;
    taps[e] = k < K ? elem_to_float(weight[size_t(k0) * RS + e]) : 0.0f;
  }
  __syncthreads();

  // A thread's channel and place in the plane: NHWC threads of neighbouring channels store
  // neighbouring outputs.
  const int cl = NHWC ? tid % CB : tid / PLANE_THREADS, t = NHWC ? tid / CB : tid % PLANE_THREADS;
  const int ty = t / LANES_W, tx = t % LANES_W;
  const float* const p = patch + cl * IN_SIZE;
  const float* const w = taps + cl * RS;
  // Local output coordinates of output (i, j) of this thread.
  auto row_of = [&](int i) { return ty * THREAD_H + i; };
  auto col_of = [&](int j) { return INTERLEAVE ? tx + j * LANES_W : tx * THREAD_W + j; };

  float acc[THREAD_H][THREAD_W];
#pragma unroll
  for (int i = 0; i < THREAD_H; ++i)
#pragma unroll
    for (int j = 0; j < THREAD_W; ++j) acc[i][j] = 0.0f;

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < THREAD_H; ++i) {
      const float* const row = p + (row_of(i) * SH + r * DH) * IN_W;
      if constexpr (INTERLEAVE) {
#pragma unroll
        for (int s = 0; s < S; ++s) {
          const float tap = w[r * S + s];
#pragma unroll
          for (int j = 0; j < THREAD_W; ++j) acc[i][j] = fmaf(row[col_of(j) * SW + s * DW], tap, acc[i][j]);
        }
      } else {
        // The row's inputs of the thread's adjacent outputs, read once.
        float seg[SEG];
        const int x0 = tx * THREAD_W * SW;
#pragma unroll
        for (int u = 0; u < SEG; ++u) seg[u] = row[x0 + u];
#pragma unroll
        for (int s = 0; s < S; ++s) {
          const float tap = w[r * S + s];
#pragma unroll
          for (int j = 0; j < THREAD_W; ++j) acc[i][j] = fmaf(seg[j * SW + s * DW], tap, acc[i][j]);
        }
      }
    }
  }

  const int k = k0 + cl;
  if (k < K) {
#pragma unroll
    for (int i = 0; i < THREAD_H; ++i)
#pragma unroll
      for (int j = 0; j < THREAD_W; ++j) {
        const int oh = oh0 + row_of(i), ow = ow0 + col_of(j);
        if (oh < OH && ow < OW) {
          const size_t o = NHWC ? ((size_t(n) * OH + oh) * OW + ow) * K + k
                                : ((size_t(n) * K + k) * OH + oh) * OW + ow;
          out[o] = float_to_elem(epilogue(acc[i][j], k, o, bias, residual));
        }
      }
  }
}
