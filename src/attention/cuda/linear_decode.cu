// FAVOR+ decode step on the GPU: one token per sequence is absorbed into the f32 state and its
// query heads read the state out. One CTA (8 warps) per (32-column slice of d, KV head, sequence):
//   u_k = feature exponents of k (warp per feature, lanes split d), off' = max(off, max u_k),
//   S = S exp(off - off') + phi(k) v^T,  z = z exp(off - off') + phi(k)         (this slice)
//   for each query head of the group: o = phi(q) S / phi(q).z
// Cost O(heads m d) per step, independent of the tokens already absorbed. Each slice keeps its own
// copy of z and the offset (identical values), so slices never wait on each other.
#include <algorithm>
#include <cmath>

#include "attention/cuda/linear_mma.h"
#include "attention/cuda/linear_params.h"

namespace eft::cuda::detail {
namespace {

using namespace lin;

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int SL = kLinDecodeSlice;
constexpr int kMaxRowsPerWarp = kLinMaxFeatures / kWarps;  // S rows a thread keeps in registers

__device__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// u[r] = xs (w_r . x) - xs^2 |x|^2 / 2 - ln(m)/2 for r < m (x in shared memory, f32); returns max u.
// A warp computes kRowsAtOnce features at a time (lanes split d), so that many rows' loads of W are
// in flight together instead of one latency per feature.
constexpr int kRowsAtOnce = 8;
__device__ float exponents(const LinearDecodeParams& p, const float* x, float* u, float* red) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float sq = 0.f;
  for (int c = lane; c < p.d; c += 32) sq += x[c] * x[c];
  sq = warp_sum(sq);  // every warp computes |x|^2 itself: no extra barrier
  const float bias = -0.5f * sq * p.x_scale * p.x_scale - 0.5f * logf(float(p.m));
  float mx = -INFINITY;
  for (int r0 = warp * kRowsAtOnce; r0 < p.m; r0 += kWarps * kRowsAtOnce) {
    float dot[kRowsAtOnce];
#pragma unroll
    for (int i = 0; i < kRowsAtOnce; ++i) dot[i] = 0.f;
    for (int c = lane; c < p.d; c += 32) {
      const float xc = x[c];
#pragma unroll
      for (int i = 0; i < kRowsAtOnce; ++i)  // m is a multiple of 16: no row past the end
        dot[i] += __ldg(p.w + int64_t(r0 + i) * p.d + c) * xc;
    }
#pragma unroll
    for (int i = 0; i < kRowsAtOnce; ++i) {
      const float ur = warp_sum(dot[i]) * p.x_scale + bias;
      if (lane == 0) u[r0 + i] = ur;
      mx = fmaxf(mx, ur);
    }
  }
  __syncthreads();  // red is free, u complete
  if (lane == 0) red[warp] = mx;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < kWarps; ++w) r = fmaxf(r, red[w]);
  return r;
}

__global__ void __launch_bounds__(kThreads, 1) decode_kernel(LinearDecodeParams p) {
  __shared__ float x_sh[256];                 // k, then each q, as f32 [d]
  __shared__ float v_sh[SL];                  // this slice of v
  __shared__ float u_sh[kLinMaxFeatures];     // exponents, then phi
  __shared__ float z_sh[kLinMaxFeatures];     // updated z
  __shared__ float part[kWarps][SL + 1];      // per-warp partial numerators
  __shared__ float red[kWarps];
  const int slice = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int slices = p.d / SL, m = p.m;
  const int64_t sg = int64_t(s) * p.kv_heads + g;
  float* S = p.s + sg * m * p.d + slice * SL;  // row r at S[r * d]
  float* z = p.z + (sg * slices + slice) * m;
  float* off = p.off + sg * slices + slice;

  for (int c = threadIdx.x; c < p.d; c += kThreads) x_sh[c] = to_f32(p.k, p.dtype, sg * p.d + c);
  if (threadIdx.x < SL) v_sh[threadIdx.x] = to_f32(p.v, p.dtype, sg * p.d + slice * SL + threadIdx.x);
  __syncthreads();
  const float kmax = exponents(p, x_sh, u_sh, red);
  const float old = *off;
  const float now = fmaxf(old, kmax);
  const float shrink = old == -INFINITY ? 0.f : __expf(old - now);  // S, z are zero before any key
  // Thread (warp, lane) owns S rows warp, warp + 8, ... at column lane of the slice.
  float sreg[kMaxRowsPerWarp];
#pragma unroll
  for (int i = 0; i < kMaxRowsPerWarp; ++i) {  // every load before the first store (see exponents)
    const int r = warp + i * kWarps;
    sreg[i] = r < m ? S[int64_t(r) * p.d + lane] : 0.f;
  }
#pragma unroll
  for (int i = 0; i < kMaxRowsPerWarp; ++i) {
    const int r = warp + i * kWarps;
    if (r < m) {
      sreg[i] = sreg[i] * shrink + __expf(u_sh[r] - now) * v_sh[lane];
      S[int64_t(r) * p.d + lane] = sreg[i];
    }
  }
  for (int r = threadIdx.x; r < m; r += kThreads) {
    z_sh[r] = z[r] * shrink + __expf(u_sh[r] - now);
    z[r] = z_sh[r];
  }
  if (threadIdx.x == 0) *off = now;
  __syncthreads();  // u_sh, x_sh are reused below; z_sh complete

  for (int h = g * p.group; h < (g + 1) * p.group; ++h) {
    const int64_t qi = int64_t(s) * p.q_heads + h;
    for (int c = threadIdx.x; c < p.d; c += kThreads) x_sh[c] = to_f32(p.q, p.dtype, qi * p.d + c);
    __syncthreads();
    const float qmax = exponents(p, x_sh, u_sh, red);
    for (int r = threadIdx.x; r < m; r += kThreads) u_sh[r] = __expf(u_sh[r] - qmax);  // phi(q)
    __syncthreads();
    float num = 0.f;
#pragma unroll
    for (int i = 0; i < kMaxRowsPerWarp; ++i) {
      const int r = warp + i * kWarps;
      if (r < m) num += u_sh[r] * sreg[i];
    }
    part[warp][lane] = num;
    float den = 0.f;
    for (int r = lane; r < m; r += 32) den += u_sh[r] * z_sh[r];
    den = warp_sum(den);  // every warp gets the same value
    __syncthreads();
    if (warp == 0) {
      float acc = 0.f;
      for (int w = 0; w < kWarps; ++w) acc += part[w][lane];
      const float inv = den > 0.f ? 1.f / den : 0.f;  // every product underflowed: O = 0
      store_out(p.o, p.o_dtype, qi * p.d + slice * SL + lane, acc * inv);
      if (p.lse && slice == 0 && lane == 0) p.lse[qi] = den > 0.f ? logf(den) + qmax + now : -INFINITY;
    }
    __syncthreads();  // x_sh, u_sh, part are rewritten for the next head
  }
}

__global__ void fill_kernel(float* a, size_t n, float x) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) a[i] = x;
}

}  // namespace

cudaError_t launch_linear_decode(const LinearDecodeParams& p, cudaStream_t st) {
  if (p.n_seqs == 0) return cudaSuccess;
  decode_kernel<<<dim3(unsigned(p.d / SL), unsigned(p.kv_heads), unsigned(p.n_seqs)), kThreads, 0, st>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_linear_state_reset(float* s, size_t s_elems, float* z, size_t z_elems, float* off,
                                      size_t off_elems, cudaStream_t st) {
  const float vals[3] = {0.f, 0.f, -INFINITY};
  float* ptrs[3] = {s, z, off};
  const size_t n[3] = {s_elems, z_elems, off_elems};
  for (int i = 0; i < 3; ++i) {
    if (n[i] == 0) continue;
    const unsigned blocks = unsigned(std::min<size_t>((n[i] + 255) / 256, 4096));
    fill_kernel<<<blocks, 256, 0, st>>>(ptrs[i], n[i], vals[i]);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace eft::cuda::detail
