#include "attention/cuda/tma_map.h"

#include <cuda_runtime.h>

namespace eft::cuda::detail {
namespace {

using EncodeTiled = decltype(&cuTensorMapEncodeTiled);

// The driver's encoder, looked up once through the runtime (no link-time dependency on libcuda).
EncodeTiled encoder() {
  static const EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return EncodeTiled{nullptr};
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

}  // namespace

bool encode_o_rows_map(CUtensorMap* map, void* o, DType dtype, int64_t tokens, int32_t heads, int32_t d,
                       int64_t row_stride) {
  const EncodeTiled encode = encoder();
  if (!encode || (dtype != DType::bf16 && dtype != DType::f16) || d % 64 != 0 || tokens <= 0) return false;
  const cuuint64_t dims[3] = {cuuint64_t(d), cuuint64_t(heads), cuuint64_t(tokens)};
  const cuuint64_t strides[2] = {cuuint64_t(d) * 2, cuuint64_t(row_stride) * 2};  // bytes, dims 1 and 2
  const cuuint32_t box[3] = {64, 1, 64};
  const cuuint32_t step[3] = {1, 1, 1};
  const CUresult r = encode(map, dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                            3, o, dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS;
}

}  // namespace eft::cuda::detail
