#pragma once
// Hopper (sm_90a) building blocks shared by the wgmma main loops (fwd_sm90.cu: all warps load and
// compute; fwd_sm90_ws.cu: warp-specialized, a producer warpgroup loading through mbarriers):
// the 128-byte-swizzled tile layout and its wgmma descriptors, the wgmma fences, and the
// mbarrier operations. EFT_WGMMA_BODY is defined where the device code may use them (an sm_90a
// target); elsewhere the kernels compile to empty bodies and the planner never picks them.
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "attention/cuda/fwd_common.cuh"
#include "attention/cuda/wgmma_ops.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define EFT_WGMMA_BODY 1
#endif

namespace eft::cuda::detail {

// ---- 128-byte-swizzled tiles and their descriptors ---------------------------------------------
// Byte offset of 16-byte chunk `ch` (0 .. D/8-1) of row r in a tile of `rows` rows stored as
// column blocks of 64 elements: block ch / 8 holds [rows][128 B], chunk ch % 8 swizzled by r % 8.
__device__ __forceinline__ uint32_t sw128_offset(int rows, int r, int ch) {
  return uint32_t((ch >> 3) * rows * 128 + r * 128 + (((ch & 7) ^ (r & 7)) << 4));
}
// wgmma shared-memory descriptor (layout type 1 = 128-byte swizzle): start address, leading and
// stride byte offsets, all in 16-byte units. K-major operands (Q, K): SBO = 1024 (the next 8
// rows), LBO unused. MN-major V: LBO = the next 64-column block, SBO = the next 8 keys.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t((lbo >> 4) & 0x3FFF) << 16) |
         (uint64_t((sbo >> 4) & 0x3FFF) << 32) | (uint64_t(1) << 62);
}
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
// Pins registers written by an async wgmma after the wait (see the ordering rules in fwd_sm90.cu).
template <int N>
__device__ __forceinline__ void reg_fence(float* r) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// S (+)= A[64 x 16] B^T with both from shared memory; N = 64 or 128 keys.
template <typename T, int N>
__device__ __forceinline__ void mma_ss(float* d, uint64_t da, uint64_t db, int scale_d) {
  if constexpr (N == 128) Wgmma<T>::template wgmma_ss_n128<0>(d, da, db, scale_d);
  else Wgmma<T>::template wgmma_ss_n64<0>(d, da, db, scale_d);
}
// O (+)= P[64 x 16] (registers) V[16 x N] (shared, MN-major); N = 64 or 128 columns.
template <typename T, int N>
__device__ __forceinline__ void mma_rs(float* d, const uint32_t (&a)[4], uint64_t db, int scale_d) {
  if constexpr (N == 128) Wgmma<T>::template wgmma_rs_n128<1>(d, a, db, scale_d);
  else Wgmma<T>::template wgmma_rs_n64<1>(d, a, db, scale_d);
}

// S = Q K^T of one warpgroup's 64 rows and one key tile: D/16 k-steps; within a 64-column block a
// k-step is 32 bytes further along the (swizzled) rows, the hardware applying the swizzle to the
// final address. dq / dk: descriptors of the Q tile [D/64][BM][128 B] (at this warpgroup's rows)
// and the K tile [D/64][BN][128 B].
template <typename T, int D, int BM, int BN>
__device__ __forceinline__ void mma_qk(float (&s)[1][BN / 8][4], uint64_t dq, uint64_t dk) {
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const uint32_t koff = uint32_t(kk % 4) * 32;
    mma_ss<T, BN>(&s[0][0][0], dq + ((uint32_t(kk / 4) * BM * 128 + koff) >> 4),
                  dk + ((uint32_t(kk / 4) * BN * 128 + koff) >> 4), kk > 0);
  }
}
// O += P V of one key tile: P from registers (pa, one A fragment per 16 keys), V [D/64][BN][128 B]
// read MN-major through descriptor dv: 16 rows (2 KB) per k16 step, up to 128 columns per wgmma.
// Descriptors are advanced by adding byte offsets / 16 to their address field (all offsets stay
// inside the tile, so the 14-bit field never carries).
template <typename T, int D, int BN>
__device__ __forceinline__ void mma_pv(float (&o)[1][D / 8][4], const uint32_t (&pa)[BN / 16][4], uint64_t dv) {
  constexpr int kPvN = D < 128 ? D : 128;
#pragma unroll
  for (int ks = 0; ks < BN / 16; ++ks)
#pragma unroll
    for (int h = 0; h < D / kPvN; ++h) {
      const uint32_t off = uint32_t(ks) * 16 * 128 + uint32_t(h) * (kPvN / 64) * BN * 128;
      mma_rs<T, kPvN>(&o[0][h * (kPvN / 8)][0], pa[ks], dv + (off >> 4), 1);
    }
}

// P (the S accumulators after the softmax, [64 x BN] per warpgroup) packed to 16 bit as the A
// fragments of the P V wgmmas, one per 16 keys.
template <typename T, int BN>
__device__ __forceinline__ void pack_p(const float (&s)[1][BN / 8][4], uint32_t (&pa)[BN / 16][4]) {
#pragma unroll
  for (int ks = 0; ks < BN / 16; ++ks) {
    pa[ks][0] = pack2<T>(s[0][2 * ks][0], s[0][2 * ks][1]);
    pa[ks][1] = pack2<T>(s[0][2 * ks][2], s[0][2 * ks][3]);
    pa[ks][2] = pack2<T>(s[0][2 * ks + 1][0], s[0][2 * ks + 1][1]);
    pa[ks][3] = pack2<T>(s[0][2 * ks + 1][2], s[0][2 * ks + 1][3]);
  }
}

// ---- epilogue through shared memory ---------------------------------------------------------------
__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
  return v;
}

// Whether store_rows_staged applies: one pass over the keys (no partials) and O in the input type.
template <typename T>
__device__ __forceinline__ bool can_stage_output(const FwdParams& p) {
  constexpr DType dt = std::is_same_v<T, __half> ? DType::f16 : DType::bf16;
  return p.kv_splits == 1 && p.o_dtype == dt;
}

// Writes one warp's 16 finished rows (row0 ..), normalised and in T, into `sbuf`, a [D/64][BM][128 B]
// 128-byte-swizzled tile (a Q buffer whose rows this warp alone read, after their last read), and
// their LSE to global memory, in the MMA's layout: four bytes per thread, the eight rows of an
// instruction in distinct banks. Padding rows are written too (never stored).
template <typename T, int D, int BM>
__device__ __forceinline__ void stage_rows(const FwdParams& p, const CtaWork& w, int row0, uint32_t sbuf,
                                           const float (&o)[1][D / 8][4], const float (&row_m)[1][2],
                                           const float (&row_l)[1][2]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const RowEnd e = end_row(row_l[0][h], row_m[0][h]);
    const float inv = e.inv;
    const int r = row0 + (lane >> 2) + 8 * h;
    int64_t tok;
    int head;
    if ((lane & 3) == 0 && w.row_dest(p, r, tok, head)) w.emit_lse_at(p, tok, head, e.lse);
    const uint32_t at = sbuf + uint32_t(r) * 128 + uint32_t(lane & 3) * 4;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      st_shared_b32(at + uint32_t((dt >> 3) * BM * 128 + (((dt & 7) ^ (r & 7)) << 4)),
                    pack2<T>(o[0][dt][2 * h] * inv, o[0][dt][2 * h + 1] * inv));
  }
}

// Epilogue of one warp's 16 rows (row0 ..) through shared memory: the normalised rows go to
// `sbuf` (stage_rows) and come back as whole 16-byte chunks, so that each
// output row leaves as contiguous 16-byte stores (two rows per instruction at D = 128) instead of
// store_rows' four bytes per thread to eight rows per instruction. Used by the plain wgmma grid
// (fwd_sm90.cu: D = 64 prefill 0.1-3.6 % faster, H200 2026-11-28, ab.sh). The warp-specialized
// loop stages with stage_rows too but lets a TMA store read the rows back (its consumers' own
// read-back and stores here ran 0.5-4 % slower there). Padding rows are not stored. Needs
// can_stage_output(p).
template <typename T, int D, int BM>
__device__ __forceinline__ void store_rows_staged(const FwdParams& p, const CtaWork& w, int row0, uint32_t sbuf,
                                                  const float (&o)[1][D / 8][4], const float (&row_m)[1][2],
                                                  const float (&row_l)[1][2]) {
  constexpr int kChunks = D / 8;           // 16-byte chunks per row
  constexpr int kRowsPerPass = 32 / kChunks;  // rows one warp-wide read covers
  static_assert(32 % kChunks == 0 && 16 % kRowsPerPass == 0, "whole rows per pass");
  const int lane = threadIdx.x & 31;
  stage_rows<T, D, BM>(p, w, row0, sbuf, o, row_m, row_l);
  __syncwarp();
#pragma unroll
  for (int pass = 0; pass < 16 / kRowsPerPass; ++pass) {
    const int r = row0 + pass * kRowsPerPass + lane / kChunks, ch = lane % kChunks;
    const uint4 v = ld_shared_v4(sbuf + sw128_offset(BM, r, ch));
    int64_t tok;
    int head;
    if (w.row_dest(p, r, tok, head))
      *reinterpret_cast<uint4*>(static_cast<T*>(p.o) + tok * p.o_stride + int64_t(head) * D + ch * 8) = v;
  }
  __syncwarp();  // the buffer's reads are done before a later write (or its release) by this warp
}

// ---- TMA stores (bulk async-group copies, shared -> global) --------------------------------------
// The box at tensor coordinates (c0, c1, c2) of `map` (a __grid_constant__ parameter) from shared
// memory at `src`, in the map's swizzled box layout. The writing threads' fence_async_shared() and
// a barrier must come before it (their st.shared are generic-proxy writes; the copy reads through
// the async proxy).
__device__ __forceinline__ void tma_store_3d(const CUtensorMap* map, uint32_t src, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(src), "r"(c0), "r"(c1), "r"(c2)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// This thread's committed bulk stores have read their shared-memory source (it may be rewritten).
__device__ __forceinline__ void bulk_wait_read_all() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
// ... and have completed their global writes.
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

// ---- mbarriers (shared-memory, CTA scope) ---------------------------------------------------------
// A phase completes when `count` arrivals have been made; waiters poll the parity of the phase they
// wait for (a barrier starts in phase 0, and a wait for parity 1 passes at once: the "previous"
// phase counts as complete, which is how a producer's first wait on an empty slot passes).
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialisations visible to the other threads' barrier operations (and the async proxy).
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// `count` arrivals at once (one thread standing for several).
__device__ __forceinline__ void mbar_arrive(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.acquire.cta.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
// One arrival on `bar` once every cp.async this thread issued so far has landed (the arrival is
// not counted in advance: the barrier's count includes it).
__device__ __forceinline__ void cp_async_arrive(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// Warpgroup register budget (all four warps of the warpgroup execute it).
template <int N>
__device__ __forceinline__ void regs_dec() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N)); }
template <int N>
__device__ __forceinline__ void regs_inc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N)); }
// Barrier `id` (1..15; 0 is __syncthreads) over `threads` threads of the CTA: sync waits for the
// count, arrive only counts itself in.
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace eft::cuda::detail
