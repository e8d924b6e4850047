#pragma once
// ggml's block layouts (facts of the GGUF format; the code is ours). All fields are byte arrays
// or 16-bit halves so the structs have no padding and can be read at any alignment by memcpy-free
// pointer casts (GGUF aligns tensors to 32 bytes, but rows of a type whose block size is not a
// multiple of 4, e.g. q4_0's 18 bytes, leave blocks at 2-byte alignment — hence 16-bit fields only).
#include <cstdint>

#include "eft/dtype.h"
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace eft::quant {

constexpr int QK = 32;    // elements per block of the 32-element formats
constexpr int QK_K = 256;  // elements per super-block of the K formats

struct BlockQ4_0 {  // x = (nibble - 8) * d; elements 0..15 in the low nibbles, 16..31 in the high
  uint16_t d;
  uint8_t qs[QK / 2];
};
struct BlockQ4_1 {  // x = nibble * d + m; same nibble order as q4_0
  uint16_t d, m;
  uint8_t qs[QK / 2];
};
// q5_0 / q5_1: as q4_0 / q4_1 with a fifth bit per element: bit j of the little-endian 32-bit
// qh holds element j's; x = (q - 16) * d (q5_0) or q * d + m (q5_1).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
struct BlockQ8_0 {  // x = q * d
  uint16_t d;
  int8_t qs[QK];
};
// q4_K: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed in 12 bytes;
// x = d * scale_j * nibble - dmin * min_j. Sub-blocks 2c and 2c+1 share the 32 bytes qs[32c..]:
// 2c in the low nibbles, 2c+1 in the high ones.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
// q5_K: as q4_K plus a fifth bit per element: bit (2c) of qh[l] for sub-block 2c's element l,
// bit (2c+1) for sub-block 2c+1's.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
// q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit values (low 4 bits in ql, high 2 in qh)
// offset by 32: x = d * scale * (q - 32). Layout per half of 128: see dequantize.cpp.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);

inline uint32_t load_qh(const uint8_t* qh) {
  return uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
}
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

inline float h2f(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16_to_f32(f16{h});
#endif
}

// Scale and min j (0..7) of a K super-block from its 12 packed bytes: bytes 0..3 hold the low 6
// bits of scales 0..3, bytes 4..7 the low 6 bits of mins 0..3; for j >= 4 the low 4 bits come
// from byte j+4 (scale: low nibble, min: high nibble) and the high 2 bits from the top bits of
// bytes j-4 (scale) and j (min).
inline void k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = uint8_t((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    *mn = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

}  // namespace eft::quant
