// Compares a kernel's output with the reference on the GPU, so that verification copies three
// numbers back instead of the whole output. An element passes when |out - ref| <= atol + rtol*|ref|
// (NaN never passes). `worst` receives the largest error in units of the tolerance, as float bits
// (non-negative floats order like unsigned integers).
extern "C" __global__ void compare_outputs(const float* __restrict__ out,
                                           const float* __restrict__ ref, long long n, float rtol,
                                           float atol, unsigned long long* bad,
                                           unsigned long long* first_bad, unsigned int* worst) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const float o = out[i], r = ref[i];
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
}
