#pragma once
// TMA tensor maps (host side): the descriptor a kernel's cp.async.bulk.tensor instructions address
// global memory through, encoded once per call on the host (no device memory is touched, so a
// launch that encodes one stays graph-capturable) and passed in the kernel's __grid_constant__
// parameters.
#include <cuda.h>

#include <cstdint>

#include "eft/attention.h"

namespace eft::cuda::detail {

// O of an attention call, [tokens, heads, d] in `dtype` (bf16 or f16) with row stride `row_stride`
// elements, as a 3-D tensor (d, heads, tokens) whose boxes are 64 columns x 1 head x 64 tokens in
// 128-byte-swizzled shared memory: the rows one consumer warpgroup of the warp-specialized prefill
// finishes. d a multiple of 64, o 16-byte aligned, row_stride a multiple of 8 (check_io). False when
// the driver cannot encode it (the kernel then stores O from registers).
bool encode_o_rows_map(CUtensorMap* map, void* o, DType dtype, int64_t tokens, int32_t heads, int32_t d,
                       int64_t row_stride);

}  // namespace eft::cuda::detail
