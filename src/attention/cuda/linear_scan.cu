// FAVOR+ prefill from the feature exponents (linear_features.cu): run states, then outputs.
//
// A sequence's keys are cut into chunks of C = 32 and the chunks into `segments` runs. Both passes
// use one CTA (8 warps) per (run, 64-column slice of d, KV head, sequence):
//   pass 1 (run_states): S_run = sum phi(K) V^T over the run's keys with the run's own offset
//          (the max key exponent of the run), z_run = sum phi(K). Needed by the later runs.
//   pass 2 (outputs): causal - start from the earlier runs' states rescaled to their common max,
//          then walk the run's chunks: raise the running offset to the chunk's max (rescaling S,
//          z), read out the queries whose positions fall in the chunk (state of the earlier keys
//          + the masked quadratic term of the chunk), absorb the chunk. The last run also serves
//          queries past the last key and writes the final state for decode. Mask none - every
//          run holds the full state and reads out its share of the queries.
// All products run on tensor cores (tf32 mma.sync, f32 accumulation); S and z stay f32 in shared
// memory for a CTA's whole walk, so rounding to tf32 touches only the operands of each product.
#include <cmath>

#include "attention/cuda/linear_mma.h"
#include "attention/cuda/linear_params.h"

namespace eft::cuda::detail {
namespace {

using namespace lin;

constexpr int C = kLinChunk;
constexpr int DT = kLinDTile;
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int SS = DT + 8;  // row stride of S and V (8 mod 32: conflict-free B reads)
constexpr int PS = C + 4;   // row stride of the score tile (4 mod 32: conflict-free A reads)
constexpr int kMaxPer4 = C * kLinMaxFeatures / 4 / kThreads;  // float4 of a [C, m] tile per thread
constexpr int kMaxRuns = 64;  // plan_linear_attention never plans more runs
static_assert(C * DT / 8 == kThreads, "one 8-element V load per thread");

// Shared memory of one CTA, carved from the dynamic buffer (m = features, MS = m + 4).
struct Smem {
  float* s;      // [m][SS]  state S (columns dt*64 .. +64 of d), relative to the running offset
  float* z;      // [m]      state z
  float* phik;   // [C][MS]  phi of the chunk's keys (rows >= nk zero)
  float* phiq;   // [C][MS]  phi of up to C queries of one head (rows past the tile zero)
  float* v;      // [C][SS]  the chunk's values, this CTA's 64 columns
  float* p;      // [C][PS]  masked intra-chunk scores phi(q).phi(k)
  float* den;    // [C]      denominators
  float* qoff;   // [C]      query offsets (row max of the exponents)
  float* red;    // [8]      scratch of block reductions
  float* wrun;   // [kMaxRuns] weights exp(off_run - top) of the runs gathered
  int64_t* row;  // [C]      K row index of each key of the chunk
  __device__ Smem(float* b, int m) {
    const int ms = m + 4;
    s = b; b += m * SS;
    z = b; b += m;
    phik = b; b += C * ms;
    phiq = b; b += C * ms;
    v = b; b += C * SS;
    p = b; b += C * PS;
    den = b; b += C;
    qoff = b; b += C;
    red = b; b += 8;
    wrun = b; b += kMaxRuns;
    b += (reinterpret_cast<uintptr_t>(b) & 7) ? 1 : 0;  // 8-byte alignment for the row indices
    row = reinterpret_cast<int64_t*>(b);
  }
  static size_t bytes(int m) {
    return sizeof(float) * (size_t(m) * SS + m + 2 * C * (m + 4) + C * SS + C * PS + 2 * C + 8 + kMaxRuns + 2) +
           sizeof(int64_t) * C;
  }
};

__device__ float block_max(float x, float* red) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  __syncthreads();  // red may still be read from the last call
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = x;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < kWarps; ++w) r = fmaxf(r, red[w]);
  return r;
}

// Per-CTA coordinates shared by both passes.
struct Coord {
  int32_t s, g, dt, seg;
  int64_t kv_len, nchunks, c_lo, c_hi;  // this run: chunks [c_lo, c_hi)
  __device__ Coord(const LinearFwdParams& p) {
    seg = blockIdx.x / p.d_tiles;
    dt = blockIdx.x % p.d_tiles;
    g = blockIdx.y;
    s = blockIdx.z;
    kv_len = p.batch.kv_len[s];
    nchunks = (kv_len + C - 1) / C;
    const int64_t per = (nchunks + p.segments - 1) / p.segments;
    c_lo = min(nchunks, int64_t(seg) * per);
    c_hi = min(nchunks, c_lo + per);
    kv_base = p.kv.layout == KvLayout::contiguous ? int64_t(p.kv.kv_start[s]) : 0;
  }
  int64_t kv_base;  // contiguous layout: first K row of the sequence (read once, not per chunk)
  __device__ int64_t key_row(const LinearFwdParams& p, int64_t t) const {
    return p.kv.layout == KvLayout::contiguous ? kv_base + t : kv_row(p.kv, p.block_shift, s, t);
  }
  __device__ int64_t state_index(const LinearFwdParams& p, int run) const {
    return (int64_t(s) * p.kv_heads + g) * p.segments + run;
  }
};

// K rows of the chunk [j0, j0 + nk) into sm.row, and the max of their exponents.
__device__ float chunk_rows_and_max(const LinearFwdParams& p, const Coord& c, const Smem& sm, int64_t j0, int nk) {
  float mx = -INFINITY;
  if (threadIdx.x < C) {
    int64_t r = -1;
    if (int(threadIdx.x) < nk) {
      r = c.key_row(p, j0 + threadIdx.x);
      mx = p.kmax[r * p.kv_heads + c.g];
    }
    sm.row[threadIdx.x] = r;
  }
  return block_max(mx, sm.red);  // its syncs also publish sm.row
}

// phi(K) = exp(u - off) and V (this CTA's columns) of the chunk; rows >= nk are zero. Every
// global load of a thread is issued before the first shared store (the compiler cannot move a
// load above a store it cannot prove independent, and each would then wait a full latency).
__device__ void load_chunk(const LinearFwdParams& p, const Coord& c, const Smem& sm, int nk, float off) {
  const int m = p.m, ms = m + 4, m4 = m / 4;
  float4 u[kMaxPer4];  // up to C * 256 / 4 / 256 = 8 float4 of exponents per thread
#pragma unroll
  for (int i = 0; i < kMaxPer4; ++i) {
    const int e = threadIdx.x + i * kThreads, j = e / m4;
    u[i] = make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);  // exp(-inf) = 0: padding rows
    if (e < C * m4 && j < nk)
      u[i] = __ldg(reinterpret_cast<const float4*>(p.uk + (sm.row[j] * p.kv_heads + c.g) * m) + e % m4);
  }
  const int vj = threadIdx.x / (DT / 8), vcol = (threadIdx.x % (DT / 8)) * 8;  // C * DT / 8 == kThreads
  uint4 vraw = make_uint4(0, 0, 0, 0);
  if (vj < nk) vraw = load16(p.v, sm.row[vj] * p.kv_stride + int64_t(c.g) * p.d + c.dt * DT + vcol);
#pragma unroll
  for (int i = 0; i < kMaxPer4; ++i) {
    const int e = threadIdx.x + i * kThreads;
    if (e >= C * m4) break;
    float* dst = sm.phik + (e / m4) * ms + (e % m4) * 4;
    dst[0] = __expf(u[i].x - off);
    dst[1] = __expf(u[i].y - off);
    dst[2] = __expf(u[i].z - off);
    dst[3] = __expf(u[i].w - off);
  }
  float x[8];
  convert8(vraw, p.dtype, x);
#pragma unroll
  for (int i = 0; i < 8; ++i) sm.v[vj * SS + vcol + i] = x[i];
}

// S += phi(K)^T V and z += sum_j phi(K)[j] for the loaded chunk. Warp w updates the 16-feature
// row tiles w, w + 8, ... of S (all 64 columns).
__device__ void absorb_chunk(const LinearFwdParams& p, const Smem& sm) {
  const int m = p.m, ms = m + 4;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  for (int mt = warp; mt < m / 16; mt += kWarps) {
    const int r0 = mt * 16;
    float acc[DT / 8][4];
#pragma unroll
    for (int nt = 0; nt < DT / 8; ++nt) {
      const int col = nt * 8 + 2 * t;
      acc[nt][0] = sm.s[(r0 + g) * SS + col];
      acc[nt][1] = sm.s[(r0 + g) * SS + col + 1];
      acc[nt][2] = sm.s[(r0 + g + 8) * SS + col];
      acc[nt][3] = sm.s[(r0 + g + 8) * SS + col + 1];
    }
#pragma unroll
    for (int k0 = 0; k0 < C; k0 += 8) {
      uint32_t a[4];
      load_at(a, sm.phik, ms, r0, k0, g, t);
#pragma unroll
      for (int nt = 0; nt < DT / 8; ++nt) {
        uint32_t b[2];
        load_b(b, sm.v, SS, k0, nt * 8, g, t);
        mma_tf32(acc[nt], a, b);
      }
    }
#pragma unroll
    for (int nt = 0; nt < DT / 8; ++nt) {
      const int col = nt * 8 + 2 * t;
      sm.s[(r0 + g) * SS + col] = acc[nt][0];
      sm.s[(r0 + g) * SS + col + 1] = acc[nt][1];
      sm.s[(r0 + g + 8) * SS + col] = acc[nt][2];
      sm.s[(r0 + g + 8) * SS + col + 1] = acc[nt][3];
    }
  }
  for (int r = threadIdx.x; r < m; r += kThreads) {
    float acc = 0.f;
    for (int j = 0; j < C; ++j) acc += sm.phik[j * ms + r];
    sm.z[r] += acc;
  }
}

__device__ void scale_state(const LinearFwdParams& p, const Smem& sm, float f) {
  for (int e = threadIdx.x; e < p.m * DT; e += kThreads) sm.s[(e / DT) * SS + e % DT] *= f;
  for (int r = threadIdx.x; r < p.m; r += kThreads) sm.z[r] *= f;
}

// ---- pass 1 ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads, 1) run_states_kernel(LinearFwdParams p) {
  extern __shared__ float smem_raw[];
  const Smem sm(smem_raw, p.m);
  const Coord c(p);
  const int m = p.m;
  const int64_t si = c.state_index(p, c.seg);
  if (c.c_lo >= c.c_hi) {  // empty run (sequence shorter than `segments` chunks)
    if (c.dt == 0 && threadIdx.x == 0) p.seg_off[si] = -INFINITY;
    return;
  }
  // The run's offset: the max exponent over its keys, so nothing needs rescaling within the run.
  float mx = -INFINITY;
  const int64_t k_lo = c.c_lo * C, k_hi = min(c.kv_len, c.c_hi * C);
#pragma unroll 8
  for (int64_t j = k_lo + threadIdx.x; j < k_hi; j += kThreads) mx = fmaxf(mx, p.kmax[c.key_row(p, j) * p.kv_heads + c.g]);
  const float off = block_max(mx, sm.red);
  for (int e = threadIdx.x; e < m * SS; e += kThreads) sm.s[e] = 0.f;
  for (int r = threadIdx.x; r < m; r += kThreads) sm.z[r] = 0.f;
  for (int64_t ch = c.c_lo; ch < c.c_hi; ++ch) {
    const int64_t j0 = ch * C;
    const int nk = int(min(int64_t(C), c.kv_len - j0));
    chunk_rows_and_max(p, c, sm, j0, nk);
    load_chunk(p, c, sm, nk, off);
    __syncthreads();
    absorb_chunk(p, sm);
    __syncthreads();
  }
  float* out = p.seg_s + si * m * p.d + c.dt * DT;
  for (int e = threadIdx.x; e < m * DT; e += kThreads) out[int64_t(e / DT) * p.d + e % DT] = sm.s[(e / DT) * SS + e % DT];
  if (c.dt == 0) {
    for (int r = threadIdx.x; r < m; r += kThreads) p.seg_z[si * m + r] = sm.z[r];
    if (threadIdx.x == 0) p.seg_off[si] = off;
  }
}

// ---- pass 2 ---------------------------------------------------------------------------------------

// S, z = the sum of runs [0, n_runs) rescaled to their common max, which is returned (-inf: no key).
__device__ float gather_runs(const LinearFwdParams& p, const Coord& c, const Smem& sm, int n_runs) {
  const int m = p.m;
  float top = -INFINITY;
  for (int r = 0; r < n_runs; ++r) top = fmaxf(top, p.seg_off[c.state_index(p, r)]);
  if (threadIdx.x < n_runs) {
    const float o = p.seg_off[c.state_index(p, threadIdx.x)];
    sm.wrun[threadIdx.x] = o == -INFINITY ? 0.f : __expf(o - top);  // empty run: never written, skipped
  }
  __syncthreads();
  const int64_t stride = int64_t(m) * p.d;  // between consecutive runs' S
  const float* s0 = p.seg_s + c.state_index(p, 0) * stride + c.dt * DT;
  // 16 elements per thread at a time: their loads are independent and issued together.
  for (int e0 = 0; e0 < m * DT; e0 += 16 * kThreads) {
    float acc[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) acc[i] = 0.f;
    for (int r = 0; r < n_runs; ++r) {
      const float w = sm.wrun[r];
      if (w == 0.f) continue;
      const float* sr = s0 + r * stride;
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const int e = e0 + threadIdx.x + i * kThreads;
        if (e < m * DT) acc[i] += w * __ldg(sr + int64_t(e / DT) * p.d + e % DT);
      }
    }
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int e = e0 + threadIdx.x + i * kThreads;
      if (e < m * DT) sm.s[(e / DT) * SS + e % DT] = acc[i];
    }
  }
  for (int rr = threadIdx.x; rr < m; rr += kThreads) {
    float acc = 0.f;
    for (int r = 0; r < n_runs; ++r)
      if (sm.wrun[r] != 0.f) acc += sm.wrun[r] * __ldg(p.seg_z + c.state_index(p, r) * m + rr);
    sm.z[rr] = acc;
  }
  return top;
}

// Outputs of query rows [r_lo, r_lo + nq) (nq <= C) of head h: the state (offset koff) plus,
// when nk > 0, the loaded chunk starting at key j0 under the causal mask.
__device__ void read_out(const LinearFwdParams& p, const Coord& c, const Smem& sm, int64_t q0, int64_t pos0,
                         int64_t r_lo, int nq, int h, int64_t j0, int nk, float koff) {
  const int m = p.m, ms = m + 4;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  {
    const int m4 = m / 4;
    float4 u[kMaxPer4];
    float off[kMaxPer4];
#pragma unroll
    for (int i = 0; i < kMaxPer4; ++i) {  // all loads first (see load_chunk)
      const int e = threadIdx.x + i * kThreads, row = e / m4;
      u[i] = make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);  // rows past the tile: phi = 0
      off[i] = 0.f;
      if (e < C * m4 && row < nq) {
        const int64_t qi = (q0 + r_lo + row) * p.q_heads + h;
        u[i] = __ldg(reinterpret_cast<const float4*>(p.uq + qi * m) + e % m4);
        off[i] = __ldg(p.qmax + qi);
      }
    }
#pragma unroll
    for (int i = 0; i < kMaxPer4; ++i) {
      const int e = threadIdx.x + i * kThreads;
      if (e >= C * m4) break;
      float* dst = sm.phiq + (e / m4) * ms + (e % m4) * 4;
      dst[0] = __expf(u[i].x - off[i]);
      dst[1] = __expf(u[i].y - off[i]);
      dst[2] = __expf(u[i].z - off[i]);
      dst[3] = __expf(u[i].w - off[i]);
    }
  }
  if (threadIdx.x < C) sm.qoff[threadIdx.x] = int(threadIdx.x) < nq ? p.qmax[(q0 + r_lo + threadIdx.x) * p.q_heads + h] : 0.f;
  __syncthreads();
  // den = phi(q).z: warp w takes rows 4w .. 4w+3, lanes split the features.
  for (int i = warp * (C / kWarps); i < (warp + 1) * (C / kWarps); ++i) {
    float acc = 0.f;
    for (int r = lane; r < m; r += 32) acc += sm.phiq[i * ms + r] * sm.z[r];
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) sm.den[i] = acc;
  }
  const int qr0 = (warp & 1) * 16;  // this warp's 16 query rows of the tile
  if (nk > 0) {
    // Scores of rows qr0.. x keys 8*(warp/2).. : phi(Q) phi(K)^T, zero where the key is after the query.
    const int n0 = (warp >> 1) * 8;
    float acc[4] = {0, 0, 0, 0};
    for (int k0 = 0; k0 < m; k0 += 8) {
      uint32_t a[4], b[2];
      load_a(a, sm.phiq, ms, qr0, k0, g, t);
      load_bt(b, sm.phik, ms, k0, n0, g, t);
      mma_tf32(acc, a, b);
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = qr0 + g + (e >= 2 ? 8 : 0), j = n0 + 2 * t + (e & 1);
      const bool visible = j < nk && j0 + j <= pos0 + r_lo + i;
      sm.p[i * PS + j] = visible ? acc[e] : 0.f;
    }
  }
  __syncthreads();
  if (nk > 0 && threadIdx.x < C) {
    float acc = 0.f;
    for (int j = 0; j < C; ++j) acc += sm.p[threadIdx.x * PS + j];
    sm.den[threadIdx.x] += acc;
  }
  // num [rows qr0.., columns 16*(warp/2) .. +16] = phi(Q) S + P V.
  const int c0 = (warp >> 1) * 16;
  float acc[2][4] = {};
  // acc += A[rows qr0 .., k < K] (row stride lda) x B[k < K, columns c0 .. c0 + 16) (row stride ldb).
  auto mma_rows = [&](const float* A, int lda, const float* B, int ldb, int K) {
    for (int k0 = 0; k0 < K; k0 += 8) {
      uint32_t a[4];
      load_a(a, A, lda, qr0, k0, g, t);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        uint32_t b[2];
        load_b(b, B, ldb, k0, c0 + nt * 8, g, t);
        mma_tf32(acc[nt], a, b);
      }
    }
  };
  mma_rows(sm.phiq, ms, sm.s, SS, m);
  if (nk > 0) mma_rows(sm.p, PS, sm.v, SS, C);
  __syncthreads();  // den complete
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int i = qr0 + g + half * 8;
    if (i >= nq) continue;
    const float den = sm.den[i];
    // den == 0: no key visible, or every product underflowed: O = 0 like an empty softmax row.
    const float inv = den > 0.f ? 1.f / den : 0.f;
    const int64_t base = (q0 + r_lo + i) * p.o_stride + int64_t(h) * p.d + c.dt * DT;
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int col = c0 + nt * 8 + 2 * t;
      store_out(p.o, p.o_dtype, base + col, acc[nt][half * 2] * inv);
      store_out(p.o, p.o_dtype, base + col + 1, acc[nt][half * 2 + 1] * inv);
    }
  }
  if (p.lse && c.dt == 0 && int(threadIdx.x) < nq) {
    const float den = sm.den[threadIdx.x];
    p.lse[(q0 + r_lo + threadIdx.x) * p.q_heads + h] =
        den > 0.f ? logf(den) + sm.qoff[threadIdx.x] + koff : -INFINITY;
  }
  __syncthreads();  // phiq, p and den are rewritten by the next tile
}

// Query rows [r_begin, r_end) of every head of the group against the full state (no chunk).
__device__ void read_out_rows(const LinearFwdParams& p, const Coord& c, const Smem& sm, int64_t q0, int64_t pos0,
                              int64_t r_begin, int64_t r_end, float koff) {
  for (int64_t r = r_begin; r < r_end; r += C)
    for (int h = c.g * p.group; h < (c.g + 1) * p.group; ++h)
      read_out(p, c, sm, q0, pos0, r, int(min(int64_t(C), r_end - r)), h, 0, 0, koff);
}

// The state after every key of the sequence, in LinearDecodeState's layout.
__device__ void write_state(const LinearFwdParams& p, const Coord& c, const Smem& sm, float koff) {
  const int m = p.m, slices = p.d / kLinDecodeSlice;
  const int64_t sg = int64_t(c.s) * p.kv_heads + c.g;
  float* out = p.st_s + sg * m * p.d + c.dt * DT;
  for (int e = threadIdx.x; e < m * DT; e += kThreads) out[int64_t(e / DT) * p.d + e % DT] = sm.s[(e / DT) * SS + e % DT];
  for (int sl = c.dt * (DT / kLinDecodeSlice); sl < (c.dt + 1) * (DT / kLinDecodeSlice) && sl < slices; ++sl) {
    for (int r = threadIdx.x; r < m; r += kThreads) p.st_z[(sg * slices + sl) * m + r] = sm.z[r];
    if (threadIdx.x == 0) p.st_off[sg * slices + sl] = koff;
  }
}

__global__ void __launch_bounds__(kThreads, 1) outputs_kernel(LinearFwdParams p) {
  extern __shared__ float smem_raw[];
  const Smem sm(smem_raw, p.m);
  const Coord c(p);
  const int64_t q0 = p.batch.q_start[c.s], q_len = p.batch.q_start[c.s + 1] - q0;
  const int64_t pos0 = p.batch.q_pos0 ? p.batch.q_pos0[c.s] : c.kv_len - q_len;
  const bool last = c.seg == p.segments - 1;
  const bool want_state = last && p.st_s != nullptr;

  if (!p.causal) {
    const int64_t per = (q_len + p.segments - 1) / p.segments;
    const int64_t r_begin = min(q_len, int64_t(c.seg) * per), r_end = min(q_len, r_begin + per);
    if (r_begin >= r_end && !want_state) return;
    const float koff = gather_runs(p, c, sm, p.segments);
    __syncthreads();
    read_out_rows(p, c, sm, q0, pos0, r_begin, r_end, koff);
    if (want_state) write_state(p, c, sm, koff);
    return;
  }

  // Causal. Chunk ch holds the queries at positions [ch*C, ch*C + C) (below kv_len); the last run
  // also takes the queries at positions >= kv_len, which see every key.
  const int64_t first_pos = pos0, last_pos = pos0 + q_len - 1;  // positions of this sequence's queries
  const bool tail = last && q_len > 0 && last_pos >= c.kv_len;   // queries past the last key
  int64_t c_end = c.c_hi;  // walk no further than the last chunk with queries, unless the full state is needed
  if (!want_state && !tail) {
    if (q_len == 0 || last_pos < c.c_lo * C || first_pos >= c.c_hi * C) return;
    c_end = min(c.c_hi, last_pos / C + 1);
  }
  float koff = gather_runs(p, c, sm, c.seg);
  __syncthreads();
  for (int64_t ch = c.c_lo; ch < c_end; ++ch) {
    const int64_t j0 = ch * C;
    const int nk = int(min(int64_t(C), c.kv_len - j0));
    const float cmax = chunk_rows_and_max(p, c, sm, j0, nk);
    if (cmax > koff) {  // raise the running offset: earlier sums shrink by exp(old - new)
      if (koff != -INFINITY) scale_state(p, sm, __expf(koff - cmax));
      koff = cmax;
    }
    load_chunk(p, c, sm, nk, koff);
    __syncthreads();
    const int64_t r_lo = max(int64_t(0), j0 - pos0), r_hi = min(q_len, j0 + nk - pos0);
    for (int h = c.g * p.group; h < (c.g + 1) * p.group && r_hi > r_lo; ++h)
      read_out(p, c, sm, q0, pos0, r_lo, int(r_hi - r_lo), h, j0, nk, koff);
    absorb_chunk(p, sm);
    __syncthreads();
  }
  if (tail) {
    read_out_rows(p, c, sm, q0, pos0, max(int64_t(0), min(q_len, c.kv_len - pos0)), q_len, koff);
  }
  if (want_state) write_state(p, c, sm, koff);
}

}  // namespace

size_t linear_scan_smem_bytes(int m) { return Smem::bytes(m); }

cudaError_t launch_linear_scan(const LinearFwdParams& p, int32_t n_seqs, cudaStream_t st) {
  const size_t smem = Smem::bytes(p.m);
  // Once, for the largest m (before any graph capture the caller may start later too).
  static const cudaError_t attr = [] {
    for (auto* k : {run_states_kernel, outputs_kernel})
      if (cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               int(Smem::bytes(kLinMaxFeatures)));
          e != cudaSuccess)
        return e;
    return cudaSuccess;
  }();
  if (attr != cudaSuccess) return attr;
  const dim3 grid(unsigned(p.segments * p.d_tiles), unsigned(p.kv_heads), unsigned(n_seqs));
  run_states_kernel<<<grid, kThreads, smem, st>>>(p);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  outputs_kernel<<<grid, kThreads, smem, st>>>(p);
  return cudaGetLastError();
}

}  // namespace eft::cuda::detail
