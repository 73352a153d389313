// float16 and bfloat16 conversions on the host, rounding to nearest, ties to even (what cvt.rn
// does), with infinities and NaN kept: the GPU worker's inputs of such tasks, the host emulator's
// mma and loads. Header-only and free of the library's other headers, so that the emulator's
// kernels can include it.
#pragma once

#include <cstdint>
#include <cstring>

namespace chameleon::util {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_float(uint16_t h) {
  return bits_float(uint32_t(h) << 16);
}
inline uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u); // NaN stays NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13)); // inf, NaN
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return bits_float(sign);
  // Subnormal: man * 2^-24.
  const float v = float(man) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}
inline uint16_t float_to_half(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u); // rounds to infinity (>= 65520)
  if (a >= 0x38800000u) {                                // normal in float16 (>= 2^-14)
    const uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
    return uint16_t(sign | ((r - (112u << 23)) >> 13));
  }
  // Subnormal or zero: round a * 2^24 to an integer, ties to even.
  const float scaled = bits_float(a) * 16777216.0f; // exact: a power-of-two scaling
  uint32_t q = uint32_t(scaled);
  const float rest = scaled - float(q);
  if (rest > 0.5f || (rest == 0.5f && (q & 1u))) ++q;
  return uint16_t(sign | q);
}

} // namespace chameleon::util
