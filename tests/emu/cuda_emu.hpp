// cuda_emu.hpp: runs chameleon's CUDA kernel templates on the host, so that their index math,
// bounds checks, pipelines and split-K reductions are verified on machines without a GPU.
//
// The rendered kernel source is compiled with the host compiler after this header, with
// CHM_EMULATE defined. Every CUDA thread of a block is a fiber (ucontext); __syncthreads() parks
// the fiber until every thread of the block has arrived; warp-wide mma.sync parks it until the 32
// lanes of its warp have arrived. At each barrier the fibers resume in a fresh random order, so
// that a missing barrier shows as a wrong answer rather than hiding behind a fixed schedule.
// Warpgroup-wide wgmma (sm_90a) parks the thread until the 128 threads of its warpgroup have
// arrived; its shared-memory operands are read through the matrix descriptors the kernel encoded,
// and each multiply happens, at random, when issued (with those issued before it) or only at the
// wgmma.wait_group that must see it, as an asynchronous one may.
// A cp.async copy happens, at random, when issued or only at the cp.async.wait_group that must
// see it: both are what the hardware may do; dynamic shared memory is filled with NaN before every
// block. Blocks run one after another, so __shared__ variables can be function statics and atomics
// plain additions.
#pragma once

#include "chameleon/util/float16.hpp"

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
  float x, y, z, w;
};

namespace chm_emu {

using chameleon::util::bf16_to_float;
using chameleon::util::bits_float;
using chameleon::util::float_to_bf16;
using chameleon::util::float_to_half;
using chameleon::util::half_to_float;

enum class FiberState { Runnable, AtBarrier, AtWarpOp, AtGroupOp, Done };

struct Copy {
  void* dst;
  const void* src;
  int bytes;     // written to shared memory
  int src_bytes; // read from global memory, the rest zero-filled
};

struct Fiber {
  ucontext_t ctx{};
  std::vector<char> stack;
  FiberState state = FiberState::Runnable;
  uint3 tid;
  int linear = 0;
  std::vector<Copy> open;               // cp.async copies not yet committed
  std::deque<std::vector<Copy>> groups; // committed groups, oldest first
};

// One warp-wide operation: mma.sync (m16n8k8 TF32, m16n8k16 float16 or bfloat16) with each
// lane's fragments, then its result; or ldmatrix (.x1/.x2/.x4, .trans) with each lane's row
// address, then its registers.
enum class WarpKind { MmaTf32, MmaF16, MmaBf16, Ldmatrix };
struct WarpMma {
  WarpKind kind = WarpKind::MmaTf32;
  unsigned a[32][4];
  unsigned b[32][2];
  float c[32][4];
  float d[32][4];
  const uint16_t* rows[32]; // ldmatrix: the row each lane names
  unsigned r[32][4];        // ldmatrix: the registers each lane receives
  int matrices = 1;
  bool trans = false;
};

// wgmma.mma_async m64nNk16 (float16 or bfloat16 inputs, float32 accumulators): both operands
// in shared memory, K-major, through descriptors; each thread's N/2 accumulators.
struct GroupMma {
  float* d[128];
  uint64_t a_desc = 0, b_desc = 0;
  int n = 8;
  bool bf16 = false;
};
// One warpgroup-wide operation being gathered: its kind, and the multiply's per-thread part.
enum class GroupKind { Mma, Commit, Wait, Fence };
struct WarpGroup {
  GroupKind kind = GroupKind::Fence;
  int pending = 0; // Wait: the committed groups that may stay in flight
  GroupMma mma;
  uint64_t a_desc[128], b_desc[128];
  std::vector<GroupMma> open;               // issued multiplies not yet committed
  std::deque<std::vector<GroupMma>> groups; // committed, oldest first
};

struct State {
  uint3 block_idx, block_dim, grid_dim;
  Fiber* cur = nullptr;
  ucontext_t main{};
  std::vector<Fiber> fibers;
  std::vector<WarpMma> warps;
  std::vector<WarpGroup> warpgroups;
  std::vector<float> dyn_smem;
  std::function<void()> kernel;
  std::mt19937 rng;
  std::exception_ptr error; // what a thread threw; the launch rethrows it
};

inline State& st() {
  static State s;
  return s;
}

inline void park(FiberState why) {
  State& s = st();
  Fiber* f = s.cur;
  f->state = why;
  swapcontext(&f->ctx, &s.main);
}

inline void complete(const std::vector<Copy>& group) {
  for (const Copy& c : group) {
    std::memset(c.dst, 0, size_t(c.bytes));
    if (c.src_bytes > 0) std::memcpy(c.dst, c.src, size_t(c.src_bytes));
  }
}

inline float bits_to_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// D = A x B + C for a 16 x KD x 8 tile of the warp: C from each lane's c, D into its d, in the
// accumulator layout c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
template <int KD>
inline void multiply(WarpMma& w, const float (&A)[16][KD], const float (&B)[KD][8]) {
  float Cm[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    Cm[g][2 * t] = w.c[lane][0];
    Cm[g][2 * t + 1] = w.c[lane][1];
    Cm[g + 8][2 * t] = w.c[lane][2];
    Cm[g + 8][2 * t + 1] = w.c[lane][3];
  }
  auto dot = [&](int row, int col) {
    float acc = Cm[row][col];
    for (int k = 0; k < KD; ++k) acc += A[row][k] * B[k][col];
    return acc;
  };
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    w.d[lane][0] = dot(g, 2 * t);
    w.d[lane][1] = dot(g, 2 * t + 1);
    w.d[lane][2] = dot(g + 8, 2 * t);
    w.d[lane][3] = dot(g + 8, 2 * t + 1);
  }
}

// m16n8k8 TF32, with the PTX ISA's fragment layout (g = lane / 4, t = lane % 4):
// a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (t, g), b1 (t+4, g).
inline void resolve_tf32(WarpMma& w) {
  float A[16][8], B[8][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    A[g][t] = bits_to_float(w.a[lane][0]);
    A[g + 8][t] = bits_to_float(w.a[lane][1]);
    A[g][t + 4] = bits_to_float(w.a[lane][2]);
    A[g + 8][t + 4] = bits_to_float(w.a[lane][3]);
    B[t][g] = bits_to_float(w.b[lane][0]);
    B[t + 4][g] = bits_to_float(w.b[lane][1]);
  }
  multiply(w, A, B);
}

// m16n8k16 with 16-bit inputs, two a register (the lower half the lower column or row):
// a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..); b0 (2t..2t+1, g),
// b1 (2t+8.., g).
inline void resolve_16816(WarpMma& w) {
  const bool bf = w.kind == WarpKind::MmaBf16;
  auto value = [bf](unsigned reg, int half) {
    const uint16_t h = uint16_t(half ? reg >> 16 : reg & 0xffffu);
    return bf ? bf16_to_float(h) : half_to_float(h);
  };
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int h = 0; h < 2; ++h) {
      A[g][2 * t + h] = value(w.a[lane][0], h);
      A[g + 8][2 * t + h] = value(w.a[lane][1], h);
      A[g][2 * t + 8 + h] = value(w.a[lane][2], h);
      A[g + 8][2 * t + 8 + h] = value(w.a[lane][3], h);
      B[2 * t + h][g] = value(w.b[lane][0], h);
      B[2 * t + 8 + h][g] = value(w.b[lane][1], h);
    }
  }
  multiply(w, A, B);
}

// ldmatrix: lanes 8i..8i+7 name the rows of matrix i (8 elements of 16 bits, 16-byte aligned);
// lane l receives of each matrix the elements (l/4, 2(l%4)) and (l/4, 2(l%4)+1), or, .trans,
// (2(l%4), l/4) and (2(l%4)+1, l/4), the first in the lower half of its register.
inline void resolve_ldmatrix(WarpMma& w) {
  for (int m = 0; m < w.matrices; ++m) {
    for (int row = 0; row < 8; ++row) {
      if (reinterpret_cast<uintptr_t>(w.rows[m * 8 + row]) % 16 != 0)
        throw std::runtime_error("emulator: ldmatrix row address not 16-byte aligned");
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int i = lane / 4, j = 2 * (lane % 4);
    for (int m = 0; m < w.matrices; ++m) {
      const uint16_t* const* rows = &w.rows[m * 8];
      const uint16_t lo = w.trans ? rows[j][i] : rows[i][j];
      const uint16_t hi = w.trans ? rows[j + 1][i] : rows[i][j + 1];
      w.r[lane][m] = unsigned(lo) | (unsigned(hi) << 16);
    }
  }
}

inline void resolve_warp(WarpMma& w) {
  switch (w.kind) {
  case WarpKind::MmaTf32:
    resolve_tf32(w);
    break;
  case WarpKind::MmaF16:
  case WarpKind::MmaBf16:
    resolve_16816(w);
    break;
  case WarpKind::Ldmatrix:
    resolve_ldmatrix(w);
    break;
  }
}

// The element (row, k) of a K-major operand without swizzling, as a wgmma descriptor names it:
// start address, leading byte offset (between the 8x8 core matrices along K) and stride byte
// offset (between 8-row groups), each in 16-byte units; rows of a core matrix 16 bytes apart.
inline float descriptor_element(uint64_t desc, int row, int k, bool bf16) {
  State& s = st();
  if (((desc >> 62) & 3u) != 0 || ((desc >> 49) & 7u) != 0)
    throw std::runtime_error("emulator: wgmma descriptor with swizzling or a base offset");
  const uint64_t start = (desc & 0x3fffu) << 4, lbo = ((desc >> 16) & 0x3fffu) << 4,
                 sbo = ((desc >> 32) & 0x3fffu) << 4;
  const uint64_t at = start + uint64_t(row / 8) * sbo + uint64_t(row % 8) * 16 +
                      uint64_t(k / 8) * lbo + uint64_t(k % 8) * 2;
  if (at + 2 > s.dyn_smem.size() * sizeof(float))
    throw std::runtime_error("emulator: wgmma operand beyond the dynamic shared memory");
  uint16_t h;
  std::memcpy(&h, reinterpret_cast<const char*>(s.dyn_smem.data()) + at, 2);
  return bf16 ? bf16_to_float(h) : half_to_float(h);
}

// D = A x B + D for a 64 x N x 16 multiply of a warpgroup; thread t (warp w = t / 32, lane l)
// holds d[i] = D(16w + l/4 + 8 ((i/2) % 2), 8 (i/4) + 2 (l%4) + i%2).
inline void multiply_group(const GroupMma& m) {
  float A[64][16];
  std::vector<float> B(size_t(m.n) * 16);
  for (int r = 0; r < 64; ++r)
    for (int k = 0; k < 16; ++k) A[r][k] = descriptor_element(m.a_desc, r, k, m.bf16);
  for (int c = 0; c < m.n; ++c)
    for (int k = 0; k < 16; ++k) B[size_t(c) * 16 + k] = descriptor_element(m.b_desc, c, k, m.bf16);
  for (int t = 0; t < 128; ++t) {
    const int w = t / 32, l = t % 32;
    for (int i = 0; i < m.n / 2; ++i) {
      const int row = 16 * w + l / 4 + 8 * ((i / 2) % 2), col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
      float acc = m.d[t][i];
      for (int k = 0; k < 16; ++k) acc += A[row][k] * B[size_t(col) * 16 + k];
      m.d[t][i] = acc;
    }
  }
}

inline void resolve_group(WarpGroup& g, std::mt19937& rng) {
  switch (g.kind) {
  case GroupKind::Mma:
    for (int t = 1; t < 128; ++t) {
      if (g.a_desc[t] != g.a_desc[0] || g.b_desc[t] != g.b_desc[0])
        throw std::runtime_error("emulator: wgmma descriptors differ within a warpgroup");
    }
    g.mma.a_desc = g.a_desc[0];
    g.mma.b_desc = g.b_desc[0];
    if (rng() & 1u) { // done at once, and so every multiply issued before it (in order)
      for (const auto& group : g.groups)
        for (const GroupMma& m : group) multiply_group(m);
      for (const GroupMma& m : g.open) multiply_group(m);
      g.groups.clear();
      g.open.clear();
      multiply_group(g.mma);
    } else {
      g.open.push_back(g.mma);
    }
    break;
  case GroupKind::Commit:
    g.groups.push_back(std::move(g.open));
    g.open.clear();
    break;
  case GroupKind::Wait:
    while (g.groups.size() > size_t(g.pending)) {
      for (const GroupMma& m : g.groups.front()) multiply_group(m);
      g.groups.pop_front();
    }
    break;
  case GroupKind::Fence:
    break;
  }
}

inline void trampoline() {
  State& s = st();
  try {
    s.kernel();
  } catch (...) {
    s.error = std::current_exception();
  }
  s.cur->state = FiberState::Done;
  // uc_link returns to the scheduler.
}

inline void run_block(std::mt19937& rng) {
  State& s = st();
  const size_t n = s.fibers.size();
  for (WarpGroup& g : s.warpgroups) {
    g.open.clear();
    g.groups.clear();
  }
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = s.fibers[i];
    f.state = FiberState::Runnable;
    f.open.clear();
    f.groups.clear();
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = &s.main;
    makecontext(&f.ctx, trampoline, 0);
  }
  // NaN as a float and as each of its halves (float16 and bfloat16 alike).
  std::fill(s.dyn_smem.begin(), s.dyn_smem.end(), bits_float(0x7fff7fffu));
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (;;) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      Fiber& f = s.fibers[i];
      if (f.state != FiberState::Runnable) continue;
      s.cur = &f;
      swapcontext(&s.main, &f.ctx);
      if (s.error) {
        // The other threads' stacks are abandoned mid-kernel; they own nothing.
        std::exception_ptr e = s.error;
        s.error = nullptr;
        std::rethrow_exception(e);
      }
    }
    size_t done = 0, barrier = 0, warp_op = 0, group_op = 0;
    for (const Fiber& f : s.fibers) {
      done += f.state == FiberState::Done;
      barrier += f.state == FiberState::AtBarrier;
      warp_op += f.state == FiberState::AtWarpOp;
      group_op += f.state == FiberState::AtGroupOp;
    }
    if (done == n) {
      for (const WarpGroup& g : s.warpgroups) {
        if (!g.open.empty() || !g.groups.empty())
          throw std::runtime_error("emulator: a block ended with wgmma multiplies not waited for");
      }
      return;
    }
    if (warp_op > 0 || group_op > 0) {
      // Warps (and warpgroups) whose threads have all arrived; a random share of them (one at
      // least) goes on, the others wait a round, so that warps drift apart as on the GPU and a
      // missing barrier between them shows. Entries: warp w as w, warpgroup g as ~g.
      std::vector<size_t> ready;
      for (size_t w = 0; w * 32 < n; ++w) {
        size_t at = 0;
        for (size_t l = w * 32; l < std::min(n, w * 32 + 32); ++l)
          at += s.fibers[l].state == FiberState::AtWarpOp;
        if (at == 0) continue;
        if (at != 32)
          throw std::runtime_error(
              "emulator: a warp-wide operation with only some lanes of a warp");
        ready.push_back(w);
      }
      bool partial_group = false;
      for (size_t g = 0; g * 128 < n && group_op > 0; ++g) {
        size_t at = 0;
        for (size_t l = g * 128; l < std::min(n, g * 128 + 128); ++l)
          at += s.fibers[l].state == FiberState::AtGroupOp;
        if (at == 128) ready.push_back(~g);
        partial_group = partial_group || (at > 0 && at < 128);
      }
      if (ready.empty() && partial_group)
        throw std::runtime_error("emulator: a warpgroup-wide operation (wgmma) with only some "
                                 "threads of a warpgroup of 128");
      std::shuffle(ready.begin(), ready.end(), rng);
      for (size_t i = 0; i < ready.size(); ++i) {
        if (i > 0 && (rng() & 1u)) continue;
        const bool group = ready[i] > (~size_t(0) >> 1);
        const size_t first = group ? ~ready[i] * 128 : ready[i] * 32;
        if (group) {
          resolve_group(s.warpgroups[~ready[i]], rng);
        } else {
          resolve_warp(s.warps[ready[i]]);
        }
        for (size_t l = first; l < first + (group ? 128 : 32); ++l)
          s.fibers[l].state = FiberState::Runnable;
      }
    } else if (barrier == n) {
      for (Fiber& f : s.fibers) f.state = FiberState::Runnable;
    } else {
      throw std::runtime_error("emulator: __syncthreads() while " + std::to_string(done) +
                               " threads of the block have exited (a GPU would hang or misbehave)");
    }
  }
}

// Runs kernel() for every thread of every block.
inline void launch(const unsigned* grid, const unsigned* block, unsigned dyn_smem_bytes,
                   unsigned seed, std::function<void()> kernel) {
  State& s = st();
  const size_t threads = size_t(block[0]) * block[1] * block[2];
  s.kernel = std::move(kernel);
  s.block_dim = {block[0], block[1], block[2]};
  s.grid_dim = {grid[0], grid[1], grid[2]};
  s.fibers.assign(threads, Fiber{});
  s.warps.assign((threads + 31) / 32, WarpMma{});
  s.warpgroups.assign((threads + 127) / 128, WarpGroup{});
  s.dyn_smem.assign((dyn_smem_bytes + 3) / 4, 0.0f);
  for (size_t i = 0; i < threads; ++i) {
    Fiber& f = s.fibers[i];
    f.stack.resize(64 * 1024);
    f.linear = int(i);
    f.tid = {unsigned(i % block[0]), unsigned((i / block[0]) % block[1]),
             unsigned(i / (size_t(block[0]) * block[1]))};
  }
  s.rng.seed(seed);
  std::mt19937& rng = s.rng;
  for (unsigned z = 0; z < grid[2]; ++z)
    for (unsigned y = 0; y < grid[1]; ++y)
      for (unsigned x = 0; x < grid[0]; ++x) {
        s.block_idx = {x, y, z};
        run_block(rng);
      }
  s.fibers.clear();
}

} // namespace chm_emu

#define threadIdx (chm_emu::st().cur->tid)
#define blockIdx (chm_emu::st().block_idx)
#define blockDim (chm_emu::st().block_dim)
#define gridDim (chm_emu::st().grid_dim)

inline void __syncthreads() {
  chm_emu::park(chm_emu::FiberState::AtBarrier);
}
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}

#define CHM_DYNAMIC_SMEM(type, name)                                                               \
  type* name = reinterpret_cast<type*>(chm_emu::st().dyn_smem.data())

namespace chm_emu {
inline void issue_copy(const Copy& c) {
  State& s = st();
  if (s.rng() & 1u) {
    complete({c});
  } else {
    s.cur->open.push_back(c);
  }
}
} // namespace chm_emu

inline void cp_async4(float* dst, const float* src, bool valid) {
  chm_emu::issue_copy({dst, src, 4, valid ? 4 : 0});
}
inline void cp_async16(float* dst, const float* src, bool valid) {
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 ||
      (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0)) {
    throw std::runtime_error("emulator: misaligned 16-byte cp.async");
  }
  chm_emu::issue_copy({dst, src, 16, valid ? 16 : 0});
}
inline float4 lds4(const float* p) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
    throw std::runtime_error("emulator: misaligned 16-byte shared-memory read");
  float4 v;
  std::memcpy(&v, p, 16);
  return v;
}
inline void cp_async_commit() {
  chm_emu::Fiber* f = chm_emu::st().cur;
  f->groups.push_back(std::move(f->open));
  f->open.clear();
}
template <int Pending> inline void cp_async_wait() {
  chm_emu::Fiber* f = chm_emu::st().cur;
  while (f->groups.size() > size_t(Pending)) {
    chm_emu::complete(f->groups.front());
    f->groups.pop_front();
  }
}

// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero.
inline unsigned to_tf32(float x) {
  unsigned u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;
  return u & 0xffffe000u;
}
namespace chm_emu {
// The calling lane's part of a warp-wide mma of `kind`; parks until the warp has arrived.
inline void warp_mma(WarpKind kind, float* d, const unsigned* a, const unsigned* b) {
  State& s = st();
  const int lane = s.cur->linear % 32;
  WarpMma& w = s.warps[size_t(s.cur->linear / 32)];
  w.kind = kind;
  std::memcpy(w.a[lane], a, sizeof(w.a[lane]));
  std::memcpy(w.b[lane], b, sizeof(w.b[lane]));
  std::memcpy(w.c[lane], d, sizeof(w.c[lane]));
  park(FiberState::AtWarpOp);
  std::memcpy(d, w.d[lane], sizeof(w.d[lane]));
}
// The calling lane's part of an ldmatrix of `matrices` 8x8 matrices.
inline void warp_ldmatrix(unsigned* r, const void* row, int matrices, bool trans) {
  State& s = st();
  const int lane = s.cur->linear % 32;
  WarpMma& w = s.warps[size_t(s.cur->linear / 32)];
  w.kind = WarpKind::Ldmatrix;
  w.matrices = matrices;
  w.trans = trans;
  w.rows[lane] = static_cast<const uint16_t*>(row);
  park(FiberState::AtWarpOp);
  for (int m = 0; m < matrices; ++m) r[m] = w.r[lane][m];
}
// The calling thread's part of a warpgroup-wide operation; parks until the warpgroup has arrived.
inline WarpGroup& group_arrive(GroupKind kind) {
  State& s = st();
  if (s.fibers.size() % 128 != 0)
    throw std::runtime_error("emulator: wgmma in a block of " + std::to_string(s.fibers.size()) +
                             " threads (not whole warpgroups of 128)");
  WarpGroup& g = s.warpgroups[size_t(s.cur->linear / 128)];
  g.kind = kind;
  return g;
}
inline void group_mma(int n, bool bf16, float* d, uint64_t a_desc, uint64_t b_desc) {
  WarpGroup& g = group_arrive(GroupKind::Mma);
  const int t = st().cur->linear % 128;
  g.mma.n = n;
  g.mma.bf16 = bf16;
  g.mma.d[t] = d;
  g.a_desc[t] = a_desc;
  g.b_desc[t] = b_desc;
  park(FiberState::AtGroupOp);
}
inline void group_sync(GroupKind kind, int pending) {
  WarpGroup& g = group_arrive(kind);
  g.pending = pending;
  park(FiberState::AtGroupOp);
}
} // namespace chm_emu

inline void mma_tf32(float* d, const unsigned* a, const unsigned* b) {
  chm_emu::warp_mma(chm_emu::WarpKind::MmaTf32, d, a, b);
}
// The tensor-core template's helpers; DTYPE (2: bfloat16) is the rendered kernel's.
#define mma_16816(d, a, b)                                                                         \
  chm_emu::warp_mma(DTYPE == 2 ? chm_emu::WarpKind::MmaBf16 : chm_emu::WarpKind::MmaF16, d, a, b)
inline void ldmatrix_x4(unsigned* r, const void* p) {
  chm_emu::warp_ldmatrix(r, p, 4, false);
}
inline void ldmatrix_x4_trans(unsigned* r, const void* p) {
  chm_emu::warp_ldmatrix(r, p, 4, true);
}
inline void ldmatrix_x2(unsigned* r, const void* p) {
  chm_emu::warp_ldmatrix(r, p, 2, false);
}
inline void ldmatrix_x2_trans(unsigned* r, const void* p) {
  chm_emu::warp_ldmatrix(r, p, 2, true);
}
inline void cp_async16_b(void* dst, const void* src, bool valid) {
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 ||
      (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0)) {
    throw std::runtime_error("emulator: misaligned 16-byte cp.async");
  }
  chm_emu::issue_copy({dst, src, 16, valid ? 16 : 0});
}

// The wgmma helpers of conv2d_wgmma; WN and DTYPE are the rendered kernel's. A shared-memory
// address is the byte offset into the dynamic shared memory, as __cvta_generic_to_shared gives.
inline unsigned smem_addr(const void* p) {
  const char* base = reinterpret_cast<const char*>(chm_emu::st().dyn_smem.data());
  return unsigned(static_cast<const char*>(p) - base);
}
#define wgmma_tile(d, a_desc, b_desc) chm_emu::group_mma(WN, DTYPE == 2, d, a_desc, b_desc)
inline void wgmma_fence() {
  chm_emu::group_sync(chm_emu::GroupKind::Fence, 0);
}
inline void wgmma_commit() {
  chm_emu::group_sync(chm_emu::GroupKind::Commit, 0);
}
template <int Pending> inline void wgmma_wait() {
  chm_emu::group_sync(chm_emu::GroupKind::Wait, Pending);
}
inline void fence_proxy_async() {}
