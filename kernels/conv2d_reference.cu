// The trusted conv2d: one output per thread, double accumulation, every parameter at run time so
// that one compile serves every task. Layout NCHW / KCRS / NKOHOW, float32 in and out.
extern "C" __global__ void conv2d_reference(const float* __restrict__ data,
                                            const float* __restrict__ weight,
                                            float* __restrict__ out, int N, int C, int H, int W,
                                            int K, int R, int S, int OH, int OW, int SH, int SW,
                                            int PT, int PL, int DH, int DW, int G) {
  const long long total = (long long)N * K * OH * OW;
  const int cg = C / G, kg = K / G;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const int x = (int)(idx % OW);
    const int y = (int)((idx / OW) % OH);
    const int k = (int)((idx / ((long long)OW * OH)) % K);
    const int n = (int)(idx / ((long long)OW * OH * K));
    const int g = k / kg;
    double acc = 0.0;
    for (int c = 0; c < cg; ++c) {
      for (int r = 0; r < R; ++r) {
        const int iy = y * SH - PT + r * DH;
        if (iy < 0 || iy >= H) continue;
        for (int s = 0; s < S; ++s) {
          const int ix = x * SW - PL + s * DW;
          if (ix < 0 || ix >= W) continue;
          acc += (double)data[(((long long)n * C + g * cg + c) * H + iy) * W + ix] *
                 (double)weight[(((long long)k * cg + c) * R + r) * S + s];
        }
      }
    }
    out[idx] = (float)acc;
  }
}
