#pragma once
// Check of the wgmma building blocks of fwd_sm90.cu (tile layout, descriptors, register
// fragments) on one small product, for tests/gpu/test_attention_sm90.cpp: a failure there points
// at the layout rather than at the attention logic around it.
#include <cstdint>

#include <cuda_runtime.h>

namespace eft::cuda::detail {

// One warpgroup computes C[64 x n] (f32, row-major, device) over K = 64, inputs 16-bit (bf16, or
// f16 when `f16`), row-major on the device:
//   rs = false: A [64][64], B [n][64], C = A B^T (both operands from shared memory, K-major)
//   rs = true : A [64][64] (from registers), B [64][n], C = A B (B from shared memory, MN-major)
// lbo / sbo: the descriptors' leading / stride byte offsets to try. Returns the launch status
// (cudaErrorInvalidValue for n other than 64 or 128); not built for sm_90a: C stays untouched.
cudaError_t wgmma_selftest(bool f16, int n, bool rs, const void* a, const void* b, float* c, uint32_t lbo,
                           uint32_t sbo);

}  // namespace eft::cuda::detail
