// mma: the warp-wide fp16/bf16 tensor-core instructions of the templates that use them
// (conv2d_tensorcore, conv2d_winograd_tc), rendered after templates/epilogue.cu (elem_t, DTYPE):
//   ldmatrix_x4, ldmatrix_x4_trans, ldmatrix_x2, ldmatrix_x2_trans: ldmatrix.sync.aligned.m8n8
//     (.x4/.x2, .trans or not) from shared memory, each lane giving one 16-byte row's address;
//   mma_16816: mma.sync.aligned.m16n8k16.row.col.f32 with DTYPE's inputs (f16 or bf16).
#if defined(CHM_EMULATE)
// The host emulator provides them.
#else
__device__ __forceinline__ void ldmatrix_x4(unsigned* r, const elem_t* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* r, const elem_t* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x2(unsigned* r, const elem_t* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x2_trans(unsigned* r, const elem_t* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(s));
}
// d = a * b + d for one 16x8x16 tile: a 4 registers (16x16, row major), b 2 (16x8, column
// major), 2 elements a register, d 4 floats, in the fragment layout of the PTX ISA.
#if DTYPE == 2
#define CHM_MMA_AB ".bf16.bf16"
#else
#define CHM_MMA_AB ".f16.f16"
#endif
__device__ __forceinline__ void mma_16816(float* d, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32" CHM_MMA_AB
               ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
