// conv2d_tensorcore: conv2d as an implicit GEMM on fp16/bf16 tensor cores (mma.sync m16n8k16,
// float32 accumulation), for float16 and bfloat16 tasks on sm_80 and newer; rendered with
// WGMMA 1, conv2d_wgmma: the same GEMM on sm_90a's warpgroup-wide wgmma.mma_async.
//   out[m][p] = sum_j weight[m][j] * im2col[j][p]
//   m: output channel (GM = K / G rows), p: output pixel n*OH*OW + oh*OW + ow (GN columns),
//   j: reduction index (GK = C / G * R * S): c*R*S + r*S + s for NCHW tasks, (r*S + s)*CG + c for
//   NHWC ones (the weights' own order in both); one GEMM per group.
// chameleon prepends a prelude of compile-time constants:
//   workload  N C H W K R S OH OW SH SW PT PL DH DW, G (groups);
//   type      DTYPE (1 float16, 2 bfloat16), LAYOUT_NHWC and the epilogue (templates/epilogue.cu);
//   knobs     BK (reduction slice per stage, a multiple of 16), WARPS_M WARPS_N (warps of a
//             block), MI NI (16 x 8 mma tiles per warp along the channels and the pixels);
//             with WGMMA, WG_M WG_N (warpgroups of 128 threads), MI (64-row tiles per
//             warpgroup) and WN (pixels per warpgroup: the N of m64nNk16, 8-256) instead, and
//             WGMMA_PENDING (0, 1: the tiles whose multiplies may still run while the next
//             tile's are issued; the ring then prefetches one tile less far);
//             STAGES (shared-memory stages of the copy ring, 2-4), SPLIT_K (blocks that share the
//             reduction of an output tile; they store float32 partial sums into slice `split` of a
//             workspace of SPLIT_K outputs (in the output's layout), passed as `out`, that
//             splitk_reduce sums, applies the epilogue to and rounds to the output type).
// Grid: (pixel tiles, channel tiles, G * SPLIT_K); blockIdx.z = group * SPLIT_K + split.
// Layout: data [N][C][H][W], weight [K][C/G][R][S], out and residual [N][K][OH][OW], all elem_t;
// with LAYOUT_NHWC, data [N][H][W][C], weight [K][R][S][C/G], out and residual [N][OH][OW][K].
// Bias float32 [K]. Every size is handled by bounds checks.
//
// Shared memory (dynamic), mma.sync: [STAGES][BM][A_LD] weights (a row holds BK reduction indices), then
// the input: NCHW, [STAGES][BK][B_LD] (a row holds BN pixels); NHWC, [STAGES][BN][A_LD] (a row
// holds a pixel's BK reduction indices, as the weights do); every row padded by 8 elements, so that
// the 8 rows an ldmatrix reads fall in 8 different 16-byte bank groups. Fragments come from
// ldmatrix: .x4 for a 16x16 weight tile; for 16x8 input tiles .x4.trans (.x2.trans for a single
// one) from NCHW rows, .x4 (.x2) from NHWC ones.
// Weights are copied with 16-byte cp.async when a row's start is 16-byte aligned (GK % 8 == 0),
// else element by element. NCHW input is gathered element by element into registers while the
// block computes the tile before, and stored after it (a pointwise convolution over whole
// images, whose columns are contiguous, copies 16 bytes with cp.async instead). NHWC input with
// CG % 8 == 0 is copied 16 bytes (8 channels of one tap) at a time with cp.async, whatever the
// kernel, stride, padding or dilation (zero-filled outside the image); with other channel counts
// it is gathered element by element as NCHW input is.
// WGMMA: both tiles K-major in wgmma's layout without swizzling, [STAGES][BM*BK] weights and
// [STAGES][BN*BK] input (a pixel a row, NCHW and NHWC alike): 8x8 core matrices of 128
// contiguous bytes (8 rows of 8 reduction indices), BK/8 of them along a row group, row groups
// BK*16 bytes apart (core_at). The wgmma reads both tiles from there through descriptors; no
// ldmatrix. NCHW input is always gathered (no 16-byte pixel copies), 8 reduction indices of a
// pixel at a time (B_CHUNKED).

static constexpr int CG = C / G;
static constexpr int GM = K / G;
static constexpr int GN = N * OH * OW;
static constexpr int GK = CG * R * S;
static constexpr long long OUT_TOTAL = (long long)N * K * OH * OW;
static constexpr int PQ = OH * OW;
static constexpr int RS = R * S;
#if WGMMA
static constexpr int BM = WG_M * 64 * MI;
static constexpr int BN = WG_N * WN;
static constexpr int THREADS = 128 * WG_M * WG_N;
#else
static constexpr int BM = WARPS_M * 16 * MI;
static constexpr int BN = WARPS_N * 8 * NI;
static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
#endif
static constexpr bool NHWC = LAYOUT_NHWC;
static constexpr int A_LD = BK + 8;
static constexpr int B_LD = NHWC ? BK + 8 : BN + 8; // elements a row: a pixel's (NHWC) or a j's
static constexpr int A_STAGE = WGMMA ? BM * BK : BM * A_LD;
static constexpr int B_STAGE = WGMMA ? BN * BK : NHWC ? BN * B_LD : BK * B_LD;
static constexpr int KT = (GK + BK - 1) / BK;
// Tiles the copy ring holds ahead of the one multiplied: all stages but that one, and but the
// stages whose asynchronous multiplies may still read them (WGMMA_PENDING).
static constexpr int PREFETCH = STAGES - 1 - WGMMA_PENDING;
static_assert(PREFETCH >= 1, "a stage to prefetch into");
static constexpr int KT_PER_SPLIT = (KT + SPLIT_K - 1) / SPLIT_K;
static_assert(BK % 16 == 0, "tile_k is a multiple of 16");
// 16-byte weight copies need every row to start 16-byte aligned.
static constexpr bool A_VEC = GK % 8 == 0;
// 16-byte input copies. NCHW: a pointwise convolution over whole images, 8 pixels of one image a
// copy. NHWC: 8 channels of one tap of one pixel a copy, when every 8 reduction indices from a
// multiple of 8 are channels of one tap (CG % 8 == 0).
static constexpr bool B_VEC = NHWC ? CG % 8 == 0
                                   : !WGMMA && R == 1 && S == 1 && SH == 1 && SW == 1 &&
                                         PT == 0 && PL == 0 && OH == H && OW == W && PQ % 8 == 0;
// NHWC copies: BN pixels x BK/8 chunks of 8 reduction indices a tile; copy e (of B_NCOPIES) of a
// tile is pixel e / B_CHUNKS, chunk e % B_CHUNKS; a thread makes copies tid + i * THREADS.
static constexpr bool B_NHWC_VEC = NHWC && B_VEC;
static constexpr int B_CHUNKS = BK / 8;
static constexpr int B_NCOPIES = BN * B_CHUNKS;
// WGMMA's gather (whatever it cannot copy 16 bytes at a time): a thread gathers 8 reduction
// indices of one pixel at a time into registers (pixel e % BN, chunk e / BN of item e, so that a
// warp's loads of one index are adjacent pixels) and stores them as one 16-byte row of a core
// matrix (element-wise stores a pixel apart would meet in the same banks).
static constexpr bool B_CHUNKED = WGMMA && !B_VEC;
// The input gather otherwise: a thread owns B_SLOTS columns col0 + i * THREADS and the rows
// row0 + B_ROW_STEP * r of each (NCHW B_VEC: columns of 8 pixels).
static constexpr int B_W = B_VEC && !NHWC ? 8 : 1;
static constexpr int B_COPIES = BN / B_W;
static constexpr int B_ROW_STEP = THREADS >= B_COPIES ? THREADS / B_COPIES : 1;
static constexpr int B_SLOTS = B_NHWC_VEC || B_CHUNKED ? (B_NCOPIES + THREADS - 1) / THREADS
                               : THREADS >= B_COPIES ? 1
                                                     : B_COPIES / THREADS;
static constexpr int B_ROWS = (BK + B_ROW_STEP - 1) / B_ROW_STEP; // rows of a thread per tile
// The elements a thread gathers into registers per tile.
static constexpr int B_STAGED = B_VEC ? 1 : B_CHUNKED ? B_SLOTS * 8 : B_ROWS * B_SLOTS;
template <bool Fits32> struct OffsetOf { typedef int type; };
template <> struct OffsetOf<false> { typedef long long type; };
typedef OffsetOf<(long long)N * C * H * W < (1LL << 31)>::type Offset;

// Where a tile's elements lie in a stage: weight (row, j) and input (j, pixel column), j the
// tile-relative reduction index. WGMMA: core matrices (above); otherwise padded rows.
__device__ __forceinline__ int core_at(int row, int j) {
  return ((row / 8) * (BK / 8) + j / 8) * 64 + (row % 8) * 8 + j % 8;
}
__device__ __forceinline__ int a_at(int row, int j) {
  return WGMMA ? core_at(row, j) : row * A_LD + j;
}
__device__ __forceinline__ int b_at(int j, int col) {
  return WGMMA ? core_at(col, j) : NHWC ? col * B_LD + j : j * B_LD + col;
}

#if defined(CHM_EMULATE)
// The host emulator provides cp_async16_b, cp_async_commit, cp_async_wait<N>, CHM_DYNAMIC_SMEM,
// and for WGMMA smem_addr, wgmma_tile, wgmma_fence, wgmma_commit, wgmma_wait<N> and
// fence_proxy_async (ldmatrix and mma.sync: templates/mma.cu).
#else
#define CHM_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
__device__ __forceinline__ void cp_async16_b(void* dst, const void* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int Pending> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}
#if WGMMA
// wgmma_tile (d += A x B for a 64 x WN x 16 multiply, WN/2 accumulators a thread) is rendered
// before this source, its operand list being WN's.
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int Pending> __device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}
// Shared memory written by this thread (cp.async, stores), visible to the tensor cores' reads.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
#endif
#endif

#if WGMMA
// The descriptor of a K-major tile without swizzling that starts at core matrix `p`: its shared
// address, the leading byte offset (the next core matrix along the reduction: 128 bytes) and
// the stride byte offset (the next 8 rows: BK * 16 bytes), each in 16-byte units.
__device__ __forceinline__ unsigned long long tile_descriptor(const elem_t* p) {
  return (unsigned long long)((smem_addr(p) & 0x3FFFFu) >> 4) | (128ull >> 4) << 16 |
         (unsigned long long)(BK * 16 >> 4) << 32;
}
#endif

// What a thread's input gathers need in every tile, computed once per slot: the input offset of
// the pixel's first tap (group-relative) and that tap's row and column for the bounds checks (the
// row far negative for a pixel beyond GN, or a slot beyond the tile's copies, so that every tap
// fails the check).
struct Pixels {
  Offset off[B_SLOTS];
  int ih[B_SLOTS], iw[B_SLOTS];
};

// The column (tile-relative pixel) of slot i of thread tid.
__device__ __forceinline__ int slot_column(int tid, int i) {
  if constexpr (B_NHWC_VEC) return (tid + i * THREADS) / B_CHUNKS;
  if constexpr (B_CHUNKED) return (tid + i * THREADS) % BN;
  const int col0 = THREADS >= B_COPIES ? tid % B_COPIES : tid;
  return (col0 + i * THREADS) * B_W;
}

__device__ __forceinline__ Pixels pixels_of(int n0, int tid) {
  Pixels px;
#pragma unroll
  for (int i = 0; i < B_SLOTS; ++i) {
    const int p = n0 + slot_column(tid, i);
    const bool mine = !(B_NHWC_VEC || B_CHUNKED) || tid + i * THREADS < B_NCOPIES;
    const int img = p / PQ, q = p % PQ, oh = q / OW, ow = q % OW;
    const int ih = oh * SH - PT, iw = ow * SW - PL;
    px.ih[i] = p < GN && mine ? ih : -(1 << 29);
    px.iw[i] = iw;
    px.off[i] = !(p < GN && mine) ? Offset(0)
                : NHWC           ? ((Offset(img) * H + ih) * W + iw) * C
                                 : (Offset(img) * C * H + ih) * W + iw;
  }
  return px;
}

// Weights of reduction tile `kt` into one stage: BM rows of BK indices.
__device__ __forceinline__ void load_weights(const elem_t* __restrict__ weight, elem_t* As, int m0,
                                             int kt, int tid) {
  const int k0 = kt * BK;
  if constexpr (A_VEC) {
    constexpr int PER_ROW = BK / 8, COPIES = BM * PER_ROW;
#pragma unroll
    for (int e = tid; e < COPIES; e += THREADS) {
      const int row = e / PER_ROW, col = (e % PER_ROW) * 8;
      const bool valid = m0 + row < GM && k0 + col < GK;
      const elem_t* src = valid ? weight + (size_t(m0 + row) * GK + k0 + col) : weight;
      cp_async16_b(As + a_at(row, col), src, valid);
    }
  } else {
    constexpr int COPIES = BM * BK;
#pragma unroll 4
    for (int e = tid; e < COPIES; e += THREADS) {
      const int row = e / BK, col = e % BK;
      const bool valid = m0 + row < GM && k0 + col < GK;
      As[a_at(row, col)] = valid ? weight[size_t(m0 + row) * GK + k0 + col] : elem_t(0);
    }
  }
}

// The reduction index j's tap and channel: its offset in the input from the pixel's first tap,
// and the tap's row and column offsets.
struct Tap {
  Offset off;
  int dh, dw;
};
__device__ __forceinline__ Tap tap_of(unsigned j) {
  if constexpr (NHWC) {
    const unsigned rs = j / CG, c = j - rs * CG, r = rs / S, s = rs - r * S;
    const int dh = int(r) * DH, dw = int(s) * DW;
    return {(Offset(dh) * W + dw) * C + c, dh, dw};
  } else {
    const unsigned c = j / RS, rs = j - c * RS, r = rs / S, s = rs - r * S;
    const int dh = int(r) * DH, dw = int(s) * DW;
    return {(Offset(c) * H + dh) * W + dw, dh, dw};
  }
}

// NHWC input of reduction tile `kt` with CG % 8 == 0: 16-byte copies of 8 channels of one tap.
__device__ __forceinline__ void copy_input_nhwc(const elem_t* __restrict__ data, const Pixels& px,
                                                elem_t* Bs, int kt, int tid) {
#pragma unroll
  for (int i = 0; i < B_SLOTS; ++i) {
    const int e = tid + i * THREADS;
    if (B_NCOPIES % THREADS == 0 || e < B_NCOPIES) {
      const int col = e / B_CHUNKS, chunk = e % B_CHUNKS;
      const unsigned j = unsigned(kt * BK + chunk * 8);
      const Tap tap = tap_of(j);
      const int ih = px.ih[i] + tap.dh, iw = px.iw[i] + tap.dw;
      const bool valid = j < unsigned(GK) && unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W);
      cp_async16_b(Bs + b_at(chunk * 8, col), valid ? data + (px.off[i] + tap.off) : data, valid);
    }
  }
}

// The input of reduction tile `kt`: 16-byte copies into the stage (B_VEC), else gathered into `v`.
__device__ __forceinline__ void load_input(const elem_t* __restrict__ data, const Pixels& px,
                                           elem_t* Bs, elem_t* v, int kt, int tid) {
  if constexpr (B_NHWC_VEC) {
    copy_input_nhwc(data, px, Bs, kt, tid);
    return;
  }
  const int k0 = kt * BK;
  if constexpr (B_CHUNKED) {
#pragma unroll
    for (int i = 0; i < B_SLOTS; ++i) {
      const int chunk = (tid + i * THREADS) / BN; // beyond B_CHUNKS: not a copy (px says so)
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        const unsigned j = unsigned(k0 + chunk * 8 + q);
        const Tap tap = tap_of(j);
        const int ih = px.ih[i] + tap.dh, iw = px.iw[i] + tap.dw;
        const bool valid = j < unsigned(GK) && unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W);
        v[i * 8 + q] = valid ? data[px.off[i] + tap.off] : elem_t(0);
      }
    }
    return;
  }
  const int row0 = THREADS >= B_COPIES ? tid / B_COPIES : 0;
  const int col0 = THREADS >= B_COPIES ? tid % B_COPIES : tid;
#pragma unroll
  for (int rr = 0; rr < B_ROWS; ++rr) {
    const int row = row0 + rr * B_ROW_STEP;
    const unsigned j = unsigned(k0 + row);
    const bool j_valid = row < BK && j < unsigned(GK);
    if constexpr (B_VEC) { // NCHW pointwise: j is the channel
#pragma unroll
      for (int i = 0; i < B_SLOTS; ++i) {
        const bool valid = j_valid && px.ih[i] >= 0;
        if (row < BK)
          cp_async16_b(Bs + b_at(row, (col0 + i * THREADS) * 8),
                       valid ? data + (px.off[i] + Offset(j) * PQ) : data, valid);
      }
    } else {
      const Tap tap = tap_of(j);
#pragma unroll
      for (int i = 0; i < B_SLOTS; ++i) {
        const int ih = px.ih[i] + tap.dh, iw = px.iw[i] + tap.dw;
        const bool valid = j_valid && unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W);
        v[rr * B_SLOTS + i] = valid ? data[px.off[i] + tap.off] : elem_t(0);
      }
    }
  }
}

// 8 elements, stored as one 16-byte row of a core matrix.
struct __align__(16) Row8 {
  elem_t e[8];
};

// The gathered input into its stage.
__device__ __forceinline__ void store_input(elem_t* Bs, const elem_t* v, int tid) {
  if constexpr (B_CHUNKED) {
#pragma unroll
    for (int i = 0; i < B_SLOTS; ++i) {
      const int e = tid + i * THREADS;
      if (B_NCOPIES % THREADS == 0 || e < B_NCOPIES) {
        Row8 row;
#pragma unroll
        for (int q = 0; q < 8; ++q) row.e[q] = v[i * 8 + q];
        *reinterpret_cast<Row8*>(Bs + b_at((e / BN) * 8, e % BN)) = row;
      }
    }
  } else if constexpr (!B_VEC) {
    const int row0 = THREADS >= B_COPIES ? tid / B_COPIES : 0;
    const int col0 = THREADS >= B_COPIES ? tid % B_COPIES : tid;
#pragma unroll
    for (int rr = 0; rr < B_ROWS; ++rr) {
      const int row = row0 + rr * B_ROW_STEP;
#pragma unroll
      for (int i = 0; i < B_SLOTS; ++i) {
        const int col = col0 + i * THREADS;
        if (B_ROW_STEP * B_ROWS == BK || row < BK)
          Bs[b_at(row, col)] = v[rr * B_SLOTS + i];
      }
    }
  }
}

// Where the outputs go: the output (or, split, the float32 workspace), the bias and the residual,
// all of the whole tensor; m_base is the group's first output channel.
struct Outputs {
  elem_t* __restrict__ out;
  const float* __restrict__ bias;
  const elem_t* __restrict__ residual;
  int m_base;
};

// Stores the output of channel m (within the group) at pixel p.
__device__ __forceinline__ void store_out(const Outputs& o, int m, int p, int split, float v) {
  if (m < GM && p < GN) {
    const int img = p / PQ, q = p % PQ, k = o.m_base + m;
    const size_t at = NHWC ? size_t(p) * K + k : (size_t(img) * K + k) * PQ + q;
    if constexpr (SPLIT_K > 1) {
      reinterpret_cast<float*>(o.out)[split * OUT_TOTAL + at] = v;
    } else {
      o.out[at] = float_to_elem(epilogue(v, k, at, o.bias, o.residual));
    }
  }
}

// The four accumulators of a thread's 16x8 fragment (mma.sync's, and each of wgmma's): rows m
// and m + 8, pixels p and p + 1.
__device__ __forceinline__ void store_quad(const Outputs& o, int m, int p, int split,
                                           const float* q) {
  store_out(o, m, p, split, q[0]);
  store_out(o, m, p + 1, split, q[1]);
  store_out(o, m + 8, p, split, q[2]);
  store_out(o, m + 8, p + 1, split, q[3]);
}

extern "C" __global__ void __launch_bounds__(THREADS)
    conv2d_tensorcore(const elem_t* __restrict__ data, const elem_t* __restrict__ weight,
                      elem_t* __restrict__ out, const float* __restrict__ bias,
                      const elem_t* __restrict__ residual) {
  CHM_DYNAMIC_SMEM(elem_t, smem);
  elem_t* const As = smem;                    // [STAGES][A_STAGE]
  elem_t* const Bs = smem + STAGES * A_STAGE; // [STAGES][B_STAGE]

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int n0 = blockIdx.x * BN;
  const int m0 = blockIdx.y * BM;
  const int split = blockIdx.z % SPLIT_K, group = blockIdx.z / SPLIT_K;
  data += NHWC ? size_t(group) * CG : size_t(group) * CG * H * W;
  weight += size_t(group) * GM * GK;
  const Outputs outs = {out, bias, residual, group * GM};
  const int kt_begin = split * KT_PER_SPLIT;
  const int kt_end = kt_begin + KT_PER_SPLIT < KT ? kt_begin + KT_PER_SPLIT : KT;
  const int tiles = kt_end - kt_begin;

  const int g = lane / 4, t = lane % 4;
#if WGMMA
  // Warpgroup (wg_m, wg_n) multiplies rows wm0 + [0, 64 MI) by pixels wn0 + [0, WN).
  const int wg = warp / 4, wg_m = wg / WG_N, wg_n = wg % WG_N;
  const int wm0 = wg_m * 64 * MI, wn0 = wg_n * WN;
  float acc[MI][WN / 2];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int e = 0; e < WN / 2; ++e) acc[i][e] = 0.0f;
#else
  const int warp_m = warp / WARPS_N, warp_n = warp % WARPS_N;
  const int wm0 = warp_m * 16 * MI, wn0 = warp_n * 8 * NI;
  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
#endif

  const Pixels px = pixels_of(n0, tid);
  elem_t staged[B_STAGED];
  (void)staged;
  // The first PREFETCH tiles, a commit group each (empty past the last tile).
#pragma unroll 1
  for (int st = 0; st < PREFETCH; ++st) {
    if (st < tiles) {
      load_weights(weight, As + st * A_STAGE, m0, kt_begin + st, tid);
      load_input(data, px, Bs + st * B_STAGE, staged, kt_begin + st, tid);
      store_input(Bs + st * B_STAGE, staged, tid);
    }
    cp_async_commit();
  }
  int read = 0, write = PREFETCH;
  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait<PREFETCH - 1>();
#if WGMMA
    fence_proxy_async(); // this thread's copies and stores of the tile, seen by the tensor cores
#endif
    // Every thread is done with the stage `write` (of tile - 1, or with a multiply pending,
    // tile - 2, whose multiplies every warpgroup has waited for).
    __syncthreads(); // this tile is complete
    const bool next = tile + PREFETCH < tiles;
    if (next) {
      load_weights(weight, As + write * A_STAGE, m0, kt_begin + tile + PREFETCH, tid);
      load_input(data, px, Bs + write * B_STAGE, staged, kt_begin + tile + PREFETCH, tid);
    }
    cp_async_commit();
    const elem_t* a_tile = As + read * A_STAGE;
    const elem_t* b_tile = Bs + read * B_STAGE;
#if WGMMA
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      const unsigned long long b_desc = tile_descriptor(b_tile + core_at(wn0, kk));
#pragma unroll
      for (int i = 0; i < MI; ++i)
        wgmma_tile(acc[i], tile_descriptor(a_tile + core_at(wm0 + i * 64, kk)), b_desc);
    }
    wgmma_commit();
    wgmma_wait<WGMMA_PENDING>(); // the stage of tile - WGMMA_PENDING is read: it may be refilled
#else
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      unsigned af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i)
        ldmatrix_x4(af[i], a_tile + (wm0 + i * 16 + lane % 16) * A_LD + kk + (lane / 16) * 8);
#pragma unroll
      for (int j = 0; j + 1 < NI; j += 2) {
        unsigned r4[4];
        if constexpr (NHWC) { // rows are pixels: matrices (pixels 0-7 | 8-15) x (j 0-7 | 8-15)
          ldmatrix_x4(r4, b_tile + (wn0 + j * 8 + lane % 16) * B_LD + kk + (lane / 16) * 8);
          bf[j][0] = r4[0];
          bf[j][1] = r4[2];
          bf[j + 1][0] = r4[1];
          bf[j + 1][1] = r4[3];
        } else {
          ldmatrix_x4_trans(r4, b_tile + (kk + lane % 16) * B_LD + wn0 + (j + lane / 16) * 8);
          bf[j][0] = r4[0];
          bf[j][1] = r4[1];
          bf[j + 1][0] = r4[2];
          bf[j + 1][1] = r4[3];
        }
      }
      if constexpr (NI % 2 == 1) {
        if constexpr (NHWC) {
          ldmatrix_x2(bf[NI - 1], b_tile + (wn0 + (NI - 1) * 8 + lane % 8) * B_LD + kk +
                                      ((lane / 8) % 2) * 8);
        } else {
          ldmatrix_x2_trans(bf[NI - 1], b_tile + (kk + lane % 16) * B_LD + wn0 + (NI - 1) * 8);
        }
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma_16816(acc[i][j], af[i], bf[j]);
    }
#endif
    // The gathered input of tile + PREFETCH into the stage every thread is done with.
    if (next) store_input(Bs + write * B_STAGE, staged, tid);
    read = read + 1 == STAGES ? 0 : read + 1;
    write = write + 1 == STAGES ? 0 : write + 1;
  }

#if WGMMA
  wgmma_wait<0>(); // the last multiplies are done
  // Thread (warp w of its warpgroup, lane): acc[i][4j + e] is row 16w + g + 8 (e / 2) of tile i,
  // pixel 8j + 2t + e % 2.
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < WN / 8; ++j) {
      const int m = m0 + wm0 + i * 64 + (warp % 4) * 16 + g, p = n0 + wn0 + j * 8 + 2 * t;
      store_quad(outs, m, p, split, &acc[i][4 * j]);
    }
#else
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j) {
      const int m = m0 + wm0 + i * 16 + g, p = n0 + wn0 + j * 8 + 2 * t;
      store_quad(outs, m, p, split, acc[i][j]);
    }
#endif
}
