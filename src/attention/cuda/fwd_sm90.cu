// Prefill attention main loop for Hopper (sm_90a): the same work split, masks, online softmax
// and epilogue as fwd.cu (shared through fwd_common.cuh), with both matrix products on warpgroup
// MMAs (wgmma) instead of mma.sync:
//   S[64 x BN] = Q K^T   wgmma m64nBNk16, Q and K straight from shared memory (descriptors)
//   O[64 x D] += P V     wgmma m64nNk16, P from registers (the S accumulators, packed to 16 bit),
//                        V from shared memory read MN-major (no transposing ldmatrix)
// A CTA is two warpgroups (8 warps, 256 threads) owning 128 query rows of one head; warp w owns
// rows [16w, 16w + 16), exactly as in fwd.cu's prefill, so the per-thread accumulator layout and
// every routine after the products are shared. K/V tiles stream through shared-memory stages
// (K 2, V 3, see the kernel) with cp.async, which, unlike TMA, reads paged block tables and ragged
// ends row by row with the same addressing as fwd.cu. wgmma reads the shared tiles through descriptors with the 128-byte
// swizzle, so every tile is stored as D/64 column blocks of [rows][128 B] with the 16-byte
// chunks of each row XOR-ed by row % 8, at 1024-byte aligned addresses.
//
// Ordering rules this file follows (PTX ISA, "asynchronous warpgroup level matrix" section):
// shared memory written by ordinary/cp.async stores is made visible to the tensor cores' async
// proxy with fence.proxy.async before the barrier; wgmma.fence precedes the first wgmma that
// touches registers written by ordinary instructions; results are read only after
// wgmma.wait_group, and an empty asm with the registers as operands keeps the compiler from
// hoisting those reads above the wait.
//
// Built only for sm_90a (the wgmma instructions need the arch-specific target); on any other
// target the kernel body is empty and the planner never picks it (EFT_CUDA_SM90A, see plan.cpp).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attention/cuda/fwd_common.cuh"
#include "attention/cuda/kernel_table.h"
#include "attention/cuda/sm90_common.cuh"
#include "attention/cuda/sm90_selftest.h"


namespace eft::cuda::detail {
namespace {

template <typename T, int D, int BN, int NWG, int MinCtas>
struct Sm90Tile {
  static constexpr int kWarps = 4 * NWG, kThreads = kWarps * 32, kBM = 64 * NWG;  // NWG warpgroups
  static constexpr int kChunks = D / 8;                               // 16-byte chunks per row
  static constexpr uint32_t kQBytes = uint32_t(kBM) * D * sizeof(T);  // Q   [BM][D]
  static constexpr uint32_t kTileBytes = uint32_t(BN) * D * sizeof(T);  // one K or V tile [BN][D]
  // K in 2 stages, V in 3: V of tile j is read one iteration later than K (see the kernel).
  static constexpr int kKStages = 2, kVStages = 3;
  static constexpr size_t kSmem = kQBytes + size_t(kKStages + kVStages) * kTileBytes + 1024;  // + align
  static_assert(BN == 64 || BN == 128, "wgmma N of the S product");
  static_assert(D % 64 == 0, "whole 128-byte swizzle column blocks");
};

// The tile loop is software-pipelined across iterations (FlashAttention-3's intra-warpgroup
// overlap): iteration i issues S_i = Q K_i^T and O += P_{i-1} V_{i-1} back to back, waits only for
// S_i, runs the softmax of tile i while the tensor cores still work on P_{i-1} V_{i-1}, then waits
// for that and rescales O. So V_i is read one iteration after K_i: K needs 2 stages, V 3. One
// barrier per iteration: after it, every thread has finished iteration i-1, so the stages the
// loads of tile i+1 overwrite (K_{i-1}, V_{i-2}) are free.
//
// One CTA per work item (query tile, head, sequence). The warp-specialized loop (fwd_sm90_ws.cu)
// is the persistent form that runs on into the next item; a persistent form of this loop (v6e in
// docs/cuda_attention.md) measured slower than this plain grid and was removed.
// AnyMask = false: compiled for the interval masks only (KernelEntry::interval_fn).
template <typename T, int D, int BN, int NWG, int MinCtas, bool AnyMask = true>
__global__ void __launch_bounds__(NWG * 128, MinCtas) fwd_sm90_kernel(const __grid_constant__ FwdParams p) {
#ifdef EFT_WGMMA_BODY
  using C = Sm90Tile<T, D, BN, NWG, MinCtas>;
  constexpr int BM = C::kBM, NT = BN / 8, DT = D / 8, CH = C::kChunks;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t sQ = (smem_addr(smem_raw) + 1023u) & ~1023u;  // [D/64][BM][128 B]
  const uint32_t sK = sQ + C::kQBytes;                          // [2][D/64][BN][128 B]
  const uint32_t sV = sK + C::kKStages * C::kTileBytes;         // [3][D/64][BN][128 B]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  // K/V row addressing, once per CTA (the tile loads do no metadata reads). Its one global read
  // (kv_start or the block-table row of sequence item.z) is issued beside CtaWork's reads of
  // the batch metadata rather than after them: one round trip less before the first copies.
  const int3 item = grid_item(p);
  const KvRows kv_rows(p.kv, p.block_shift, item.z);
  CtaWork w;
  if (!w.init_at(p, BN, item.x, item.y, item.z)) return;

  const T* gq = static_cast<const T*>(p.q);
  auto load_q = [&](const CtaWork& cw) {
    for (int c = tid; c < BM * CH; c += C::kThreads) {
      const int r = c / CH, ch = c % CH;
      const bool ok = r < cw.n_tok;
      const T* src = ok ? gq + int64_t(cw.q0 + cw.tok0 + r) * p.q_stride + int64_t(cw.head0) * D + ch * 8 : gq;
      cp_async16(sQ + sw128_offset(BM, r, ch), src, ok);
    }
  };

  // K/V tile loads: thread t always copies 16-byte chunk t % CH of rows t / CH + k * kRowStep, so
  // its shared-memory offsets differ only by whole 8-row swizzle periods (one offset per CTA) and,
  // for contiguous K/V, its global addresses by a fixed row stride.
  constexpr int kRowStep = C::kThreads / CH, kPasses = BN / kRowStep;
  static_assert(kRowStep % 8 == 0 && BN % kRowStep == 0, "loads keep the swizzle phase of their rows");
  const int ld_ch = tid % CH, ld_r0 = tid / CH;
  const uint32_t ld_soff = sw128_offset(BN, ld_r0, ld_ch);
  const T* gk = static_cast<const T*>(p.k);
  const T* gv = static_cast<const T*>(p.v);
  const bool contiguous = p.kv.layout == KvLayout::contiguous;
  // Tile j of item cw as the i-th tile of the CTA's stream (rows: its KvRows). K and V of a row
  // share one address computation; one cp.async group per tile (splitting K and V into two groups,
  // so that a step waits for K only, measured no faster, H200 2026-11-28).
  auto load_kv = [&](const CtaWork& cw, const KvRows& rows, int j, int i) {
    const uint32_t dk = sK + (i % C::kKStages) * C::kTileBytes + ld_soff;
    const uint32_t dv = sV + (i % C::kVStages) * C::kTileBytes + ld_soff;
    const int key0 = j * BN + ld_r0;
    const int64_t col = int64_t(cw.kvh) * D + ld_ch * 8;
    if (contiguous) {
      const int64_t off0 = (rows.base + key0) * p.kv_stride + col;
#pragma unroll
      for (int k = 0; k < kPasses; ++k) {
        const bool ok = key0 + k * kRowStep < cw.kv_len;
        const int64_t off = ok ? off0 + int64_t(k * kRowStep) * p.kv_stride : 0;
        cp_async16(dk + k * kRowStep * 128, gk + off, ok);
        cp_async16(dv + k * kRowStep * 128, gv + off, ok);
      }
    } else {
#pragma unroll
      for (int k = 0; k < kPasses; ++k) {
        const int key = key0 + k * kRowStep;
        const bool ok = key < cw.kv_len;
        const int64_t off = ok ? rows(key) * p.kv_stride + col : 0;
        cp_async16(dk + k * kRowStep * 128, gk + off, ok);
        cp_async16(dv + k * kRowStep * 128, gv + off, ok);
      }
    }
  };

  float o[1][DT][4];       // this thread's part of the warpgroup's O [64 x D] accumulator
  float s[1][NT][4];       // ... of S / P [64 x BN] of the current tile
  uint32_t pa[BN / 16][4]; // P of the previous tile, packed as wgmma A fragments (one per k16)
  float row_m[1][2], row_l[1][2];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) s[0][nt][0] = s[0][nt][1] = s[0][nt][2] = s[0][nt][3] = 0.f;

  // O += P_{i-1} V_{i-1} (descriptors built once, advanced by offsets: see mma_pv).
  const uint64_t v_desc0 = sw128_desc(sV, BN * 128, 1024);
  auto issue_pv = [&](int i_prev) {
    mma_pv<T, D, BN>(o, pa, v_desc0 + (i_prev % C::kVStages) * (C::kTileBytes >> 4));
  };

  const int row0 = warp * 16;
  const uint64_t q_desc0 = sw128_desc(sQ + uint32_t(wg) * 64 * 128, 16, 1024);  // this warpgroup's 64 rows of Q
  const uint64_t k_desc0 = sw128_desc(sK, 16, 1024);
  load_q(w);
  TileState st = TileState::full;  // of tile j
  int j = w.template next_tile<AnyMask>(p, w.kt_begin, BN, st);
  if (j < w.kt_end) load_kv(w, kv_rows, j, 0);
  cp_async_commit();
  int i = 0;  // position of tile j in this CTA's stream of tiles

  // One iteration; WithPv is false only for an item's first tile (no P V before it). A
  // compile-time flag rather than a branch around the MMAs: a run-time branch between wgmmas
  // makes the compiler serialize them.
  auto step = [&](auto with_pv) {
    cp_async_wait<0>();  // Q and tile j have landed (this thread's copies) ...
    fence_async_shared();
    __syncthreads();     // ... everyone's, and everyone is done with iteration i - 1
    TileState st_next = TileState::full;
    const int jn = w.template next_tile<AnyMask>(p, j + 1, BN, st_next);
    if (jn < w.kt_end) load_kv(w, kv_rows, jn, i + 1);
    cp_async_commit();

    const uint64_t dk = k_desc0 + (i % C::kKStages) * (C::kTileBytes >> 4);
    wgmma_fence();
    mma_qk<T, D, BM, BN>(s, q_desc0, dk);
    wgmma_commit();
    if constexpr (decltype(with_pv)::value) issue_pv(i - 1);
    wgmma_commit();
    wgmma_wait<1>();  // S is ready; P_{i-1} V_{i-1} may still run
    reg_fence<NT * 4>(&s[0][0][0]);

    const float sc = softcap_scores(s, p);
    if (st == TileState::partial) mask_partial<1, NT, AnyMask>(s, p, w, row0, j * BN + (lane & 3) * 2);
    float alpha[1][2];
    online_softmax(s, row_m, row_l, alpha, sc);
    wgmma_wait<0>();  // O and the registers of P_{i-1} are free again
    reg_fence<DT * 4>(&o[0][0][0]);
    rescale_rows(o, alpha);
    pack_p<T, BN>(s, pa);
    j = jn;
    st = st_next;
    ++i;
  };

#pragma unroll
  for (int dt = 0; dt < DT; ++dt) o[0][dt][0] = o[0][dt][1] = o[0][dt][2] = o[0][dt][3] = 0.f;
  row_m[0][0] = row_m[0][1] = -INFINITY;
  row_l[0][0] = row_l[0][1] = 0.f;
  if (j < w.kt_end) step(std::false_type{});
  while (j < w.kt_end) step(std::true_type{});
  if (i > 0) {  // the last tile's P V
    wgmma_fence();
    issue_pv(i - 1);
    wgmma_commit();
    wgmma_wait<0>();
    reg_fence<DT * 4>(&o[0][0][0]);
  }
  // Q is no longer read (its last Q K^T has completed): the epilogue stages O there. Without tiles
  // (i == 0) no step waited for Q's copies, which may still be landing: direct stores.
  if (i > 0 && can_stage_output<T>(p)) store_rows_staged<T, D, BM>(p, w, row0, sQ, o, row_m, row_l);
  else store_rows(p, w, row0, o, row_m, row_l);
  cp_async_wait<0>();
#else
  (void)p;
#endif
}

// ---- building-block check (tests/gpu/test_attention_sm90.cpp) -----------------------------------
// One warpgroup computes C[64 x N] over K = 64 with the same tile layouts and descriptors as the
// kernel: ss: A [64][64] and B [N][64] (K-major, like Q and K) from shared memory, C = A B^T;
// rs: A [64][64] from registers, B [64][N] (MN-major, like V), C = A B.
template <typename T, int N, bool RS>
__global__ void __launch_bounds__(128) selftest_kernel(const T* a, const T* b, float* c, uint32_t lbo, uint32_t sbo) {
#ifdef EFT_WGMMA_BODY
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t sA = (smem_addr(smem_raw) + 1023u) & ~1023u;  // [64][64]
  const uint32_t sB = sA + 64 * 64 * sizeof(T);                 // [N][64] (ss) or [64][N] (rs)
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int i = tid; i < 64 * 8; i += 128) cp_async16(sA + sw128_offset(64, i / 8, i % 8), a + i * 8, true);
  const int b_rows = RS ? 64 : N, b_chunks = RS ? N / 8 : 8;
  for (int i = tid; i < b_rows * b_chunks; i += 128)
    cp_async16(sB + sw128_offset(b_rows, i / b_chunks, i % b_chunks), b + i * 8, true);
  cp_async_commit();
  cp_async_wait<0>();
  fence_async_shared();
  __syncthreads();
  float d[N / 2];
#pragma unroll
  for (int i = 0; i < N / 2; ++i) d[i] = 0.f;
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    if constexpr (RS) {
      // A fragment of rows 16 warp + lane/4 (+8), columns 16 kk + 2 (lane%4) (+1, +8, +9).
      const int r = warp * 16 + (lane >> 2), col = kk * 16 + (lane & 3) * 2;
      auto ld = [&](int rr, int cc) { return *reinterpret_cast<const uint32_t*>(a + rr * 64 + cc); };
      const uint32_t fr[4] = {ld(r, col), ld(r + 8, col), ld(r, col + 8), ld(r + 8, col + 8)};
      if constexpr (N == 128) Wgmma<T>::template wgmma_rs_n128<1>(d, fr, sw128_desc(sB + kk * 16 * 128, lbo, sbo), 1);
      else Wgmma<T>::template wgmma_rs_n64<1>(d, fr, sw128_desc(sB + kk * 16 * 128, lbo, sbo), 1);
    } else {
      mma_ss<T, N>(d, sw128_desc(sA + kk * 32, lbo, sbo), sw128_desc(sB + kk * 32, lbo, sbo), 1);
    }
  }
  wgmma_commit();
  wgmma_wait<0>();
  reg_fence<N / 2>(d);
#pragma unroll
  for (int t = 0; t < N / 8; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = warp * 16 + (lane >> 2) + 8 * (e >> 1), col = t * 8 + (lane & 3) * 2 + (e & 1);
      c[r * N + col] = d[4 * t + e];
    }
#else
  (void)a, (void)b, (void)c, (void)lbo, (void)sbo;
#endif
}

template <typename T, int N, bool RS>
cudaError_t launch_selftest(const void* a, const void* b, float* c, uint32_t lbo, uint32_t sbo) {
  const int smem = int(64 * 64 * sizeof(T) + 64 * N * sizeof(T) + 1024);
  auto fn = &selftest_kernel<T, N, RS>;
  if (cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem); e != cudaSuccess)
    return e;
  fn<<<1, 128, smem>>>(static_cast<const T*>(a), static_cast<const T*>(b), c, lbo, sbo);
  return cudaGetLastError();
}

// ---- the table of instantiations ------------------------------------------------------------------
template <typename T, int D, int BN, int NWG, int MinCtas>
constexpr KernelEntry entry(DType dt) {
  using C = Sm90Tile<T, D, BN, NWG, MinCtas>;
  return KernelEntry{FwdConfig{D, dt, C::kBM, BN, C::kWarps, false, C::kThreads, C::kSmem, false},
                     &fwd_sm90_kernel<T, D, BN, NWG, MinCtas>, &fwd_sm90_kernel<T, D, BN, NWG, MinCtas, false>};
}

using bf = __nv_bfloat16;
using hf = __half;
// Per head_dim the first entry is the default: <dtype, D, BN, warpgroups, CTAs per SM>.
// D = 64 runs BN = 64 with two CTAs per SM (128 registers a thread; a little spills): one CTA's
// prologue and epilogue overlap the other's main loop, +4-25 % over BN = 128 with one CTA (H200,
// 2026-11-28), which stays as block_n = 128.
const KernelEntry kEntries[] = {
    entry<bf, 64, 64, 2, 2>(DType::bf16),   entry<hf, 64, 64, 2, 2>(DType::f16),
    entry<bf, 128, 128, 2, 1>(DType::bf16), entry<hf, 128, 128, 2, 1>(DType::f16),
    entry<bf, 256, 64, 2, 1>(DType::bf16),  entry<hf, 256, 64, 2, 1>(DType::f16),
    entry<bf, 64, 128, 2, 1>(DType::bf16),  entry<hf, 64, 128, 2, 1>(DType::f16),
};
KernelTable g_table(kEntries);

}  // namespace

const FwdConfig* fwd_sm90_configs(int* count) { return g_table.configs(count); }
cudaError_t launch_fwd_sm90(int config, const FwdParams& p, int n_seqs, cudaStream_t stream) {
  const dim3 grid(unsigned(p.q_tiles * p.kv_splits), unsigned(p.kv_heads * p.head_chunks), unsigned(n_seqs));
  return g_table.launch(config, grid, p, stream);
}

cudaError_t wgmma_selftest(bool f16, int n, bool rs, const void* a, const void* b, float* c, uint32_t lbo,
                           uint32_t sbo) {
  if (n != 64 && n != 128) return cudaErrorInvalidValue;
  if (f16) {
    if (rs) return n == 64 ? launch_selftest<hf, 64, true>(a, b, c, lbo, sbo) : launch_selftest<hf, 128, true>(a, b, c, lbo, sbo);
    return n == 64 ? launch_selftest<hf, 64, false>(a, b, c, lbo, sbo) : launch_selftest<hf, 128, false>(a, b, c, lbo, sbo);
  }
  if (rs) return n == 64 ? launch_selftest<bf, 64, true>(a, b, c, lbo, sbo) : launch_selftest<bf, 128, true>(a, b, c, lbo, sbo);
  return n == 64 ? launch_selftest<bf, 64, false>(a, b, c, lbo, sbo) : launch_selftest<bf, 128, false>(a, b, c, lbo, sbo);
}

}  // namespace eft::cuda::detail
