// conv2d_winograd: a 3x3 convolution with stride 1 and no dilation by Winograd's minimal filtering
// F(MT x MT, 3x3), MT = 2 or 4 (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016), fused into one kernel. Each MT x MT output tile of a channel is
//   Y = A^T [ sum_c (G g_kc G^T) . (B^T d_c B) ] A
// where d_c is the tile's ALPHA x ALPHA input patch of channel c (ALPHA = MT + 2), g_kc the 3x3
// weights and . the elementwise product: ALPHA^2 multiply-adds per channel for MT^2 outputs
// (F(2x2): 16 for 4, F(4x4): 36 for 16) where the direct form takes 9 per output.
// The NC = ALPHA^2 elements ("components") of the products are NC independent GEMMs over the
// channels:  M[xi][k][t] = sum_c U[xi][k][c] * V[xi][c][t]   (U = G g G^T, V = B^T d B, t a tile)
// Rendered with TENSOR_CORES 1 (conv2d_winograd_tc: float16 and bfloat16 tasks, sm_80 and newer),
// those GEMMs run on the tensor cores instead (below).
// chameleon prepends a prelude of compile-time constants:
//   workload  N C H W K R S OH OW SH SW PT PL DH DW (R = S = 3, SH = SW = DH = DW = 1, groups 1)
//   knobs     MT (output tile: 2 or 4), BK (input channels per reduction slice), TM TN (a thread's
//             output channels and tiles of one component), LANES_M LANES_N (a component's threads
//             along the channels and the tiles), SPLIT_K (blocks that share the channels of one
//             output tile: atomicAdd into an output the launcher has zeroed, or, with
//             SPLIT_WORKSPACE, stores into slice `split` of a workspace [SPLIT_K][N][K][OH][OW] that
//             splitk_reduce then sums)
// Block: NC teams of LANES_M x LANES_N threads, team xi computing component xi of BM = LANES_M*TM
// output channels x BT = LANES_N*TN tiles. Grid: (tile groups, channel groups, SPLIT_K).
// Each slice of BK input channels: every thread loads its input patches and 3x3 weights into
// registers (the next slice's while the block multiplies this one's), transforms them and stores
// the components to shared memory ([2][NC][BK][BT] and [2][NC][BK][BM+4]); one barrier a slice.
// At the end the components of each output tile meet in shared memory, as many thread-rows at a
// time as the stages' memory holds, and the output transform writes the MT x MT outputs.
// Layout: data [N][C][H][W], weight [K][C][3][3] (fewer than 2^31 elements), out [N][K][OH][OW],
// of elem_t: float32, or float16/bfloat16 converted to float32 as they are loaded (transforms,
// products and sums in float32, each output rounded once; a split by atomics needs float32
// outputs, so float16/bfloat16 tasks split through the workspace). Every size is handled by
// bounds checks: odd and non-square planes (a tile past the edge is cut), any padding, prime
// channel counts and batch > 1.

// TENSOR_CORES: F(2x2) only (MT 2: the 16 components rounded to 16 bits keep F(2x2)'s outputs
// within a few units in the last place of the type; F(4x4)'s constants up to 8 lose 4-16 times
// more). Knobs BK (16, 32), BM (output channels of a block, a multiple of 16), BT (tiles of a
// block, a multiple of 8), WARPS (dividing NC: warp w multiplies components w, w + WARPS, ...,
// each a BM x BT tile of mma.sync m16n8k16 with float32 accumulators). The slice's transforms
// are computed in float32 as above and stored rounded to elem_t: weight components [NC][BM][U_LD]
// (the exact G g G^T, unscaled there; channels contiguous, read by ldmatrix) and input components
// [NC][BK][V_LD] (tiles contiguous, as consecutive threads store them; read by ldmatrix.trans),
// rows padded so that an ldmatrix's 8 rows fall in 8 different bank groups. At the end each warp's accumulators meet in shared memory ([NC][ROWS][E_LD]
// floats, as many rows as fit) for the output transform, as above. Split-K through the workspace.

static constexpr int ALPHA = MT + 2;                 // input patch side
static constexpr int NC = ALPHA * ALPHA;             // components
static constexpr int TH = (OH + MT - 1) / MT, TW = (OW + MT - 1) / MT; // output tiles of an image
static constexpr long long TILES = (long long)N * TH * TW;
static constexpr long long OUT_TOTAL = (long long)N * K * OH * OW;
#if TENSOR_CORES
static constexpr int THREADS = WARPS * 32;
static constexpr int CPW = NC / WARPS;               // components of a warp
static constexpr int MI = BM / 16, NI = BT / 8;      // mma tiles of a component's block tile
// Row strides (elem_t) of the components: an odd number of 16-byte units, so that the 8 rows an
// ldmatrix reads fall in 8 different bank groups.
static constexpr int U_LD = BK + 8, V_LD = (BT + 8) / 8 % 2 == 1 ? BT + 8 : BT + 16;
static constexpr int U_PLANE = BM * U_LD, V_PLANE = BK * V_LD;
static constexpr int STAGE = NC * (U_PLANE + V_PLANE) / 2; // floats (of two elem_t each)
static constexpr int E_LD = BT + 4;                  // row stride of the sums at the end
static_assert(MT == 2 && NC % WARPS == 0 && BM % 16 == 0 && BT % 8 == 0 && BK % 16 == 0,
              "F(2x2), warps that share the components, whole mma tiles");
#else
static constexpr int BM = LANES_M * TM;
static constexpr int BT = LANES_N * TN;
static constexpr int TEAM = LANES_M * LANES_N;
static constexpr int THREADS = NC * TEAM;
static constexpr int U_LD = BM + 4;                  // row stride of the weight components
static constexpr int U_PLANE = BK * U_LD + 4;        // one component's [BK][U_LD] (+4: planes
static constexpr int V_PLANE = BK * BT + 4;          // of neighbouring teams on other banks)
static constexpr int STAGE = NC * (U_PLANE + V_PLANE);
#endif
static constexpr int SLICES = (C + BK - 1) / BK;
static constexpr int SLICES_PER_SPLIT = (SLICES + SPLIT_K - 1) / SPLIT_K;
// The patches (channel, tile) and weights (output channel, channel) of a slice, spread over the
// threads: a thread does entries tid + s * THREADS.
static constexpr int IN_ENTRIES = BK * BT, W_ENTRIES = BK * BM;
static constexpr int IN_SLOTS = (IN_ENTRIES + THREADS - 1) / THREADS;
static constexpr int W_SLOTS = (W_ENTRIES + THREADS - 1) / THREADS;
// Shared memory (floats): the two stages, or at least one thread-row of every team's sums (one
// row of sums with TENSOR_CORES). (Not named SMEM: with the split-K reduction in the module,
// ptxas 13.0 resolved this kernel's shared memory addresses against a device variable of that
// name, and the kernel failed on the GPU.)
#if TENSOR_CORES
static constexpr int ROW_FLOATS = NC * E_LD, TOP_ROWS = BM;
#else
static constexpr int ROW_FLOATS = NC * LANES_M * BT, TOP_ROWS = TM;
#endif
static constexpr int SMEM_FLOATS = 2 * STAGE > ROW_FLOATS ? 2 * STAGE : ROW_FLOATS;
// Rows (thread-rows; with TENSOR_CORES, output channels) whose sums the output transform takes at
// once: the most (TOP_ROWS, halved until they fit; a power of two) that fit.
constexpr int rows_that_fit() {
  int rows = TOP_ROWS;
  while (rows > 1 && ROW_FLOATS * rows > SMEM_FLOATS) rows /= 2;
  return rows;
}
static constexpr int ROWS = rows_that_fit();
static_assert(MT == 2 || MT == 4, "F(2x2, 3x3) or F(4x4, 3x3)");
// Input offsets fit 32 bits unless the input has 2^31 elements or more.
template <bool Fits32> struct OffsetOf { typedef int type; };
template <> struct OffsetOf<false> { typedef long long type; };
typedef OffsetOf<(long long)N * C * H * W < (1LL << 31)>::type Offset;

#if defined(CHM_EMULATE)
// The host emulator provides lds4 and CHM_DYNAMIC_SMEM.
#else
#define CHM_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
__device__ __forceinline__ float4 lds4(const float* p) { return *reinterpret_cast<const float4*>(p); }
#endif

// The transforms, one dimension at a time (x[i * stride] in, y[i * stride] out), factored so
// that each takes few operations:
//   F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1],
//           G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   F(4x4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//                  0 4 0 -5 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
//           G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
// The weights' transform uses G' = D G with integer rows (D = diag(1, 2, 2, 1) for F(2x2),
// diag(4, -6, -6, 24, 24, 1) for F(4x4)); the sums are scaled back by kUnscale = 1 / (D_y D_x)
// before the output transform, once per tile.
template <int Stride> __device__ __forceinline__ void input_1d(const float* x, float* y) {
  if constexpr (MT == 2) {
    y[0 * Stride] = x[0 * Stride] - x[2 * Stride];
    y[1 * Stride] = x[1 * Stride] + x[2 * Stride];
    y[2 * Stride] = x[2 * Stride] - x[1 * Stride];
    y[3 * Stride] = x[1 * Stride] - x[3 * Stride];
  } else {
    const float a = x[3 * Stride] + x[4 * Stride], b = x[1 * Stride] + x[2 * Stride];
    const float c = x[4 * Stride] - x[3 * Stride], d = x[1 * Stride] - x[2 * Stride];
    const float e = x[4 * Stride] - x[2 * Stride], f = x[3 * Stride] - x[1 * Stride];
    y[0 * Stride] = fmaf(4.0f, x[0 * Stride], fmaf(-5.0f, x[2 * Stride], x[4 * Stride]));
    y[1 * Stride] = fmaf(-4.0f, b, a);
    y[2 * Stride] = fmaf(4.0f, d, c);
    y[3 * Stride] = fmaf(2.0f, f, e);
    y[4 * Stride] = fmaf(-2.0f, f, e);
    y[5 * Stride] = fmaf(4.0f, x[1 * Stride], fmaf(-5.0f, x[3 * Stride], x[5 * Stride]));
  }
}

template <int Stride> __device__ __forceinline__ void filter_1d(const float* g, float* y) {
  const float outer = g[0 * Stride] + g[2 * Stride];
  y[0 * Stride] = g[0 * Stride];
  y[1 * Stride] = outer + g[1 * Stride];
  y[2 * Stride] = outer - g[1 * Stride];
  if constexpr (MT == 2) {
    y[3 * Stride] = g[2 * Stride];
  } else {
    const float far = fmaf(4.0f, g[2 * Stride], g[0 * Stride]);
    y[3 * Stride] = fmaf(2.0f, g[1 * Stride], far);
    y[4 * Stride] = fmaf(-2.0f, g[1 * Stride], far);
    y[5 * Stride] = g[2 * Stride];
  }
}

template <int Stride> __device__ __forceinline__ void output_1d(const float* m, float* y) {
  if constexpr (MT == 2) {
    y[0 * Stride] = m[0 * Stride] + m[1 * Stride] + m[2 * Stride];
    y[1 * Stride] = m[1 * Stride] - m[2 * Stride] - m[3 * Stride];
  } else {
    const float a = m[1 * Stride] + m[2 * Stride], b = m[1 * Stride] - m[2 * Stride];
    const float c = m[3 * Stride] + m[4 * Stride], d = m[3 * Stride] - m[4 * Stride];
    y[0 * Stride] = m[0 * Stride] + a + c;
    y[1 * Stride] = fmaf(2.0f, d, b);
    y[2 * Stride] = fmaf(4.0f, c, a);
    y[3 * Stride] = fmaf(8.0f, d, b) + m[5 * Stride];
  }
}

__device__ constexpr float kD2[4] = {1.0f, 2.0f, 2.0f, 1.0f};
__device__ constexpr float kD4[6] = {4.0f, -6.0f, -6.0f, 24.0f, 24.0f, 1.0f};
__device__ __forceinline__ float unscale(int y, int x) {
  return MT == 2 ? 1.0f / (kD2[y] * kD2[x]) : 1.0f / (kD4[y] * kD4[x]);
}

// A thread's i-th row (output channel) or column (tile) of its component, as in the implicit GEMM:
// with 4 or more, groups of 4 adjacent ones (16-byte shared-memory reads), the groups of the
// team's threads side by side; else single ones LANES apart.
template <int T, int LANES> __device__ __forceinline__ int local_of(int i, int lane) {
  return T >= 4 ? (i / 4) * (LANES * 4) + lane * 4 + i % 4 : i * LANES + lane;
}

// What a slice's loads need, computed once: each input slot's tile, as the input offset of its
// patch's origin and a mask of the patch's inputs that lie inside the input (padding, edges and
// tiles beyond TILES are zeros). A load is then a constant offset, predicated by its bit.
template <bool Fits32> struct MaskOf { typedef unsigned type; };
template <> struct MaskOf<false> { typedef unsigned long long type; };
typedef MaskOf<NC <= 32>::type Mask; // a bit per input of a patch
struct Patches {
  Offset off[IN_SLOTS];
  Mask valid[IN_SLOTS]; // bit y * ALPHA + x: that input lies inside the input (else it is a zero)
};

__device__ __forceinline__ Patches patches_of(long long tile0, int tid) {
  Patches p;
#pragma unroll
  for (int s = 0; s < IN_SLOTS; ++s) {
    const int e = tid + s * THREADS;
    const long long tile = tile0 + e % BT;
    const int img = int(tile / (TH * TW)), rest = int(tile % (TH * TW));
    const int ih = (rest / TW) * MT - PT, iw = (rest % TW) * MT - PL;
    const bool valid = tile < TILES;
    p.valid[s] = 0;
#pragma unroll
    for (int y = 0; y < ALPHA; ++y)
#pragma unroll
      for (int x = 0; x < ALPHA; ++x) {
        const bool in = valid && unsigned(ih + y) < unsigned(H) && unsigned(iw + x) < unsigned(W);
        p.valid[s] |= Mask(in) << (y * ALPHA + x);
      }
    p.off[s] = valid ? (Offset(img) * C * H + ih) * W + iw : Offset(0);
  }
  return p;
}

// Registers between a slice's loads and its transform.
struct Slice {
  float d[IN_SLOTS][NC];
  float g[W_SLOTS][9];
};

__device__ __forceinline__ void load_slice(const elem_t* __restrict__ data, const elem_t* __restrict__ weight,
                                           const Patches& p, Slice& sl, int m0, int c0, int tid) {
#pragma unroll
  for (int s = 0; s < IN_SLOTS; ++s) {
    const int e = tid + s * THREADS;
    const int c = c0 + e / BT;
    const bool entry = (IN_ENTRIES % THREADS == 0 || e < IN_ENTRIES) && c < C;
    // One address, constant offsets (an address outside the input is formed, never read).
    const elem_t* const src = data + (Offset(c < C ? c : 0) * H * W + p.off[s]);
    const Mask mask = entry ? p.valid[s] : Mask(0);
#pragma unroll
    for (int y = 0; y < ALPHA; ++y)
#pragma unroll
      for (int x = 0; x < ALPHA; ++x) {
        const bool valid = (mask >> (y * ALPHA + x)) & 1u;
        sl.d[s][y * ALPHA + x] = valid ? elem_to_float(src[y * W + x]) : 0.0f;
      }
  }
#pragma unroll
  for (int s = 0; s < W_SLOTS; ++s) {
    const int e = tid + s * THREADS;
    const int m = m0 + e / BK, c = c0 + e % BK; // consecutive threads: consecutive channels
    const bool valid = (W_ENTRIES % THREADS == 0 || e < W_ENTRIES) && m < K && c < C;
    if (valid) { // one address, nine constant offsets
      const elem_t* const src = weight + (m * C + c) * 9;
#pragma unroll
      for (int i = 0; i < 9; ++i) sl.g[s][i] = elem_to_float(src[i]);
    } else {
#pragma unroll
      for (int i = 0; i < 9; ++i) sl.g[s][i] = 0.0f;
    }
  }
}

// V = B^T d B of a slice's input patch d and U = G' g G'^T of its weights g, NC components each.
__device__ __forceinline__ void input_transform(const float* d, float* v) {
  float t[NC];
#pragma unroll
  for (int x = 0; x < ALPHA; ++x) input_1d<ALPHA>(d + x, t + x); // columns: B^T d
#pragma unroll
  for (int y = 0; y < ALPHA; ++y) input_1d<1>(t + y * ALPHA, v + y * ALPHA); // rows: (B^T d) B
}
__device__ __forceinline__ void filter_transform(const float* g, float* u) {
  float t[ALPHA * 3];
#pragma unroll
  for (int x = 0; x < 3; ++x) filter_1d<3>(g + x, t + x); // columns: G' g, ALPHA rows of 3
#pragma unroll
  for (int y = 0; y < ALPHA; ++y) filter_1d<1>(t + y * 3, u + y * ALPHA); // rows: (G' g) G'^T
}

// Where a slice's entries go in a stage, and as what. Input entry e is (channel e / BT, tile
// e % BT), at Vs[xi][c][t]. TENSOR_CORES: rounded to elem_t, weight entry (output channel m,
// channel c) at Us[xi][m][c], as G g G^T (kUnscale applied here: a power of two for F(2x2),
// exact). Else float32, weights at Us[xi][c][m], as G' g G'^T (scaled back after the products).
#if TENSOR_CORES
typedef elem_t stage_t;
__device__ __forceinline__ int v_at(int e) { return (e / BT) * V_LD + e % BT; }
__device__ __forceinline__ int u_at(int e) { return (e / BK) * U_LD + e % BK; }
__device__ __forceinline__ stage_t to_stage(float x) { return float_to_elem(x); }
__device__ __forceinline__ float weight_scale(int q) { return unscale(q / ALPHA, q % ALPHA); }
#else
typedef float stage_t;
__device__ __forceinline__ int v_at(int e) { return e; }
__device__ __forceinline__ int u_at(int e) { return (e % BK) * U_LD + e / BK; }
__device__ __forceinline__ stage_t to_stage(float x) { return x; }
__device__ __forceinline__ float weight_scale(int) { return 1.0f; }
#endif

// The slice's components into one stage.
__device__ __forceinline__ void store_slice(const Slice& sl, stage_t* Us, stage_t* Vs, int tid) {
#pragma unroll
  for (int s = 0; s < IN_SLOTS; ++s) {
    const int e = tid + s * THREADS;
    if (IN_ENTRIES % THREADS == 0 || e < IN_ENTRIES) {
      float v[NC];
      input_transform(sl.d[s], v);
      stage_t* const dst = Vs + v_at(e);
#pragma unroll
      for (int q = 0; q < NC; ++q) dst[q * V_PLANE] = to_stage(v[q]);
    }
  }
#pragma unroll
  for (int s = 0; s < W_SLOTS; ++s) {
    const int e = tid + s * THREADS;
    if (W_ENTRIES % THREADS == 0 || e < W_ENTRIES) {
      float u[NC];
      filter_transform(sl.g[s], u);
      stage_t* const dst = Us + u_at(e);
#pragma unroll
      for (int q = 0; q < NC; ++q) dst[q * U_PLANE] = to_stage(u[q] * weight_scale(q));
    }
  }
}

// A thread's T operands of one channel row (its rows or its tiles, local_of) into r.
template <int T, int LANES> __device__ __forceinline__ void read_operands(const float* row, int lane, float* r) {
  if constexpr (T >= 4) {
#pragma unroll
    for (int q = 0; q < T / 4; ++q) {
      const float4 v = lds4(row + local_of<T, LANES>(q * 4, lane));
      r[q * 4] = v.x;
      r[q * 4 + 1] = v.y;
      r[q * 4 + 2] = v.z;
      r[q * 4 + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < T; ++i) r[i] = row[local_of<T, LANES>(i, lane)];
  }
}

// A split's sum goes to its workspace slice (floats, passed as `out`) or is added into the output
// (float32 only), a whole sum through the epilogue into the output.
__device__ __forceinline__ void store_out(elem_t* __restrict__ out, int m, int oh, int ow, int img,
                                          int split, float v, const float* __restrict__ bias,
                                          const elem_t* __restrict__ residual) {
  if (oh < OH && ow < OW) {
    const size_t o = ((size_t(img) * K + m) * OH + oh) * OW + ow;
    if constexpr (SPLIT_K > 1 && SPLIT_WORKSPACE) {
      reinterpret_cast<float*>(out)[split * OUT_TOTAL + o] = v;
    } else if constexpr (SPLIT_K > 1) {
      atomicAdd(reinterpret_cast<float*>(out) + o, v);
    } else {
      out[o] = float_to_elem(epilogue(v, m, o, bias, residual));
    }
  }
}

// The output transform of one tile's sums for output channel m (mm: its NC components, scaled
// back) and its stores.
__device__ __forceinline__ void store_tile(elem_t* __restrict__ out, const float* mm, int m, long long tile,
                                           int split, const float* __restrict__ bias,
                                           const elem_t* __restrict__ residual) {
  float r[MT * ALPHA], y[MT * MT];
#pragma unroll
  for (int x = 0; x < ALPHA; ++x) output_1d<ALPHA>(mm + x, r + x); // columns: A^T M, MT rows
#pragma unroll
  for (int row = 0; row < MT; ++row) output_1d<1>(r + row * ALPHA, y + row * MT); // rows: (A^T M) A
  const int img = int(tile / (TH * TW)), rest = int(tile % (TH * TW));
  const int oh = (rest / TW) * MT, ow = (rest % TW) * MT;
#pragma unroll
  for (int row = 0; row < MT; ++row)
#pragma unroll
    for (int col = 0; col < MT; ++col) store_out(out, m, oh + row, ow + col, img, split, y[row * MT + col], bias, residual);
}

extern "C" __global__ void __launch_bounds__(THREADS)
    conv2d_winograd(const elem_t* __restrict__ data, const elem_t* __restrict__ weight,
                    elem_t* __restrict__ out, const float* __restrict__ bias,
                    const elem_t* __restrict__ residual) {
  CHM_DYNAMIC_SMEM(float, smem); // [2][STAGE]: per stage U [NC][U_PLANE], then V [NC][V_PLANE]

  const int tid = threadIdx.x;
  const long long tile0 = (long long)blockIdx.x * BT;
  const int m0 = blockIdx.y * BM;
  const int split = blockIdx.z;
  const int slice_begin = split * SLICES_PER_SPLIT;
  const int slice_end = slice_begin + SLICES_PER_SPLIT < SLICES ? slice_begin + SLICES_PER_SPLIT : SLICES;
  const int slices = slice_end - slice_begin;
#if TENSOR_CORES
  const int warp = tid / 32, lane = tid % 32;
  float acc[CPW][MI][NI][4] = {}; // component warp + cc * WARPS: mma tiles (i, j), the PTX ISA's layout
#else
  const int xi = tid / TEAM, lane = tid % TEAM; // this thread's component and place in its team
  const int lane_n = lane % LANES_N, lane_m = lane / LANES_N;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
#endif

  const Patches p = patches_of(tile0, tid);
  Slice sl;
  load_slice(data, weight, p, sl, m0, slice_begin * BK, tid);
  {
    stage_t* const first = reinterpret_cast<stage_t*>(smem);
    store_slice(sl, first, first + NC * U_PLANE, tid);
  }
  __syncthreads();
  for (int s = 0; s < slices; ++s) {
    const stage_t* const stage = reinterpret_cast<const stage_t*>(smem + (s & 1) * STAGE);
    stage_t* const next = reinterpret_cast<stage_t*>(smem + ((s + 1) & 1) * STAGE);
    // The next slice's loads are in flight while this one is multiplied.
    if (s + 1 < slices) load_slice(data, weight, p, sl, m0, (slice_begin + s + 1) * BK, tid);
#if TENSOR_CORES
#pragma unroll
    for (int cc = 0; cc < CPW; ++cc) {
      const elem_t* const u = stage + (warp + cc * WARPS) * U_PLANE;
      const elem_t* const v = stage + NC * U_PLANE + (warp + cc * WARPS) * V_PLANE;
#pragma unroll
      for (int kk = 0; kk < BK; kk += 16) {
        unsigned af[MI][4], bf[NI][2];
#pragma unroll
        for (int i = 0; i < MI; ++i) ldmatrix_x4(af[i], u + (i * 16 + lane % 16) * U_LD + kk + (lane / 16) * 8);
        // Rows are channels: matrices (channels 0-7 | 8-15) x (tiles 0-7 | 8-15), transposed.
#pragma unroll
        for (int j = 0; j + 1 < NI; j += 2) {
          unsigned r4[4];
          ldmatrix_x4_trans(r4, v + (kk + lane % 16) * V_LD + (j + lane / 16) * 8);
          bf[j][0] = r4[0];
          bf[j][1] = r4[1];
          bf[j + 1][0] = r4[2];
          bf[j + 1][1] = r4[3];
        }
        if constexpr (NI % 2 == 1) ldmatrix_x2_trans(bf[NI - 1], v + (kk + lane % 16) * V_LD + (NI - 1) * 8);
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
          for (int j = 0; j < NI; ++j) mma_16816(acc[cc][i][j], af[i], bf[j]);
      }
    }
#else
    const float* const u = stage + xi * U_PLANE;
    const float* const v = stage + NC * U_PLANE + xi * V_PLANE;
#pragma unroll
    for (int c = 0; c < BK; ++c) {
      float a[TM], b[TN];
      read_operands<TM, LANES_M>(u + c * U_LD, lane_m, a);
      read_operands<TN, LANES_N>(v + c * BT, lane_n, b);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
#endif
    // Its stage was last read before the previous barrier.
    if (s + 1 < slices) store_slice(sl, next, next + NC * U_PLANE, tid);
    __syncthreads();
  }

#if TENSOR_CORES
  // The output transform needs the NC components of a tile: ROWS output channels at a time (as
  // many as the stages' shared memory holds), every warp's sums of them meet in shared memory,
  // [NC][ROWS][E_LD], and each thread then transforms tiles of any of them.
  constexpr int E_PLANE = ROWS * E_LD;
#pragma unroll 1
  for (int i0 = 0; i0 < BM; i0 += ROWS) {
#pragma unroll
    for (int cc = 0; cc < CPW; ++cc)
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
          for (int h = 0; h < 2; ++h) { // rows lane / 4 and lane / 4 + 8 of the tile
            const int row = i * 16 + h * 8 + lane / 4 - i0;
            if (unsigned(row) < unsigned(ROWS)) {
              float* const dst = smem + (warp + cc * WARPS) * E_PLANE + row * E_LD + j * 8 + (lane % 4) * 2;
              dst[0] = acc[cc][i][j][h * 2];
              dst[1] = acc[cc][i][j][h * 2 + 1];
            }
          }
    __syncthreads();
    for (int e = tid; e < ROWS * BT; e += THREADS) {
      const int row = e / BT, t = e % BT;
      const int m = m0 + i0 + row;
      const long long tile = tile0 + t;
      if (m < K && tile < TILES) {
        float mm[NC];
#pragma unroll
        for (int q = 0; q < NC; ++q) mm[q] = smem[q * E_PLANE + row * E_LD + t];
        store_tile(out, mm, m, tile, split, bias, residual);
      }
    }
    __syncthreads(); // before the next rows overwrite the components
  }
#else
  // The output transform needs the NC components of a tile: ROWS of the thread's rows at a time
  // (as many as the stages' shared memory holds), every team's rows meet in shared memory,
  // [NC][ROWS * LANES_M][BT], and each thread then transforms tiles of any of them.
  constexpr int E_PLANE = ROWS * LANES_M * BT;
#pragma unroll 1
  for (int i0 = 0; i0 < TM; i0 += ROWS) {
#pragma unroll
    for (int i = 0; i < ROWS; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        smem[xi * E_PLANE + (i * LANES_M + lane_m) * BT + local_of<TN, LANES_N>(j, lane_n)] = acc[i0 + i][j];
      }
    __syncthreads();
    for (int e = tid; e < E_PLANE; e += THREADS) {
      const int row_of_pass = e / BT, t = e % BT; // row_of_pass: thread-row i * LANES_M + lm
      const int m = m0 + local_of<TM, LANES_M>(i0 + row_of_pass / LANES_M, row_of_pass % LANES_M);
      const long long tile = tile0 + t;
      if (m < K && tile < TILES) {
        float mm[NC];
#pragma unroll
        for (int q = 0; q < NC; ++q) mm[q] = smem[q * E_PLANE + e] * unscale(q / ALPHA, q % ALPHA);
        store_tile(out, mm, m, tile, split, bias, residual);
      }
    }
    __syncthreads(); // before the next rows overwrite the components
  }
#endif
}
