// conv2d_implicit_gemm: conv2d as a GEMM that never materializes im2col.
//   out[m][p] = sum_j weight[m][j] * im2col[j][p]
//   m: output channel (GM = K / G rows), p: output pixel n*OH*OW + oh*OW + ow (GN columns),
//   j: reduction index c*R*S + r*S + s (GK = C / G * R * S); one GEMM per group.
// chameleon prepends a prelude of compile-time constants:
//   workload  N C H W K R S OH OW SH SW PT PL DH DW, G (groups; C / G input and K / G output
//             channels each, depthwise when C / G is 1)
//   knobs     MMA (0: fp32 FMA per thread; 1: TF32 tensor cores, mma.sync m16n8k8),
//             BK (reduction slice per stage), WARPS_M WARPS_N (warps of a block),
//             MMA 0: TM TN (thread tile), LANES_N (lanes of a warp along the pixels; 32 / LANES_N
//                    along the channels): a warp covers (32/LANES_N)*TM x LANES_N*TN outputs;
//             MMA 1: MI NI (16 x 8 mma tiles per warp along the channels and the pixels),
//             SPLIT_K: blocks that share the reduction of one output tile: atomicAdd into an output
//             the launcher has zeroed, or, with SPLIT_WORKSPACE, stores into slice `split` of a
//             workspace [SPLIT_K][N][K][OH][OW] (passed as `out`) that splitk_reduce then sums;
//             STAGES: shared-memory stages of the copy pipeline (2-4),
//             TAP_MAJOR: the order of the reduction (below).
// Grid: (pixel tiles, channel tiles, G * SPLIT_K); blockIdx.z = group * SPLIT_K + split.
// Layout: data [N][C][H][W], weight [K][C/G][R][S], out [N][K][OH][OW], float32.
// Every size is handled by bounds checks (the tiles need not divide anything), so prime channel
// counts, odd sizes, dilation and batch > 1 are computed, not declined.
//
// Pipeline: STAGES shared-memory stages in a ring. While the block computes tile t, the copies of
// tiles t+1 .. t+STAGES-1 are in flight (cp.async on sm_80 and newer; 16-byte copies where the
// alignment allows); one barrier per tile both publishes tile t and frees the stage tile t-1
// used, which is refilled right after it. Shared memory is dynamic: [STAGES][BM][BK+4] weights
// (channel major, so that 16-byte copies land in rows) then [STAGES][BK][BN+8] input columns.
// The input gather precomputes what depends on the pixel (a thread copies the same pixels in every
// tile), so a copy costs a tap's offset and two bounds checks.
//
// Reduction order. TAP_MAJOR 0: j = c*R*S + r*S + s, the weights' own order (16-byte weight
// copies), and each row of an input tile is its own tap (decoded, bounds-checked per row).
// TAP_MAJOR 1 (when CG % BK == 0): j = (r*S + s)*CG + c, so every reduction tile lies within one
// tap: the tap, its offset and each column's bounds check are computed once per tile, and a copy
// is its row's constant offset from them. The weights are then read with a stride of R*S (4-byte
// copies), and an input pixel's nine taps no longer follow each other (less reuse in L1).

static constexpr int CG = C / G; // input channels of a group
static constexpr int GM = K / G;
static constexpr int GN = N * OH * OW;
static constexpr int GK = CG * R * S;
static constexpr long long OUT_TOTAL = (long long)N * K * OH * OW;
static constexpr int PQ = OH * OW;
static constexpr int RS = R * S;
static constexpr int BM = MMA ? WARPS_M * 16 * MI : WARPS_M * (32 / LANES_N) * TM;
static constexpr int BN = MMA ? WARPS_N * 8 * NI : WARPS_N * LANES_N * TN;
static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
static constexpr int A_LD = BK + 4; // row stride of the weight tile (16-byte rows, few conflicts)
static constexpr int B_LD = BN + 8; // row stride of the input tile
static constexpr int A_STAGE = BM * A_LD;
static constexpr int B_STAGE = BK * B_LD;
static constexpr int KT = (GK + BK - 1) / BK;            // reduction tiles
static constexpr int LANES_M = 32 / LANES_N;
static constexpr int NV = TN >= 4 ? 4 : 1; // adjacent pixels of a thread (FP32 variant)
static constexpr int KT_PER_SPLIT = (KT + SPLIT_K - 1) / SPLIT_K;
// 16-byte copies: weight rows are 16-byte aligned when GK % 4 == 0; input columns when the
// convolution is a pointwise one over whole images (1x1, stride 1, no padding, OH*OW % 4 == 0).
// Tap-major order (TAP_MAJOR, below) changes nothing for a 1x1 kernel: TAP is what the code follows.
static constexpr bool TAP = TAP_MAJOR && RS > 1;
static_assert(!TAP || CG % BK == 0, "tap_major needs tile_k to divide the input channels per group");
static constexpr bool A_VEC = !TAP && GK % 4 == 0;
static constexpr bool B_VEC = R == 1 && S == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 &&
                              OH == H && OW == W && PQ % 4 == 0 && BN % 4 == 0;
// The input copies: B_COPIES per tile row (16-byte ones with B_VEC); a thread does copies
// col0 + i * THREADS (i < B_SLOTS) of rows row0 + B_ROW_STEP * r of every tile, col0 and row0 fixed
// by its index.
static constexpr int B_COPIES = B_VEC ? BN / 4 : BN;
static constexpr int B_ROW_STEP = THREADS >= B_COPIES ? THREADS / B_COPIES : 1;
static constexpr int B_SLOTS = THREADS >= B_COPIES ? 1 : B_COPIES / THREADS;
// Input offsets fit 32 bits unless the input has 2^31 elements or more.
template <bool Fits32> struct OffsetOf { typedef int type; };
template <> struct OffsetOf<false> { typedef long long type; };
typedef OffsetOf<(long long)N * C * H * W < (1LL << 31)>::type Offset;

#if defined(CHM_EMULATE)
// The host emulator provides cp_async4, cp_async16, cp_async_commit, cp_async_wait<N>, lds4,
// to_tf32, mma_tf32 and CHM_DYNAMIC_SMEM.
#else
#define CHM_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
__device__ __forceinline__ float4 lds4(const float* p) { return *reinterpret_cast<const float4*>(p); }
#if __CUDA_ARCH__ >= 800
// Asynchronous copies; src_bytes 0 writes zeros without reading (padding, edges).
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int Pending> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}
#else
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
  *dst = valid ? __ldg(src) : 0.0f;
}
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  *reinterpret_cast<float4*>(dst) =
      valid ? __ldg(reinterpret_cast<const float4*>(src)) : make_float4(0.f, 0.f, 0.f, 0.f);
}
__device__ __forceinline__ void cp_async_commit() {}
template <int Pending> __device__ __forceinline__ void cp_async_wait() {}
#endif
#if MMA
__device__ __forceinline__ unsigned to_tf32(float x) {
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
// d = a * b + d for one 16x8x8 tile: a 4 registers (16x8, row major), b 2 (8x8, column major),
// d 4 floats, in the fragment layout of the PTX ISA.
__device__ __forceinline__ void mma_tf32(float* d, const unsigned* a, const unsigned* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
#endif

// What a thread's input copies need in every tile, computed once: per slot, the input offset of
// the pixel's first tap (image, row oh*SH-PT, column ow*SW-PL; group-relative) and that tap's row
// and column for the bounds checks (the row far negative for a pixel beyond GN, so that every one
// of its taps fails the check). With B_VEC a slot is 4 pixels of one image (PQ % 4 == 0).
struct Pixels {
  Offset off[B_SLOTS];
  int ih[B_SLOTS], iw[B_SLOTS];
};

__device__ __forceinline__ Pixels pixels_of(int n0, int tid) {
  Pixels px;
  const int col0 = THREADS >= B_COPIES ? tid % B_COPIES : tid;
#pragma unroll
  for (int i = 0; i < B_SLOTS; ++i) {
    const int p = n0 + (col0 + i * THREADS) * (B_VEC ? 4 : 1);
    const int img = p / PQ, q = p % PQ, oh = q / OW, ow = q % OW;
    const int ih = oh * SH - PT, iw = ow * SW - PL;
    px.ih[i] = p < GN ? ih : -(1 << 29);
    px.iw[i] = iw;
    px.off[i] = p < GN ? (Offset(img) * C * H + ih) * W + iw : Offset(0);
  }
  return px;
}

// The first weight a thread copies in reduction tile 0 (row a_row0 of the block's rows, column
// a_col; see load_tile); an address only formed, never read, when the row is beyond GM. With
// TAP, column a_col is channel a_col of tap 0.
__device__ __forceinline__ const float* weight_source(const float* weight, int m0, int tid) {
  constexpr int A_PER_ROW = A_VEC ? BK / 4 : BK;
  return weight + (size_t(m0 + tid / A_PER_ROW) * GK + (tid % A_PER_ROW) * (A_VEC ? 4 : TAP ? RS : 1));
}

// Issues the copies of reduction tile `kt` into one stage.
__device__ __forceinline__ void load_tile(const float* __restrict__ data,
                                          const float* __restrict__ weight, const float* a_src,
                                          const Pixels& px, float* As, float* Bs, int m0, int n0,
                                          int kt, int tid) {
  const int k0 = kt * BK;
  // TAP: the tile's tap (r*S + s) and first channel; the weights of channel c at that tap
  // lie c*RS + tile_tap from their row's start.
  const int tile_tap = TAP ? k0 / CG : 0, c0 = TAP ? k0 - tile_tap * CG : 0;
  if constexpr (TAP) a_src += c0 * RS + tile_tap;
  // Weights: BM rows of BK consecutive reduction indices, copied A_W at a time; the thread's
  // copies lie whole rows apart from a_src (see weight_source). The checks vanish where the tiles
  // divide the GEMM.
  constexpr int A_W = A_VEC ? 4 : 1, A_PER_ROW = BK / A_W, A_COPIES = BM * A_PER_ROW;
  const int a_row0 = tid / A_PER_ROW, a_col = (tid % A_PER_ROW) * A_W;
  const bool a_k_valid = GK % BK == 0 || k0 + a_col < GK;
  // Unrolled whole for 16-byte copies (at most 64 a thread) and for tap-major ones up to 64 (their
  // sources are then constant offsets), else by 4 (up to 256 4-byte copies a thread).
  constexpr int A_PER_THREAD = (A_COPIES + THREADS - 1) / THREADS;
  constexpr int A_UNROLL = A_VEC || (TAP && A_PER_THREAD <= 64) ? A_PER_THREAD : 4;
  // The thread's first destination; its copies lie whole rows below it (constant offsets).
  float* const a_dst = As + a_row0 * A_LD + a_col;
#pragma unroll(A_UNROLL)
  for (int e0 = 0; e0 < A_COPIES; e0 += THREADS) {
    const int row = e0 / A_PER_ROW + a_row0;
    if (A_COPIES % THREADS == 0 || row < BM) {
      const bool valid = a_k_valid && (GM % BM == 0 || m0 + row < GM);
      const float* src = a_src + ((TAP ? 0 : k0) + size_t(e0 / A_PER_ROW) * GK);
      if constexpr (A_VEC) {
        cp_async16(a_dst + (e0 / A_PER_ROW) * A_LD, valid ? src : weight, valid);
      } else {
        cp_async4(a_dst + (e0 / A_PER_ROW) * A_LD, valid ? src : weight, valid);
      }
    }
  }
  // Input: BK reduction indices x BN pixels, gathered (zeros for padding and edges).
  const int row0 = THREADS >= B_COPIES ? tid / B_COPIES : 0;
  const int col0 = THREADS >= B_COPIES ? tid % B_COPIES : tid;
  float* const b_dst = Bs + row0 * B_LD + col0 * (B_VEC ? 4 : 1); // then constant offsets
  if constexpr (TAP) {
    // One tap for the whole tile: per column, its bounds check and its first row's source, once;
    // rows are channels c0 + row, H*W apart. A column out of bounds reads nothing; its source is
    // its channel plane's start, so that no copy's address leaves the input.
    const int r = tile_tap / S, s = tile_tap - r * S, dh = r * DH, dw = s * DW;
    const float* const plane = data + Offset(c0 + row0) * H * W;
    const float* src[B_SLOTS];
    bool valid[B_SLOTS];
#pragma unroll
    for (int i = 0; i < B_SLOTS; ++i) {
      const int ih = px.ih[i] + dh, iw = px.iw[i] + dw;
      valid[i] = unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W);
      src[i] = valid[i] ? plane + (px.off[i] + Offset(dh) * W + dw) : plane;
    }
#pragma unroll
    for (int rr = 0; rr < BK; rr += B_ROW_STEP) {
      if (B_ROW_STEP <= BK || rr + row0 < BK) {
#pragma unroll
        for (int i = 0; i < B_SLOTS; ++i) {
          cp_async4(b_dst + rr * B_LD + i * THREADS, src[i] + Offset(rr) * H * W, valid[i]);
        }
      }
    }
    return;
  }
#pragma unroll 4
  for (int rr = 0; rr < BK; rr += B_ROW_STEP) {
    const int row = rr + row0;
    if (B_ROW_STEP <= BK || row < BK) {
      const unsigned j = unsigned(k0 + row);
      const bool j_valid = GK % BK == 0 || j < unsigned(GK);
      if constexpr (B_VEC) { // pointwise: j is the channel
        const Offset tap = Offset(j) * PQ;
#pragma unroll
        for (int i = 0; i < B_SLOTS; ++i) {
          const bool valid = j_valid && px.ih[i] >= 0;
          cp_async16(b_dst + rr * B_LD + i * THREADS * 4, valid ? data + (px.off[i] + tap) : data, valid);
        }
      } else {
        // The tap of reduction index j: channel c, kernel row r, kernel column s.
        const unsigned c = j / RS, rs = j - c * RS, r = rs / S, s = rs - r * S;
        const int dh = int(r) * DH, dw = int(s) * DW;
        const Offset tap = (Offset(c) * H + dh) * W + dw;
#pragma unroll
        for (int i = 0; i < B_SLOTS; ++i) {
          const int ih = px.ih[i] + dh, iw = px.iw[i] + dw;
          const bool valid = j_valid && unsigned(ih) < unsigned(H) && unsigned(iw) < unsigned(W);
          cp_async4(b_dst + rr * B_LD + i * THREADS, valid ? data + (px.off[i] + tap) : data, valid);
        }
      }
    }
  }
}

// The warp-relative pixel of a thread's column j (FP32 variant).
__device__ __forceinline__ int pixel_of(int j, int lane_n) {
  return NV == 4 ? (j / 4) * (LANES_N * 4) + lane_n * 4 + j % 4 : j * LANES_N + lane_n;
}

// The group's output, bias and residual (from its first output channel) and a channel within it.
struct Outputs {
  float* __restrict__ out;
  const float* __restrict__ bias;
  const float* __restrict__ residual;
};

__device__ __forceinline__ void store_out(const Outputs& o, int m, int p, int split, float v) {
  if (m < GM && p < GN) {
    const int img = p / PQ, q = p % PQ;
    const size_t at = (size_t(img) * K + m) * PQ + q;
    float* dst = &o.out[at];
    if constexpr (SPLIT_K > 1 && SPLIT_WORKSPACE) {
      dst[split * OUT_TOTAL] = v;
    } else if constexpr (SPLIT_K > 1) {
      atomicAdd(dst, v);
    } else {
      *dst = epilogue(v, m, at, o.bias, o.residual);
    }
  }
}

extern "C" __global__ void __launch_bounds__(THREADS)
    conv2d_implicit_gemm(const float* __restrict__ data, const float* __restrict__ weight,
                         float* __restrict__ out, const float* __restrict__ bias,
                         const float* __restrict__ residual) {
  CHM_DYNAMIC_SMEM(float, smem);
  float* const As = smem;                     // [STAGES][BM][A_LD]
  float* const Bs = smem + STAGES * A_STAGE;  // [STAGES][BK][B_LD]

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int warp_m = warp / WARPS_N, warp_n = warp % WARPS_N;
  const int n0 = blockIdx.x * BN;
  const int m0 = blockIdx.y * BM;
  const int split = blockIdx.z % SPLIT_K, group = blockIdx.z / SPLIT_K;
  // From here on, data, weight and out are the group's: its first input channel, weight row and
  // output channel (the full C and K stay the image strides).
  data += size_t(group) * CG * H * W;
  weight += size_t(group) * GM * GK;
  const Outputs outs = {out + size_t(group) * GM * PQ, EPI_BIAS ? bias + group * GM : bias,
                        EPI_RESIDUAL ? residual + size_t(group) * GM * PQ : residual};
  const int kt_begin = split * KT_PER_SPLIT;
  const int kt_end = kt_begin + KT_PER_SPLIT < KT ? kt_begin + KT_PER_SPLIT : KT;

#if MMA
  // Fragment coordinates: group g = lane / 4 (rows of A and columns of B), t = lane % 4.
  const int g = lane / 4, t = lane % 4;
  const int wm0 = warp_m * 16 * MI, wn0 = warp_n * 8 * NI;
  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int v = 0; v < 4; ++v) acc[i][j][v] = 0.0f;
#else
  // Lanes along the pixels vary fastest: coalesced stores and conflict-free input reads. A thread
  // owns rows lane_m + i*LANES_M and, with TN >= 4, groups of 4 adjacent pixels (16-byte
  // shared-memory reads), else single pixels LANES_N apart (see pixel_of).
  const int lane_n = lane % LANES_N, lane_m = lane / LANES_N;
  const int wm0 = warp_m * LANES_M * TM, wn0 = warp_n * LANES_N * TN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
#endif

  const Pixels px = pixels_of(n0, tid);
  const float* const a_src = weight_source(weight, m0, tid);
  const int tiles = kt_end - kt_begin;
  // The first STAGES-1 tiles, a commit group each (empty past the last tile, so that the count of
  // groups stays uniform for the waits); not unrolled, to keep one copy of load_tile's code here.
#pragma unroll 1
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < tiles) load_tile(data, weight, a_src, px, As + st * A_STAGE, Bs + st * B_STAGE, m0, n0, kt_begin + st, tid);
    cp_async_commit();
  }
  int read = 0, write = STAGES - 1; // the stages of this tile and of tile + STAGES - 1
  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait<STAGES - 2>(); // this thread's copies of this tile have landed
    __syncthreads(); // the ring: this tile is complete, every thread is done with the last one's stage
    if (tile + STAGES - 1 < tiles) {
      load_tile(data, weight, a_src, px, As + write * A_STAGE, Bs + write * B_STAGE, m0, n0, kt_begin + tile + STAGES - 1, tid);
    }
    cp_async_commit();
    const float* a_tile = As + read * A_STAGE;
    const float* b_tile = Bs + read * B_STAGE;
#if MMA
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      unsigned af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const float* a = a_tile + (wm0 + i * 16 + g) * A_LD + kk + t;
        af[i][0] = to_tf32(a[0]);
        af[i][1] = to_tf32(a[8 * A_LD]);
        af[i][2] = to_tf32(a[4]);
        af[i][3] = to_tf32(a[8 * A_LD + 4]);
      }
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const float* b = b_tile + (kk + t) * B_LD + wn0 + j * 8 + g;
        bf[j][0] = to_tf32(b[0]);
        bf[j][1] = to_tf32(b[4 * B_LD]);
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma_tf32(acc[i][j], af[i], bf[j]);
    }
#else
    // Each step reads 4 reduction indices of the thread's weight rows at once (16 bytes each).
#pragma unroll
    for (int kk = 0; kk < BK; kk += 4) {
      float4 a4[TM];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
        a4[i] = lds4(&a_tile[(wm0 + i * LANES_M + lane_m) * A_LD + kk]);
      }
#pragma unroll
      for (int k4 = 0; k4 < 4; ++k4) {
        float b[TN];
        const float* b_row = b_tile + (kk + k4) * B_LD + wn0;
        if constexpr (NV == 4) {
#pragma unroll
          for (int jv = 0; jv < TN / 4; ++jv) {
            const float4 v = lds4(&b_row[jv * LANES_N * 4 + lane_n * 4]);
            b[jv * 4] = v.x;
            b[jv * 4 + 1] = v.y;
            b[jv * 4 + 2] = v.z;
            b[jv * 4 + 3] = v.w;
          }
        } else {
#pragma unroll
          for (int j = 0; j < TN; ++j) b[j] = b_row[j * LANES_N + lane_n];
        }
#pragma unroll
        for (int i = 0; i < TM; ++i) {
          const float a = k4 == 0 ? a4[i].x : k4 == 1 ? a4[i].y : k4 == 2 ? a4[i].z : a4[i].w;
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a, b[j], acc[i][j]);
        }
      }
    }
#endif
    read = read + 1 == STAGES ? 0 : read + 1;
    write = write + 1 == STAGES ? 0 : write + 1;
  }

#if MMA
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j) {
      const int m = m0 + wm0 + i * 16 + g, p = n0 + wn0 + j * 8 + 2 * t;
      store_out(outs, m, p, split, acc[i][j][0]);
      store_out(outs, m, p + 1, split, acc[i][j][1]);
      store_out(outs, m + 8, p, split, acc[i][j][2]);
      store_out(outs, m + 8, p + 1, split, acc[i][j][3]);
    }
#else
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j)
      store_out(outs, m0 + wm0 + i * LANES_M + lane_m, n0 + wn0 + pixel_of(j, lane_n), split, acc[i][j]);
#endif
}
