#pragma once
// What every CUDA attention kernel reads and writes, as the call passed it: the base of the
// kernels' parameter structs (FwdParams, LinearFwdParams), filled once on the host by check_io()
// (launch_checks.h) after it has validated the pointers and strides. Plain data, so it crosses to
// the kernels as part of a __grid_constant__ parameter; no fmt here (the .cu files include it).
#include <cstdint>

#include "eft/attention.h"

namespace eft::cuda::detail {

struct AttnIoParams {
  const void* q = nullptr;  // [q_tokens, q_heads, D] with row stride q_stride (elements)
  const void* k = nullptr;  // KvView rows, kv_stride elements apart
  const void* v = nullptr;
  void* o = nullptr;        // [q_tokens, q_heads, D] with row stride o_stride, dtype o_dtype
  float* lse = nullptr;     // optional [q_tokens, q_heads]
  int64_t q_stride = 0, kv_stride = 0, o_stride = 0;
  int32_t q_heads = 0, kv_heads = 0, group = 1;  // group = q_heads / kv_heads
  DType o_dtype = DType::f32;
  KvView kv;                 // device pointers (kv_start or block_table)
  int32_t block_shift = -1;  // paged with a power-of-two block size: log2(block_size), else -1
  SeqBatch batch;            // device pointers
};

}  // namespace eft::cuda::detail
