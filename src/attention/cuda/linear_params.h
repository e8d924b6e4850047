#pragma once
// Private interface between the linear-attention host code (linear_plan.cpp, which validates and
// may throw) and its kernels (linear_*.cu, which must not include fmt): plain structs and C-style
// launchers returning cudaError_t.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "attention/cuda/io_params.h"
#include "eft/attention.h"

namespace eft::cuda::detail {

constexpr int kLinChunk = 32;     // keys per chunk of the causal scan (and queries per readout tile)
constexpr int kLinDTile = 64;     // columns of d per prefill CTA
constexpr int kLinMaxFeatures = 256;
constexpr int kLinDecodeSlice = 32;  // columns of d per decode CTA

// The io part (pointers, strides, heads, KV view, batch; d = head_dim) is AttnIoParams.
struct LinearFwdParams : AttnIoParams {
  DType dtype = DType::bf16;  // Q, K, V
  int32_t d = 0, m = 0;       // head_dim, features
  bool causal = false;
  float x_scale = 1.f;      // sqrt(effective_scale)
  const float* w = nullptr; // [m, d] projection
  int64_t q_tokens = 0;
  int32_t segments = 1, d_tiles = 1;
  // Workspace pieces.
  float* uq = nullptr;      // [q_tokens * q_heads, m] query feature exponents
  float* qmax = nullptr;    // [q_tokens * q_heads]    their row max (the query's offset)
  float* uk = nullptr;      // [kv_rows * kv_heads, m] key feature exponents, by K row index
  float* kmax = nullptr;    // [kv_rows * kv_heads]
  float* seg_s = nullptr;   // [n_seqs, kv_heads, segments, m, d] run states (offset seg_off)
  float* seg_z = nullptr;   // [n_seqs, kv_heads, segments, m]
  float* seg_off = nullptr; // [n_seqs, kv_heads, segments] max key exponent of the run (-inf: empty)
  // Optional decode-state output (layout of LinearDecodeState).
  float* st_s = nullptr;    // [n_seqs, kv_heads, m, d]
  float* st_z = nullptr;    // [n_seqs, kv_heads, d/32, m]
  float* st_off = nullptr;  // [n_seqs, kv_heads, d/32]
};

// Feature exponents of every query row and every key row of the batch.
cudaError_t launch_linear_features(const LinearFwdParams& p, int32_t n_seqs, int32_t max_kv_len, cudaStream_t st);
// Run states (pass 1) then outputs (pass 2).
cudaError_t launch_linear_scan(const LinearFwdParams& p, int32_t n_seqs, cudaStream_t st);
size_t linear_scan_smem_bytes(int m);

struct LinearDecodeParams {
  const void* q = nullptr;  // [n_seqs, q_heads, d]
  const void* k = nullptr;  // [n_seqs, kv_heads, d]
  const void* v = nullptr;
  void* o = nullptr;        // [n_seqs, q_heads, d]
  float* lse = nullptr;     // optional [n_seqs, q_heads]
  DType dtype = DType::bf16, o_dtype = DType::f32;
  int32_t q_heads = 0, kv_heads = 0, group = 1, d = 0, m = 0, n_seqs = 0;
  float x_scale = 1.f;
  const float* w = nullptr;
  float* s = nullptr;       // [n_seqs, kv_heads, m, d]
  float* z = nullptr;       // [n_seqs, kv_heads, d/32, m]
  float* off = nullptr;     // [n_seqs, kv_heads, d/32]
};
cudaError_t launch_linear_decode(const LinearDecodeParams& p, cudaStream_t st);
// S = z = 0, offsets = -inf.
cudaError_t launch_linear_state_reset(float* s, size_t s_elems, float* z, size_t z_elems, float* off,
                                      size_t off_elems, cudaStream_t st);

}  // namespace eft::cuda::detail
