#pragma once
// Device helpers of the linear-attention kernels (include from .cu files only): the tf32 tensor
// core product and element conversions.
//
// mma.sync.m16n8k8 tf32 (f32 accumulate), per warp, lane = 4 * g + t (g = lane / 4, t = lane % 4):
//   A 16x8 (row-major): a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
//   B 8x8  (k x n)    : b0 (t, g)  b1 (t+4, g)
//   C 16x8            : c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1)
// The fragments are read straight from f32 shared memory; row strides of 4 mod 32 words make the
// A reads (4g + t) conflict-free, strides of 8 mod 32 do the same for B reads (8t + g).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "eft/attention.h"
#include "eft/dtype.h"

namespace eft::cuda::detail::lin {

// Round to tf32 (10 explicit mantissa bits, nearest, ties away): the operand format of the mma.
__device__ __forceinline__ uint32_t tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ void mma_tf32(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// A fragment of a row-major [rows, lda] f32 matrix at (r0, k0).
__device__ __forceinline__ void load_a(uint32_t a[4], const float* s, int lda, int r0, int k0, int g, int t) {
  a[0] = tf32(s[(r0 + g) * lda + k0 + t]);
  a[1] = tf32(s[(r0 + g + 8) * lda + k0 + t]);
  a[2] = tf32(s[(r0 + g) * lda + k0 + t + 4]);
  a[3] = tf32(s[(r0 + g + 8) * lda + k0 + t + 4]);
}
// A fragment of the transpose of a row-major [k, lda] matrix: A(i, k) = s[k][i].
__device__ __forceinline__ void load_at(uint32_t a[4], const float* s, int lda, int r0, int k0, int g, int t) {
  a[0] = tf32(s[(k0 + t) * lda + r0 + g]);
  a[1] = tf32(s[(k0 + t) * lda + r0 + g + 8]);
  a[2] = tf32(s[(k0 + t + 4) * lda + r0 + g]);
  a[3] = tf32(s[(k0 + t + 4) * lda + r0 + g + 8]);
}
// B fragment of a row-major [k, ldb] matrix (B(k, n) = s[k][n]).
__device__ __forceinline__ void load_b(uint32_t b[2], const float* s, int ldb, int k0, int n0, int g, int t) {
  b[0] = tf32(s[(k0 + t) * ldb + n0 + g]);
  b[1] = tf32(s[(k0 + t + 4) * ldb + n0 + g]);
}
// B fragment of the transpose of a row-major [n, ldb] matrix (B(k, n) = s[n][k]).
__device__ __forceinline__ void load_bt(uint32_t b[2], const float* s, int ldb, int k0, int n0, int g, int t) {
  b[0] = tf32(s[(n0 + g) * ldb + k0 + t]);
  b[1] = tf32(s[(n0 + g) * ldb + k0 + t + 4]);
}

__device__ __forceinline__ float to_f32(const void* base, DType t, int64_t i) {
  const uint16_t* h = static_cast<const uint16_t*>(base);
  if (t == DType::bf16) return __bfloat162float(__ushort_as_bfloat16(h[i]));
  return __half2float(__ushort_as_half(h[i]));
}

// Eight consecutive 16-bit elements (16 bytes, aligned): the raw load, then the conversion, so a
// caller can issue several loads before the first use.
__device__ __forceinline__ uint4 load16(const void* base, int64_t i) {
  return __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(base) + i));
}
__device__ __forceinline__ void convert8(uint4 raw, DType t, float out[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const unsigned short lo = static_cast<unsigned short>(w[j] & 0xffffu), hi = static_cast<unsigned short>(w[j] >> 16);
    if (t == DType::bf16) {
      out[2 * j] = __bfloat162float(__ushort_as_bfloat16(lo));
      out[2 * j + 1] = __bfloat162float(__ushort_as_bfloat16(hi));
    } else {
      out[2 * j] = __half2float(__ushort_as_half(lo));
      out[2 * j + 1] = __half2float(__ushort_as_half(hi));
    }
  }
}

__device__ __forceinline__ void store_out(void* base, DType t, int64_t i, float x) {
  if (t == DType::f32) static_cast<float*>(base)[i] = x;
  else if (t == DType::bf16) static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(x);
  else static_cast<__half*>(base)[i] = __float2half_rn(x);
}

__device__ __forceinline__ int64_t kv_row(const KvView& kv, int32_t shift, int32_t s, int64_t t) {
  if (kv.layout == KvLayout::contiguous) return int64_t(kv.kv_start[s]) + t;
  if (shift >= 0) {
    const int32_t b = kv.block_table[int64_t(s) * kv.max_blocks + (t >> shift)];
    return (int64_t(b) << shift) + (t & ((int64_t(1) << shift) - 1));
  }
  return kv_row_index(kv, s, t);
}

}  // namespace eft::cuda::detail::lin
