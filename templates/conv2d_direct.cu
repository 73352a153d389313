// conv2d_direct: AutoTVM's direct NCHW conv2d schedule for CUDA (task "conv2d_nchw.cuda"),
// knob for knob, and its split-K variant (conv2d_direct_splitk). chameleon prepends a prelude of
// compile-time constants:
//   workload  N C H W K R S OH OW SH SW PT PL DH DW
//   knobs     F0..F3 (tile_f), Y0..Y3 (tile_y), X0..X3 (tile_x), RC0 RC1, RY0 RY1, RX0 RX1,
//             MAX_UNROLL (auto_unroll_max_step), UNROLL_EXPLICIT (unroll_explicit),
//             SPLIT_K: blocks that share the input channels of one output tile (1: the direct
//             schedule). With SPLIT_K > 1 each block reduces C / SPLIT_K channels and adds its
//             partial sums to an output the launcher has zeroed (atomicAdd), or, with
//             SPLIT_WORKSPACE, stores them to slice `split` of a workspace [SPLIT_K][N][K][OH][OW]
//             (passed as `out`) that splitk_reduce then sums.
// Layout: data [N][C][H][W], weight [K][C][R][S], out [N][K][OH][OW], float32.
// Schedule: grid (X0, Y0, N*F0*SPLIT_K), block (X2, Y2, F2); parts [1] are virtual threads and parts [3]
// inner register tiles; every thread accumulates F1*F3 x Y1*Y3 x X1*X3 outputs in registers. Each
// reduction step stages RC1 channels x RY1 x RX1 taps of the input and the weights in shared memory.

static constexpr int FB = F1 * F2 * F3; // output channels per block
static constexpr int YB = Y1 * Y2 * Y3; // output rows per block
static constexpr int XB = X1 * X2 * X3; // output columns per block
static constexpr int THREADS = F2 * Y2 * X2;
static constexpr int AH = (YB - 1) * SH + (RY1 - 1) * DH + 1; // input tile rows
static constexpr int AW = (XB - 1) * SW + (RX1 - 1) * DW + 1; // input tile columns
static constexpr int A_SIZE = RC1 * AH * AW;
static constexpr int W_SIZE = FB * RC1 * RY1 * RX1;
static constexpr int TILE = F1 * F3 * Y1 * Y3 * X1 * X3; // accumulators per thread
static constexpr long long OUT_TOTAL = (long long)N * K * OH * OW;

// How a reduction loop is unrolled, following TVM's unroll pass: loops are considered innermost
// first; a loop is unrolled when every loop inside it is and extent x body <= auto_unroll_max_step.
// unroll_explicit expands it in the source, otherwise it gets `#pragma unroll`.
enum Unroll { kRolled = 0, kPragma = 1, kExplicit = 2 };
static constexpr int mode_for(bool unroll) {
  return unroll ? (UNROLL_EXPLICIT ? kExplicit : kPragma) : kRolled;
}
static constexpr bool UNROLL_RX = RX1 * TILE <= MAX_UNROLL;
static constexpr bool UNROLL_RY = UNROLL_RX && RY1 * RX1 * TILE <= MAX_UNROLL;
static constexpr bool UNROLL_RC = UNROLL_RY && RC1 * RY1 * RX1 * TILE <= MAX_UNROLL;

template <int V> struct Index {
  __device__ constexpr operator int() const { return V; }
};

// Calls f(Index<i>) for i in [B, E), expanded in the source; the recursion halves the range so
// that its depth stays logarithmic.
template <int B, int E, class F> __device__ __forceinline__ void static_for(F& f) {
  if constexpr (E - B == 1) {
    f(Index<B>{});
  } else if constexpr (E - B > 1) {
    static_for<B, (B + E) / 2>(f);
    static_for<(B + E) / 2, E>(f);
  }
}

template <int Extent, int Mode, class F> __device__ __forceinline__ void reduce_loop(F f) {
  if constexpr (Mode == kExplicit) {
    static_for<0, Extent>(f);
  } else if constexpr (Mode == kPragma) {
#pragma unroll
    for (int i = 0; i < Extent; ++i) f(i);
  } else {
    for (int i = 0; i < Extent; ++i) f(i);
  }
}

extern "C" __global__ void __launch_bounds__(THREADS)
    conv2d_direct(const float* __restrict__ data, const float* __restrict__ weight,
                  float* __restrict__ out, const float* __restrict__ bias,
                  const float* __restrict__ residual) {
  __shared__ float AA[A_SIZE];
  __shared__ float WW[W_SIZE];

  const int tx = threadIdx.x, ty = threadIdx.y, tz = threadIdx.z;
  const int tid = (tz * Y2 + ty) * X2 + tx;
  const int n = blockIdx.z / (F0 * SPLIT_K);
  const int f_base = (blockIdx.z % F0) * FB;
  // This block's share of the input channels: RC0 chunks of RC1, contiguous.
  const int split = (blockIdx.z / F0) % SPLIT_K;
  const int c_base = split * (RC0 * RC1);
  const int y_base = blockIdx.y * YB;
  const int x_base = blockIdx.x * XB;

  float acc[TILE];
#pragma unroll
  for (int i = 0; i < TILE; ++i) acc[i] = 0.0f;

  for (int rco = 0; rco < RC0; ++rco) {
    for (int ryo = 0; ryo < RY0; ++ryo) {
      for (int rxo = 0; rxo < RX0; ++rxo) {
        __syncthreads();
        // Cooperative loads; padding becomes zeros through the bounds checks.
        const int row0 = y_base * SH - PT + ryo * RY1 * DH;
        const int col0 = x_base * SW - PL + rxo * RX1 * DW;
        for (int i = tid; i < A_SIZE; i += THREADS) {
          const int c = i / (AH * AW);
          const int h = (i / AW) % AH;
          const int w = i % AW;
          const int gy = row0 + h, gx = col0 + w;
          AA[i] = (gy >= 0 && gy < H && gx >= 0 && gx < W)
                      ? data[((size_t(n) * C + c_base + rco * RC1 + c) * H + gy) * W + gx]
                      : 0.0f;
        }
        for (int i = tid; i < W_SIZE; i += THREADS) {
          const int f = i / (RC1 * RY1 * RX1);
          const int c = (i / (RY1 * RX1)) % RC1;
          const int ry = (i / RX1) % RY1;
          const int rx = i % RX1;
          WW[i] = weight[((size_t(f_base + f) * C + c_base + rco * RC1 + c) * R + ryo * RY1 + ry) * S +
                         rxo * RX1 + rx];
        }
        __syncthreads();

        auto body = [&](auto rci, auto ryi, auto rxi) {
#pragma unroll
          for (int vf = 0; vf < F1; ++vf)
#pragma unroll
            for (int fi = 0; fi < F3; ++fi) {
              const int fl = (vf * F2 + tz) * F3 + fi;
              const float wv = WW[((fl * RC1 + rci) * RY1 + ryi) * RX1 + rxi];
#pragma unroll
              for (int vy = 0; vy < Y1; ++vy)
#pragma unroll
                for (int yi = 0; yi < Y3; ++yi) {
                  const int yl = (vy * Y2 + ty) * Y3 + yi;
#pragma unroll
                  for (int vx = 0; vx < X1; ++vx)
#pragma unroll
                    for (int xi = 0; xi < X3; ++xi) {
                      const int xl = (vx * X2 + tx) * X3 + xi;
                      const float av = AA[(rci * AH + yl * SH + ryi * DH) * AW + xl * SW + rxi * DW];
                      acc[(((vf * F3 + fi) * Y1 + vy) * Y3 + yi) * (X1 * X3) + vx * X3 + xi] += av * wv;
                    }
                }
            }
        };
        reduce_loop<RC1, mode_for(UNROLL_RC)>([&](auto rci) {
          reduce_loop<RY1, mode_for(UNROLL_RY)>([&](auto ryi) {
            reduce_loop<RX1, mode_for(UNROLL_RX)>([&](auto rxi) { body(rci, ryi, rxi); });
          });
        });
      }
    }
  }

#pragma unroll
  for (int vf = 0; vf < F1; ++vf)
#pragma unroll
    for (int fi = 0; fi < F3; ++fi)
#pragma unroll
      for (int vy = 0; vy < Y1; ++vy)
#pragma unroll
        for (int yi = 0; yi < Y3; ++yi)
#pragma unroll
          for (int vx = 0; vx < X1; ++vx)
#pragma unroll
            for (int xi = 0; xi < X3; ++xi) {
              const int f = f_base + (vf * F2 + tz) * F3 + fi;
              const int y = y_base + (vy * Y2 + ty) * Y3 + yi;
              const int x = x_base + (vx * X2 + tx) * X3 + xi;
              const float v = acc[(((vf * F3 + fi) * Y1 + vy) * Y3 + yi) * (X1 * X3) + vx * X3 + xi];
              const size_t o = ((size_t(n) * K + f) * OH + y) * OW + x;
              float* dst = &out[o];
              if constexpr (SPLIT_K > 1 && SPLIT_WORKSPACE) {
                dst[split * OUT_TOTAL] = v;
              } else if constexpr (SPLIT_K > 1) {
                atomicAdd(dst, v);
              } else {
                *dst = epilogue(v, f, o, bias, residual);
              }
            }
}
