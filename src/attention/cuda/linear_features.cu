// FAVOR+ feature exponents on the GPU: for every query row (token, query head) and key row
// (K row, KV head) of a call
//     u[r] = x_scale * (w_r . x) - x_scale^2 |x|^2 / 2 - ln(m) / 2        r < m
// and the row's max (the query's offset; the keys' chunk offsets are maxima of these).
// One CTA = 64 rows x all m features (W staged 32 rows at a time); 4 warps of 16 rows each.
// x (bf16 / f16) is exact in tf32,
// W is split into tf32 hi + lo halves (3xTF32 without the lo*lo term), so u has f32 accuracy: the
// exponent error is what phi's relative error would be, and it is spent nowhere else.
#include <cmath>

#include "attention/cuda/linear_mma.h"
#include "attention/cuda/linear_params.h"

namespace eft::cuda::detail {
namespace {

using namespace lin;

constexpr int kRows = 64;
constexpr int kThreads = 128;
constexpr int kSlab = 32;  // rows of W (features) staged at a time

template <int D, bool kKeys>
__global__ void __launch_bounds__(kThreads) features_kernel(LinearFwdParams p) {
  extern __shared__ float xs_dyn[];
  // [kRows][D + 4] rows of x as f32, then [kSlab][D + 4] the current 32 rows of W (stride 4 mod 32:
  // conflict-free A and B fragment reads). W goes through shared memory once per CTA instead of
  // once per warp through L1/L2.
  float (*xs_sh)[D + 4] = reinterpret_cast<float (*)[D + 4]>(xs_dyn);
  float (*ws_sh)[D + 4] = reinterpret_cast<float (*)[D + 4]>(xs_dyn + kRows * (D + 4));
  __shared__ float sq_sh[kRows];         // |x|^2 per row
  __shared__ int64_t src_sh[kRows];      // element offset of the row in Q or K (-1: no row)
  __shared__ int64_t dst_sh[kRows];      // row index into uq / uk
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;

  if (tid < kRows) {
    int64_t src = -1, dst = 0;
    if constexpr (kKeys) {
      const int32_t s = blockIdx.z, kvh = blockIdx.y;
      const int64_t tok = int64_t(blockIdx.x) * kRows + tid;
      if (tok < p.batch.kv_len[s]) {
        const int64_t row = kv_row(p.kv, p.block_shift, s, tok);
        src = row * p.kv_stride + int64_t(kvh) * D;
        dst = row * p.kv_heads + kvh;
      }
    } else {
      const int64_t i = int64_t(blockIdx.x) * kRows + tid;  // (token, head) pair
      if (i < p.q_tokens * p.q_heads) {
        src = (i / p.q_heads) * p.q_stride + (i % p.q_heads) * D;
        dst = i;
      }
    }
    src_sh[tid] = src;
    dst_sh[tid] = dst;
  }
  __syncthreads();
  const void* base = kKeys ? p.k : p.q;
  {
    constexpr int kPer = kRows * D / 8 / kThreads;  // 16-byte loads per thread, all issued first
    uint4 raw[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = tid + i * kThreads, r = e / (D / 8), c = (e % (D / 8)) * 8;
      raw[i] = src_sh[r] >= 0 ? load16(base, src_sh[r] + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = tid + i * kThreads, r = e / (D / 8), c = (e % (D / 8)) * 8;
      float x[8];
      convert8(raw[i], p.dtype, x);
#pragma unroll
      for (int j = 0; j < 8; ++j) xs_sh[r][c + j] = x[j];
    }
  }
  __syncthreads();
  // Two threads per row sum |x|^2 (half a row each), combined through a shuffle.
  {
    const int r = tid / 2, h = tid % 2;
    float sq = 0.f;
    for (int c = h * (D / 2); c < (h + 1) * (D / 2); ++c) sq += xs_sh[r][c] * xs_sh[r][c];
    sq += __shfl_xor_sync(0xffffffffu, sq, 1);
    if (h == 0) sq_sh[r] = sq;
  }
  __syncthreads();

  const int r0 = warp * 16;
  const float xsc = p.x_scale;
  const float half_log_m = 0.5f * logf(float(p.m));
  const float bias_a = -0.5f * sq_sh[r0 + g] * xsc * xsc - half_log_m;
  const float bias_b = -0.5f * sq_sh[r0 + g + 8] * xsc * xsc - half_log_m;
  const bool ok_a = src_sh[r0 + g] >= 0, ok_b = src_sh[r0 + g + 8] >= 0;
  float* ua = (kKeys ? p.uk : p.uq) + dst_sh[r0 + g] * p.m;
  float* ub = (kKeys ? p.uk : p.uq) + dst_sh[r0 + g + 8] * p.m;
  float max_a = -INFINITY, max_b = -INFINITY;
  for (int n0 = 0; n0 < p.m; n0 += kSlab) {  // 32 features (4 n-tiles) at a time
    {
      constexpr int kPer = kSlab * D / 4 / kThreads;  // float4 of the slab per thread
      float4 w4[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int e = tid + i * kThreads, r = e / (D / 4);
        w4[i] = n0 + r < p.m ? __ldg(reinterpret_cast<const float4*>(p.w + int64_t(n0) * D) + e)
                             : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      __syncthreads();  // the previous slab is no longer read
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int e = tid + i * kThreads, r = e / (D / 4), c = (e % (D / 4)) * 4;
        ws_sh[r][c] = w4[i].x;
        ws_sh[r][c + 1] = w4[i].y;
        ws_sh[r][c + 2] = w4[i].z;
        ws_sh[r][c + 3] = w4[i].w;
      }
      __syncthreads();
    }
    float acc[4][4] = {};
    const int nt_count = min(4, (p.m - n0) / 8);  // m is a multiple of 16
#pragma unroll 4
    for (int k0 = 0; k0 < D; k0 += 8) {
      uint32_t a[4];
      load_a(a, &xs_sh[0][0], D + 4, r0, k0, g, t);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        if (nt >= nt_count) break;
        const float w0 = ws_sh[nt * 8 + g][k0 + t], w1 = ws_sh[nt * 8 + g][k0 + t + 4];
        uint32_t hi[2] = {tf32(w0), tf32(w1)};
        uint32_t lo[2] = {tf32(w0 - __uint_as_float(hi[0])), tf32(w1 - __uint_as_float(hi[1]))};
        mma_tf32(acc[nt], a, lo);
        mma_tf32(acc[nt], a, hi);
      }
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      if (nt >= nt_count) break;
      const int col = n0 + nt * 8 + 2 * t;
      const float2 va = make_float2(acc[nt][0] * xsc + bias_a, acc[nt][1] * xsc + bias_a);
      const float2 vb = make_float2(acc[nt][2] * xsc + bias_b, acc[nt][3] * xsc + bias_b);
      if (ok_a) *reinterpret_cast<float2*>(ua + col) = va;
      if (ok_b) *reinterpret_cast<float2*>(ub + col) = vb;
      max_a = fmaxf(max_a, fmaxf(va.x, va.y));
      max_b = fmaxf(max_b, fmaxf(vb.x, vb.y));
    }
  }
  // The four lanes of a row group (t = 0..3) hold different columns of the same rows.
#pragma unroll
  for (int o = 1; o < 4; o <<= 1) {
    max_a = fmaxf(max_a, __shfl_xor_sync(0xffffffffu, max_a, o));
    max_b = fmaxf(max_b, __shfl_xor_sync(0xffffffffu, max_b, o));
  }
  float* mx = kKeys ? p.kmax : p.qmax;
  if (t == 0 && ok_a) mx[dst_sh[r0 + g]] = max_a;
  if (t == 0 && ok_b) mx[dst_sh[r0 + g + 8]] = max_b;
}

template <int D>
cudaError_t launch_d(const LinearFwdParams& p, int32_t n_seqs, int32_t max_kv_len, cudaStream_t st) {
  const int64_t q_rows = p.q_tokens * p.q_heads;
  const size_t smem = size_t(kRows + kSlab) * (D + 4) * sizeof(float);  // 100 KB at D = 256: above the 48 KB default
  static const cudaError_t attr = [smem] {  // once per D
    for (auto* k : {features_kernel<D, false>, features_kernel<D, true>})
      if (cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
          e != cudaSuccess)
        return e;
    return cudaSuccess;
  }();
  if (attr != cudaSuccess) return attr;
  if (q_rows > 0) {
    features_kernel<D, false><<<dim3(unsigned((q_rows + kRows - 1) / kRows)), kThreads, smem, st>>>(p);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  if (max_kv_len > 0) {
    const dim3 grid(unsigned((max_kv_len + kRows - 1) / kRows), unsigned(p.kv_heads), unsigned(n_seqs));
    features_kernel<D, true><<<grid, kThreads, smem, st>>>(p);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t launch_linear_features(const LinearFwdParams& p, int32_t n_seqs, int32_t max_kv_len, cudaStream_t st) {
  switch (p.d) {
    case 64: return launch_d<64>(p, n_seqs, max_kv_len, st);
    case 128: return launch_d<128>(p, n_seqs, max_kv_len, st);
    case 256: return launch_d<256>(p, n_seqs, max_kv_len, st);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace eft::cuda::detail
