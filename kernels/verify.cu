// Compares a kernel's output with the reference on the GPU, so that verification copies three
// numbers back instead of the whole output. An element passes when |out - ref| <= atol + rtol*|ref|
// (NaN never passes). `worst` receives the largest error in units of the tolerance, as float bits
// (non-negative floats order like unsigned integers).
// One element's comparison, counted into bad/first_bad/worst.
__device__ __forceinline__ void compare_one(float o, float r, long long i, float rtol, float atol,
                                            unsigned long long* bad, unsigned long long* first_bad,
                                            unsigned int* worst) {
  const float tol = atol + rtol * fabsf(r);
  const float err = fabsf(o - r);
  const bool ok = err <= tol;
  if (!ok) {
    atomicAdd(bad, 1ull);
    atomicMin(first_bad, (unsigned long long)i);
  }
  const float ratio = ok ? err / tol : (err == err ? err / tol : __int_as_float(0x7f800000));
  atomicMax(worst, __float_as_uint(ratio));
}

extern "C" __global__ void compare_outputs(const float* __restrict__ out,
                                           const float* __restrict__ ref, long long n, float rtol,
                                           float atol, unsigned long long* bad,
                                           unsigned long long* first_bad, unsigned int* worst) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    compare_one(out[i], ref[i], i, rtol, atol, bad, first_bad, worst);
  }
}

// The same for a float16 (bf16 == 0) or bfloat16 (bf16 == 1) output.
extern "C" __global__ void compare_outputs_16(const unsigned short* __restrict__ out,
                                              const float* __restrict__ ref, long long n,
                                              float rtol, float atol, unsigned long long* bad,
                                              unsigned long long* first_bad, unsigned int* worst,
                                              int bf16) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const unsigned short h = out[i];
    float o;
    if (bf16) {
      o = __uint_as_float((unsigned)h << 16);
    } else {
      asm("cvt.f32.f16 %0, %1;" : "=f"(o) : "h"(h));
    }
    compare_one(o, ref[i], i, rtol, atol, bad, first_bad, worst);
  }
}

// A position-weighted sum of a buffer's 32-bit words, added into *sum (mod 2^64). The worker sums
// a task's inputs and reference once, then again after each kernel's first launch: a kernel that
// writes outside its output changes the sum with near certainty.
extern "C" __global__ void checksum_words(const unsigned* __restrict__ p, long long n,
                                          unsigned long long* sum) {
  unsigned long long acc = 0;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    acc += (unsigned long long)p[i] * (unsigned long long)(2 * i + 1);
  }
  for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset);
  if ((threadIdx.x & 31) == 0) atomicAdd(sum, acc);
}
