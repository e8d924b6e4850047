#pragma once
// Small f32 building blocks shared by the CPU attention methods (standard, flash, sparse):
// dtype -> f32 row loads, a vectorizable exp, a register-blocked micro-GEMM, and row-wise mask
// evaluation. Plain loops with compile-time trip counts so that gcc vectorizes them under
// -march=native; no intrinsics, so the same code builds (slower) under the sanitizers.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "eft/attention.h"
#include "eft/dtype.h"

namespace eft::cpu::tile {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Lanes of the widest vector we tune for (AVX-512: 16 floats). Padded widths are multiples of it.
constexpr int kLanes = 16;
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// ---- dtype -> f32 --------------------------------------------------------------------------
// f16 -> f32 without branches: shifting the 15 magnitude bits into an f32 and multiplying by
// 2^112 rebiases the exponent and turns f16 subnormals into f32 normals exactly; exponent 31
// (inf / NaN) is patched separately. The library's f16_to_f32 is exact too but out of line and
// branchy, which would dominate the K/V tile conversion.
inline float f16_bits_to_f32(uint16_t h) {
  uint32_t mag = uint32_t(h & 0x7fffu) << 13;
  float v = std::bit_cast<float>(mag) * 0x1p112f;
  if ((h & 0x7c00u) == 0x7c00u) v = std::bit_cast<float>(mag | 0x7f800000u);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | (uint32_t(h & 0x8000u) << 16));
}
inline float bf16_bits_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// dst[0..n) = float(src[off .. off+n)) * mul; src in dtype t.
inline void load_row(const void* src, DType t, int64_t off, int64_t n, float mul, float* dst) {
  switch (t) {
    case DType::f32: {
      const float* s = static_cast<const float*>(src) + off;
      for (int64_t i = 0; i < n; ++i) dst[i] = s[i] * mul;
      return;
    }
    case DType::bf16: {
      const uint16_t* s = static_cast<const uint16_t*>(src) + off;
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_bits_to_f32(s[i]) * mul;
      return;
    }
    case DType::f16: {
      const uint16_t* s = static_cast<const uint16_t*>(src) + off;
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_bits_to_f32(s[i]) * mul;
      return;
    }
    default:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(load_as_f64(src, t, size_t(off + i))) * mul;
  }
}

// dst[off .. off+n) = src[0..n) rounded to dtype t (nearest even, as the library converts).
inline void store_row(const float* src, int64_t n, void* dst, DType t, int64_t off) {
  switch (t) {
    case DType::f32: std::memcpy(static_cast<float*>(dst) + off, src, size_t(n) * 4); return;
    case DType::bf16: convert(src, DType::f32, static_cast<bf16*>(dst) + off, DType::bf16, size_t(n)); return;
    case DType::f16: convert(src, DType::f32, static_cast<f16*>(dst) + off, DType::f16, size_t(n)); return;
    default:
      for (int64_t i = 0; i < n; ++i) store_from_f64(dst, t, size_t(off + i), src[i]);
  }
}

// ---- exp ---------------------------------------------------------------------------------
// exp(x) for the softmax, vectorizable (libm's expf is not, without -ffast-math):
// x = k ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial (truncation
// < 1e-8 relative), 2^k built in the exponent bits. k is rounded by adding 1.5 * 2^23 (the sum's
// ulp is 1, so the addition itself rounds to nearest and the low mantissa bits hold k): floor()
// and float -> int conversions keep gcc from vectorizing the loop. exp(-inf) and anything below
// the f32 normal range is exactly 0, so masked logits contribute nothing.
inline float exp_f32(float x) {
  const bool under = x < -87.0f;
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  const float kf = x * 1.44269504088896341f + kShift;
  const float k = kf - kShift;
  // ln2 split in two so that k * hi is exact for |k| < 2^9 (Cody-Waite).
  const float r = (x - k * 0.693145751953125f) - k * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const uint32_t ki = std::bit_cast<uint32_t>(kf) - std::bit_cast<uint32_t>(kShift);  // k, two's complement
  const float two_k = std::bit_cast<float>((ki + 127u) << 23);
  return under ? 0.0f : p * two_k;
}

// Row reductions with kLanes independent partial results, so that the loops vectorize without
// -ffast-math (an in-order float sum or max is a dependency chain gcc must keep scalar). The
// partials are combined in a fixed order: results are deterministic for a given n.
// `Tail` = false: n is a multiple of kLanes (the flash tiles), no scalar tail loop.
template <bool Tail = true>
inline float row_max(const float* x, int64_t n) {
  float part[kLanes];
  for (int l = 0; l < kLanes; ++l) part[l] = kNegInf;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] = x[i + l] > part[l] ? x[i + l] : part[l];
  if constexpr (Tail)
    for (; i < n; ++i) part[0] = x[i] > part[0] ? x[i] : part[0];
  float m = kNegInf;
  for (int l = 0; l < kLanes; ++l) m = part[l] > m ? part[l] : m;
  return m;
}

// x[i] = exp(x[i] - m) for i < n; returns the sum of the new x.
template <bool Tail = true>
inline float exp_shift_sum(float* x, int64_t n, float m) {
  float part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      x[i + l] = exp_f32(x[i + l] - m);
      part[l] += x[i + l];
    }
  if constexpr (Tail)
    for (; i < n; ++i) {
      x[i] = exp_f32(x[i] - m);
      part[0] += x[i];
    }
  float sum = 0.f;
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

// ---- micro-GEMM --------------------------------------------------------------------------
// C[M, N] (+)= A[M, K] · B[K, N], all f32 row-major with leading dimensions; N a multiple of
// kLanes. Blocks of R rows x W columns stay in registers across the K loop (R*W/16 zmm
// accumulators): every B vector loaded is used R times, every A element W/16 times.
// Written with gcc's generic vector type (not intrinsics: it lowers to whatever the target has)
// because plain loops left gcc free to spill the accumulators to the stack, which it did in
// context and ran 5x slower than the same loops in isolation.
// Vectors never cross a function boundary (loads and stores are memcpy in place): passing them by
// value would tie the code to an ABI that differs with and without AVX-512.
using vf = float __attribute__((vector_size(kLanes * sizeof(float))));

template <int R, int W>
inline void gemm_block(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                       int64_t K, bool accumulate) {
  constexpr int V = W / kLanes;
  vf acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      acc[r][v] = vf{};
      if (accumulate) std::memcpy(&acc[r][v], c + r * ldc + v * kLanes, sizeof(vf));
    }
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    vf av[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) av[r] = vf{} + a[r * lda + k];  // broadcast
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      vf bv;
      std::memcpy(&bv, bk + v * kLanes, sizeof(vf));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][v] += av[r] * bv;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) std::memcpy(c + r * ldc + v * kLanes, &acc[r][v], sizeof(vf));
}

// Blocks of 8 rows x 32 columns (16 accumulators, 8 broadcast A values, 2 B vectors: 26 of the
// 32 zmm registers). Measured on 64 x 64 tiles against 4 x 64 blocks: 105 vs 95 GFLOP/s at
// K = 64 and 105 vs 63 at K = 128 (a 4 x 64 block streams all of B for every 4 rows), on par
// with OpenBLAS's packed sgemm on the same tiles (113) without its call and threading costs.
template <int R>
inline void gemm_rows(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                      int64_t N, int64_t K, bool accumulate) {
  int64_t n = 0;
  for (; n + 32 <= N; n += 32) gemm_block<R, 32>(a, lda, b + n, ldb, c + n, ldc, K, accumulate);
  for (; n < N; n += 16) gemm_block<R, 16>(a, lda, b + n, ldb, c + n, ldc, K, accumulate);
}

inline void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* c, int64_t ldc, bool accumulate) {
  int64_t m = 0;
  for (; m + 8 <= M; m += 8) gemm_rows<8>(a + m * lda, lda, b, ldb, c + m * ldc, ldc, N, K, accumulate);
  for (; m + 4 <= M; m += 4) gemm_rows<4>(a + m * lda, lda, b, ldb, c + m * ldc, ldc, N, K, accumulate);
  for (; m < M; ++m) gemm_rows<1>(a + m * lda, lda, b, ldb, c + m * ldc, ldc, N, K, accumulate);
}

// ---- masks -------------------------------------------------------------------------------
// Masks whose every allowed pair has j <= i: tiles wholly above the diagonal can be skipped
// without asking the mask anything (what FA2 does for causal attention).
inline bool mask_is_causal_like(const Mask& m) {
  return m.type == MaskType::causal || (m.type == MaskType::window && m.right == 0) || m.causal;
}

// Interval masks (eft::interval_mask: none, causal, window) allow one key range per query: their
// partial tiles can be cut to the columns each block of rows can see.
// The interval of keys query position i may see under an interval mask (unbounded ends clamp to
// the int64 range, callers clamp to the tile).
inline void mask_interval(const Mask& m, int64_t i, int64_t& lo, int64_t& hi) {
  lo = std::numeric_limits<int64_t>::min() / 4;
  hi = std::numeric_limits<int64_t>::max() / 4;
  if (m.type == MaskType::causal) hi = i;
  if (m.type == MaskType::window) {
    if (m.left >= 0) lo = i - m.left;
    if (m.right >= 0) hi = i + m.right;
  }
}

// allowed[c] for keys k0 .. k0+n-1 seen from query position i. Causal and window masks are
// intervals and take a branch-free path; the others ask the shared predicate per key.
inline void mask_row(const Mask& m, int64_t i, int64_t k0, int64_t n, uint8_t* allowed) {
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  switch (m.type) {
    case MaskType::none: break;
    case MaskType::causal: hi = i; break;
    case MaskType::window:
      if (m.left >= 0) lo = i - m.left;
      if (m.right >= 0) hi = i + m.right;
      break;
    default:
      for (int64_t c = 0; c < n; ++c) allowed[c] = mask_allows(m, i, k0 + c) ? 1 : 0;
      return;
  }
  for (int64_t c = 0; c < n; ++c) allowed[c] = (k0 + c >= lo && k0 + c <= hi) ? 1 : 0;
}

}  // namespace eft::cpu::tile
