// AVX2 dot kernels (x86-64). Compiled with target attributes rather than global flags so they
// exist in every build and are chosen at run time (cpu_has_avx2). Each 32-element block is
// widened to 32 bytes of quants; _mm256_maddubs_epi16 multiplies unsigned weight bytes by signed
// activation bytes (pairs summed to int16: with |x| <= 127 and weights <= 63 no pair can
// saturate), _mm256_madd_epi16 sums to 8 int32 lanes, which are scaled in f32 and accumulated.
// Signed weights use the sign trick: |w| * (x with w's sign) — |w| <= 128 and |x| <= 127 keep
// pairs within int16 as well.
#include "quant/dot.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "quant/blocks.h"

#define EFT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace eft::quant {

namespace {

EFT_AVX2 inline float f16(uint16_t h) { return _cvtsh_ss(h); }

EFT_AVX2 inline __m256i mul_sum_u8_i8(__m256i w_u8, __m256i x_i8) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_u8, x_i8), _mm256_set1_epi16(1));
}
EFT_AVX2 inline __m256i mul_sum_i8_i8(__m256i w, __m256i x) {
  return mul_sum_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}
EFT_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
EFT_AVX2 inline __m256i load_x(const BlockQ8x& x) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
}
// 16 bytes of nibbles -> 32 bytes: elements 0..15 (low nibbles) then 16..31 (high nibbles).
EFT_AVX2 inline __m256i unpack_nibbles16(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}
// Byte k = 0x10 when bit k of `bits` is set (the fifth bit of q5_0/q5_1 quants).
EFT_AVX2 inline __m256i fifth_bits(uint32_t bits) {
  __m256i v = _mm256_set1_epi32(int(bits));
  // Byte k takes byte k/8 of `bits` (shuffles stay within 128-bit lanes; every lane holds `bits`).
  v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i sel = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));  // bit k % 8
  v = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

EFT_AVX2 float dot_q4_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles16(b[i].qs), _mm256_set1_epi8(8));
    const __m256 s = _mm256_cvtepi32_ps(mul_sum_i8_i8(q, load_x(x[i])));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16(b[i].d) * x[i].d), acc);
  }
  return hsum(acc);
}

EFT_AVX2 float dot_q4_1(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ4_1* b = static_cast<const BlockQ4_1*>(w);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 s = _mm256_cvtepi32_ps(mul_sum_u8_i8(unpack_nibbles16(b[i].qs), load_x(x[i])));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16(b[i].d) * x[i].d), acc);
    mins += f16(b[i].m) * x[i].d * float(x[i].sum);
  }
  return hsum(acc) + mins;
}

EFT_AVX2 float dot_q5_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(w);
  __m256i h16 = _mm256_set1_epi8(16);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m256i q = _mm256_or_si256(unpack_nibbles16(b[i].qs), fifth_bits(load_qh(b[i].qh)));
    q = _mm256_sub_epi8(q, h16);
    const __m256 s = _mm256_cvtepi32_ps(mul_sum_i8_i8(q, load_x(x[i])));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16(b[i].d) * x[i].d), acc);
  }
  return hsum(acc);
}

EFT_AVX2 float dot_q5_1(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ5_1* b = static_cast<const BlockQ5_1*>(w);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = _mm256_or_si256(unpack_nibbles16(b[i].qs), fifth_bits(load_qh(b[i].qh)));
    const __m256 s = _mm256_cvtepi32_ps(mul_sum_u8_i8(q, load_x(x[i])));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16(b[i].d) * x[i].d), acc);
    mins += f16(b[i].m) * x[i].d * float(x[i].sum);
  }
  return hsum(acc) + mins;
}

EFT_AVX2 float dot_q8_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256 s = _mm256_cvtepi32_ps(mul_sum_i8_i8(q, load_x(x[i])));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16(b[i].d) * x[i].d), acc);
  }
  return hsum(acc);
}

// q4_K / q5_K: per super-block, chunk c holds sub-blocks 2c (low nibbles) and 2c+1 (high).
template <bool Five, class Block>
EFT_AVX2 float dot_qk45(const void* w, const BlockQ8x* x, int64_t nb) {
  const Block* b = static_cast<const Block*>(w);
  const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb / 8; ++i, x += 8) {
    const float d = f16(b[i].d), dmin = f16(b[i].dmin);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      k_scale_min(b[i].scales, j, &sc[j], &mn[j]);
      mins += dmin * float(mn[j]) * x[j].d * float(x[j].sum);
    }
    __m256i qh;
    if constexpr (Five) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh));
    for (int c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * c));
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (Five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
      }
      const int j = 2 * c;
      const __m256 s0 = _mm256_cvtepi32_ps(mul_sum_u8_i8(lo, load_x(x[j])));
      const __m256 s1 = _mm256_cvtepi32_ps(mul_sum_u8_i8(hi, load_x(x[j + 1])));
      acc = _mm256_fmadd_ps(s0, _mm256_set1_ps(d * float(sc[j]) * x[j].d), acc);
      acc = _mm256_fmadd_ps(s1, _mm256_set1_ps(d * float(sc[j + 1]) * x[j + 1].d), acc);
    }
  }
  return hsum(acc) - mins;
}

EFT_AVX2 float dot_q6_k(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb / 8; ++i, x += 8) {
    const float d = f16(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].ql + 64 * h));
      const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + 32 * h));
      const int8_t* sc = b[i].scales + 8 * h;
      __m256i g[4];
      g[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      g[1] = _mm256_or_si256(_mm256_and_si256(qb, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const BlockQ8x& xb = x[4 * h + k];
        // int32 lanes 0..3 sum elements 0..15 (scale sc[2k]), lanes 4..7 elements 16..31 (sc[2k+1]).
        const __m256i p = mul_sum_i8_i8(_mm256_sub_epi8(g[k], o32), load_x(xb));
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi32(sc[2 * k + 1]), _mm_set1_epi32(sc[2 * k]));
        const __m256 s = _mm256_cvtepi32_ps(_mm256_mullo_epi32(p, scv));
        acc = _mm256_fmadd_ps(s, _mm256_set1_ps(d * xb.d), acc);
      }
    }
  }
  return hsum(acc);
}

// Float rows: four independent accumulators hide the FMA latency.
EFT_AVX2 float fdot_f32(const void* w, const float* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += a[i] * x[i];
  return s;
}

EFT_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
EFT_AVX2 inline __m256 load_bf16x8(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

template <bool Bf16>
EFT_AVX2 float fdot_16(const void* w, const float* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  auto load = [a](int64_t i) EFT_AVX2 { return Bf16 ? load_bf16x8(a + i) : load_f16x8(a + i); };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load(i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load(i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load(i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += (Bf16 ? bits_f32(uint32_t(a[i]) << 16) : f16(a[i])) * x[i];
  return s;
}

}  // namespace

QDotFn qdot_avx2(QType t) {
  switch (t) {
    case QType::Q4_0: return dot_q4_0;
    case QType::Q4_1: return dot_q4_1;
    case QType::Q5_0: return dot_q5_0;
    case QType::Q5_1: return dot_q5_1;
    case QType::Q8_0: return dot_q8_0;
    case QType::Q4_K: return dot_qk45<false, BlockQ4_K>;
    case QType::Q5_K: return dot_qk45<true, BlockQ5_K>;
    case QType::Q6_K: return dot_q6_k;
    default: return nullptr;
  }
}

FDotFn fdot_avx2(QType t) {
  switch (t) {
    case QType::F32: return fdot_f32;
    case QType::F16: return fdot_16<false>;
    case QType::BF16: return fdot_16<true>;
    default: return nullptr;
  }
}

}  // namespace eft::quant

#else  // not x86-64: no AVX2 kernels

namespace eft::quant {
QDotFn qdot_avx2(QType) { return nullptr; }
FDotFn fdot_avx2(QType) { return nullptr; }
}  // namespace eft::quant

#endif
