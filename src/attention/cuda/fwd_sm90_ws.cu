// Warp-specialized Hopper prefill (sm_90a), the FlashAttention-3 structure: a persistent grid of
// one CTA per SM, each CTA three warpgroups:
//   producer  (warps 0-3, 56 registers): asks the tile scheduler for work items and copies Q, K
//             and V into shared-memory stages with cp.async (paged block tables and ragged ends
//             need per-row addressing), each stage's copies completing on an mbarrier;
//   consumers (warps 4-11, 224 registers): 64 query rows each, S = Q K^T and O += P V on wgmma
//             with the same intra-warpgroup overlap as fwd_sm90.cu (QK^T of tile i issued with
//             P V of tile i-1, the softmax of tile i under the latter), releasing each stage on
//             an mbarrier as soon as its last reader is done.
// No CTA-wide barrier inside the loop: the producer runs ahead into the next work item while the
// consumers finish the current one (its last P V and the epilogue), which is where the plain grid
// (fwd_sm90.cu) loses its time on short sequences and narrow windows: per CTA, a prologue of
// metadata and first loads (~4700 cycles at D = 128 on an H200) and the pipeline's fill and drain.
//
// Tile scheduler: work items are numbered by CtaWork::init_item (query
// tiles of a head heaviest first, then heads, then sequences); CTA b takes ticket b first, then the
// next free one from an atomic counter in the workspace, which attention() zeroes before each
// launch — so the heavy diagonal items of causal masks are not dealt out round-robin — and runs
// item scheduled_item(ticket) (fwd_params.h: the lightest columns of every row last).
//
// Ping-pong (kPingPong): the consumer warpgroups alternate issuing their MMAs through two named
// barriers, so their softmaxes interleave with each other's matrix products.
//
// Stage protocol (parities: a barrier's n-th completion has parity n & 1; a producer's first wait
// on an empty stage passes because parity 1 counts as complete before any):
//   *_full  : 128 arrivals, one per producer thread, each when that thread's copies have landed
//             (cp.async.mbarrier.arrive.noinc);
//   *_empty : 8 arrivals, lane 0 of each consumer warp once its warpgroup's wgmma reading the stage
//             has completed;
//   item    : the producer's thread 0 publishes the next item, already decoded (its CtaWork: the
//             batch metadata read from global memory once, by one thread, ahead of time), in a
//             two-slot ring (item_full, one arrival); every warp's lane 0 releases the slot after
//             copying it (item_empty, 12). Items without rows are skipped there, so consumers
//             never wait on a global read between items.
// cp.async writes are generic-proxy writes and wgmma reads through the async proxy: a consumer
// executes fence.proxy.async after its wait on a full barrier, before the wgmma that reads it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attention/cuda/fwd_common.cuh"
#include "attention/cuda/kernel_table.h"
#include "attention/cuda/sm90_common.cuh"

namespace eft::cuda::detail {
namespace {

// The two consumer warpgroups take turns issuing their MMAs (FA3's ping-pong): warpgroup w waits
// on named barrier kTurn + w before its QK^T (and P V) of a tile and hands the turn over after, so
// one warpgroup's softmax runs while the other's MMAs occupy the tensor cores. A switch for A/B:
// on and off measured the same so far (H200, 2026-11-28: the softmax, not the tensor pipe, bounds
// the step; see docs/cuda_attention.md v8d).
constexpr bool kPingPong = true;
// Conditional rescaling of O (online_softmax / rescale_rows, Lazy): a switch for A/B.
constexpr bool kLazy = true;
constexpr int kTurn = 1;  // named barriers kTurn, kTurn + 1 (0 is __syncthreads)
constexpr int kStaged = 3;  // named barriers kStaged + w: warpgroup w's O rows are in shared memory
// 128 * 56 + 256 * 224 <= 65536. The producer needs the extra registers since it decodes the work
// items: with 40 / 232 it spilled more and ran 0.5-3 % behind 56 / 224 (H200, 2026-11-28, ab.sh on
// prefill N=512..16k, D=128/256, and the 1k window); before the item handoff 40 / 232 was ahead.
constexpr int kProducerRegs = 56, kConsumerRegs = 224;

template <typename T, int D, int BN>
struct WsTile {
  static constexpr int kBM = 128, kThreads = 384, kProducerThreads = 128;
  static constexpr uint32_t kQBytes = uint32_t(kBM) * D * sizeof(T);
  static constexpr uint32_t kTileBytes = uint32_t(BN) * D * sizeof(T);
  static constexpr int kQBufs = D <= 128 ? 2 : 1;  // D = 256: a second Q buffer does not fit
  static constexpr int kStages = 2;                // K and V each
  // Barriers (8 bytes each): q_full[2] q_empty[2] k_full[2] k_empty[2] v_full[2] v_empty[2]
  // item_full[2] item_empty[2], then the two item slots (CtaWork each, 16-byte aligned).
  static constexpr uint32_t kSlotBytes = (sizeof(CtaWork) + 15) / 16 * 16;
  static constexpr uint32_t kBarBytes = 16 * 8 + 2 * kSlotBytes;
  static constexpr uint32_t kTilesBytes = kQBufs * kQBytes + 2 * kStages * kTileBytes;
  static constexpr size_t kSmem = kTilesBytes + kBarBytes + 1024;  // + alignment of the tiles
  static_assert(BN == 64 || BN == 128, "wgmma N of the S product");
  static_assert(D % 64 == 0, "whole 128-byte swizzle column blocks");
};

// AnyMask = false: compiled for the interval masks only (KernelEntry::interval_fn; none / causal /
// window): 13304 SASS instructions at D = 128 with every mask's code, and 21 % of the epilogue's
// stalls on the 1k window were instruction fetch (ncu, H200 2026-11-29).
template <typename T, int D, int BN, bool AnyMask = true>
__global__ void __launch_bounds__(384, 1) fwd_sm90_ws_kernel(const __grid_constant__ FwdParams p) {
#ifdef EFT_WGMMA_BODY
  using C = WsTile<T, D, BN>;
  constexpr int BM = C::kBM, NT = BN / 8, DT = D / 8;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t sQ = (smem_addr(smem_raw) + 1023u) & ~1023u;  // [QBufs][D/64][BM][128 B]
  const uint32_t sK = sQ + C::kQBufs * C::kQBytes;              // [2][D/64][BN][128 B]
  const uint32_t sV = sK + C::kStages * C::kTileBytes;          // [2][D/64][BN][128 B]
  const uint32_t bars = sQ + C::kTilesBytes;
  const uint32_t q_full = bars, q_empty = bars + 16, k_full = bars + 32, k_empty = bars + 48, v_full = bars + 64,
                 v_empty = bars + 80, item_full = bars + 96, item_empty = bars + 112;
  // The item slots, as a generic pointer (the producer writes them with ordinary stores; the
  // mbarrier arrive / wait pair orders them with the readers).
  CtaWork* item_slot = reinterpret_cast<CtaWork*>(smem_raw + (bars + 128 - smem_addr(smem_raw)));
  static_assert(sizeof(CtaWork) <= C::kSlotBytes && alignof(CtaWork) <= 16, "item slot layout");

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (tid == 0) {
    for (int s = 0; s < 2; ++s) {
      mbar_init(q_full + 8 * s, C::kProducerThreads);
      mbar_init(q_empty + 8 * s, 8);
      mbar_init(k_full + 8 * s, C::kProducerThreads);
      mbar_init(k_empty + 8 * s, 8);
      mbar_init(v_full + 8 * s, C::kProducerThreads);
      mbar_init(v_empty + 8 * s, 8);
      mbar_init(item_full + 8 * s, 1);
      mbar_init(item_empty + 8 * s, 12);
      item_slot[s].seq = -1;  // no previous item to take sequence metadata from
    }
    mbar_init_fence();
  }
  __syncthreads();

  const int x_count = p.q_tiles * p.kv_splits, yz = p.kv_heads * p.head_chunks * p.batch.n_seqs;
  const int n_items = x_count * yz;
  // Item number k of this CTA (k = 0, 1, ...): published by the producer's thread 0, read by all;
  // seq < 0 marks the end.
  auto read_item = [&](int k) {
    mbar_wait(item_full + 8 * (k & 1), (k >> 1) & 1);
    const CtaWork w = item_slot[k & 1];
    __syncwarp();
    if (lane == 0) mbar_arrive(item_empty + 8 * (k & 1));
    return w;
  };

  if (warp < 4) {
    // ---- producer ---------------------------------------------------------------------------------
    regs_dec<kProducerRegs>();
    // Thread t copies 16-byte chunk t % 8 of every 128-byte row segment (one 64-column block) of
    // rows t / 8 + 16 k: the rows it copies share one swizzle phase, so its shared-memory offsets
    // differ by compile-time constants, and for contiguous K/V its global addresses by multiples
    // of the row stride: two or three instructions per copy. (A first version addressed each row
    // through KvRows and spent ~30 instructions per copy; ncu showed the producer warp issue-bound
    // and the consumers waiting on K, H200 2026-11-28.)
    constexpr int kPass = C::kProducerThreads / 8;  // rows per pass: 16
    static_assert(BM % kPass == 0 && BN % kPass == 0, "whole passes");
    const int ld_c = tid & 7, ld_r0 = tid >> 3;
    const uint32_t ld_soff = uint32_t(ld_r0) * 128 + (uint32_t(ld_c ^ (ld_r0 & 7)) << 4);
    const T* gq = static_cast<const T*>(p.q);
    const T* gk = static_cast<const T*>(p.k);
    const T* gv = static_cast<const T*>(p.v);
    const bool contiguous = p.kv.layout == KvLayout::contiguous;
    // This thread's chunks of shared row ld_r0 + 16 pass (one per 64-column block) of the tile of
    // `Rows` rows at `dst`, from global `src` (its chunk in column block 0); ok = false zero-fills.
    auto copy_row = [&](auto rows_c, uint32_t dst, int pass, const T* src, bool ok) {
      constexpr int Rows = decltype(rows_c)::value;
#pragma unroll
      for (int cb = 0; cb < D / 64; ++cb)
        cp_async16(dst + ld_soff + uint32_t(cb * Rows * 128 + pass * kPass * 128), src + cb * 64, ok);
    };
    auto load_tile = [&](const T* g, uint32_t dst, const CtaWork& w, const KvRows& kv, int j) {
      const int key0 = j * BN + ld_r0;
      const int64_t col = int64_t(w.kvh) * D + ld_c * 8;
      if (contiguous) {
        const T* src0 = g + (kv.base + key0) * p.kv_stride + col;
        const int64_t step = int64_t(kPass) * p.kv_stride;
#pragma unroll
        for (int pass = 0; pass < BN / kPass; ++pass) {
          const bool ok = key0 + pass * kPass < w.kv_len;
          copy_row(std::integral_constant<int, BN>{}, dst, pass, ok ? src0 + pass * step : g, ok);
        }
      } else {
#pragma unroll
        for (int pass = 0; pass < BN / kPass; ++pass) {
          const int key = key0 + pass * kPass;
          const bool ok = key < w.kv_len;
          copy_row(std::integral_constant<int, BN>{}, dst, pass, ok ? g + kv(key) * p.kv_stride + col : g, ok);
        }
      }
    };
    int next = blockIdx.x;  // thread 0: the next item number to look at
    int t = 0, kq = 0;      // stream positions: K/V tile, Q buffer use
    for (int k = 0;; ++k) {
      if (tid == 0) {
        // Decode the next item with rows (the metadata reads overlap the wait for a free slot).
        CtaWork next_w;
        bool have = false;
        while (!have && next < n_items) {
          // The previous item (slot (k - 1) & 1, written by this thread) is mostly of the same
          // sequence: its metadata saves this decode's global reads, which stalled all producer
          // threads between one item's last tile and the next one's Q and K (ncu, H200
          // 2026-11-29, window N = 16k W = 1k: 7 % of the consumers' warp samples waited on the
          // item, that Q and that first K).
          have = next_w.init_item(p, BN, scheduled_item(next, x_count, yz, p.tail_x), &item_slot[(k & 1) ^ 1]);
          next = gridDim.x + atomicAdd(p.item_counter, 1);
        }
        if (!have) next_w.seq = -1;
        mbar_wait(item_empty + 8 * (k & 1), ((k >> 1) & 1) ^ 1);
        item_slot[k & 1] = next_w;
        mbar_arrive(item_full + 8 * (k & 1));
      }
      const CtaWork w = read_item(k);
      if (w.seq < 0) break;
      const KvRows kv(p.kv, p.block_shift, w.seq);
      const int qb = C::kQBufs == 2 ? (kq & 1) : 0, qn = C::kQBufs == 2 ? (kq >> 1) : kq;
      ++kq;
      mbar_wait(q_empty + 8 * qb, (qn & 1) ^ 1);
      {
        const T* q0 = gq + int64_t(w.q0 + w.tok0 + ld_r0) * p.q_stride + int64_t(w.head0) * D + ld_c * 8;
#pragma unroll
        for (int pass = 0; pass < BM / kPass; ++pass) {
          const bool ok = ld_r0 + pass * kPass < w.n_tok;
          copy_row(std::integral_constant<int, BM>{}, sQ + qb * C::kQBytes, pass,
                   ok ? q0 + int64_t(pass * kPass) * p.q_stride : gq, ok);
        }
      }
      cp_async_arrive(q_full + 8 * qb);
      for (int j = w.template next_tile<AnyMask>(p, w.kt_begin, BN); j < w.kt_end;
           j = w.template next_tile<AnyMask>(p, j + 1, BN), ++t) {
        const int s = t & 1, n = t >> 1;
        mbar_wait(k_empty + 8 * s, (n & 1) ^ 1);
        load_tile(gk, sK + s * C::kTileBytes, w, kv, j);
        cp_async_arrive(k_full + 8 * s);
        mbar_wait(v_empty + 8 * s, (n & 1) ^ 1);
        load_tile(gv, sV + s * C::kTileBytes, w, kv, j);
        cp_async_arrive(v_full + 8 * s);
      }
    }
    cp_async_wait<0>();  // nothing is in flight when the CTA exits (every copy was consumed anyway)
    return;
  }

  // ---- consumers --------------------------------------------------------------------------------
  regs_inc<kConsumerRegs>();
  const int cw = warp - 4, wg = cw >> 2;  // consumer warp 0..7, consumer warpgroup 0..1
  const int row0 = cw * 16;
  float o[1][DT][4];
  float s[1][NT][4];
  uint32_t pa[BN / 16][4];
  float row_m[1][2], row_l[1][2];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) s[0][nt][0] = s[0][nt][1] = s[0][nt][2] = s[0][nt][3] = 0.f;
  const uint64_t q_desc0 = sw128_desc(sQ + uint32_t(wg) * 64 * 128, 16, 1024);
  const uint64_t k_desc0 = sw128_desc(sK, 16, 1024);
  const uint64_t v_desc0 = sw128_desc(sV, BN * 128, 1024);
  auto release = [&](uint32_t bar) {  // this warp is done with a stage
    __syncwarp();
    if (lane == 0) mbar_arrive(bar);
  };
  auto issue_pv = [&](int tp) { mma_pv<T, D, BN>(o, pa, v_desc0 + (tp & 1) * (C::kTileBytes >> 4)); };
  auto wait_v = [&](int tp) {
    mbar_wait(v_full + 8 * (tp & 1), (tp >> 1) & 1);
    fence_async_shared();
  };

  // O through a TMA store (D <= 128: two Q buffers): a warpgroup whose 64 rows are all rows of the
  // sequence writes them, normalised, into its half of the item's Q buffer (its own rows, whose
  // last read is done), and one thread stores the box and goes on; the Q buffer is released when
  // the copy has read it, after the next item's first tile (the producer needs it only for the
  // item after that). Registers-to-global stores (store_rows) were ~10 % of the consumers' warp
  // samples on the 1k window (ncu, H200 2026-11-29) and their issue held the warps up.
  constexpr bool kTmaO = C::kQBufs == 2;
  const bool elected = (cw & 3) == 0 && lane == 0;  // one thread per consumer warpgroup
  int staged_q = -1;  // the Q buffer holding this warpgroup's O rows while a TMA store reads them
  auto release_staged = [&]() {
    if (staged_q >= 0) {
      if (elected) {
        bulk_wait_read_all();
        mbar_arrive(q_empty + 8 * staged_q, 4);  // for the warpgroup's four warps
      }
      staged_q = -1;
    }
  };
  if (kPingPong && wg == 1) named_arrive(kTurn, 256);  // warpgroup 0 takes the first turn
  int t = 0, kq = 0;
  for (int k = 0;; ++k) {
    const CtaWork w = read_item(k);
    if (w.seq < 0) break;
    const int qb = C::kQBufs == 2 ? (kq & 1) : 0, qn = C::kQBufs == 2 ? (kq >> 1) : kq;
    ++kq;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o[0][dt][0] = o[0][dt][1] = o[0][dt][2] = o[0][dt][3] = 0.f;
    row_m[0][0] = row_m[0][1] = -INFINITY;
    row_l[0][0] = row_l[0][1] = 0.f;
    mbar_wait(q_full + 8 * qb, qn & 1);
    fence_async_shared();
    const uint64_t dq = q_desc0 + qb * (C::kQBytes >> 4);

    TileState st = TileState::full;
    int j = w.template next_tile<AnyMask>(p, w.kt_begin, BN, st);
    if (j >= w.kt_end) release(q_empty + 8 * qb);  // no tiles: Q is not read
    const bool tma_o = kTmaO && p.o_tma && j < w.kt_end && w.n_tok >= (wg + 1) * 64;  // o_tma: plan.tma_store_o
    const int t_first = t;
    // One tile; WithPv is false for an item's first tile (no P V before it): a compile-time flag,
    // as in fwd_sm90.cu (a run-time branch between wgmmas serialises them).
    auto step = [&](auto with_pv) {
      mbar_wait(k_full + 8 * (t & 1), (t >> 1) & 1);
      fence_async_shared();
      TileState st_next = TileState::full;
      const int jn = w.template next_tile<AnyMask>(p, j + 1, BN, st_next);
      const uint64_t dk = k_desc0 + (t & 1) * (C::kTileBytes >> 4);
      // V_{t-1} before the first wgmma: a wait loop between the two batches of wgmmas is a
      // divergent path in which ptxas serializes them (warning C7520).
      if constexpr (decltype(with_pv)::value) wait_v(t - 1);
      if constexpr (kPingPong) named_sync(kTurn + wg, 256);
      wgmma_fence();
      mma_qk<T, D, BM, BN>(s, dq, dk);
      wgmma_commit();
      if constexpr (decltype(with_pv)::value) issue_pv(t - 1);
      wgmma_commit();
      if constexpr (kPingPong) named_arrive(kTurn + (wg ^ 1), 256);  // the other warpgroup's turn
      wgmma_wait<1>();  // S is ready: K_t (and, after the item's last tile, Q) is free
      reg_fence<NT * 4>(&s[0][0][0]);
      release(k_empty + 8 * (t & 1));
      if (jn >= w.kt_end && !tma_o) release(q_empty + 8 * qb);

      const float sc = softcap_scores(s, p);
      if (st == TileState::partial) mask_partial<1, NT, AnyMask>(s, p, w, row0, j * BN + (lane & 3) * 2);
      float alpha[1][2];
      online_softmax<1, NT, kLazy>(s, row_m, row_l, alpha, sc);
      wgmma_wait<0>();  // P_{t-1} V_{t-1} is done: O and pa are free, and so is V_{t-1}
      reg_fence<DT * 4>(&o[0][0][0]);
      if constexpr (decltype(with_pv)::value) release(v_empty + 8 * ((t - 1) & 1));
      rescale_rows<1, DT, kLazy>(o, alpha);
      pack_p<T, BN>(s, pa);
      j = jn;
      st = st_next;
      ++t;
    };
    if (j < w.kt_end) step(std::false_type{});
    release_staged();  // the previous item's O (its store was issued an item boundary ago)
    while (j < w.kt_end) step(std::true_type{});
    if (t > t_first) {  // the item's last tile's P V
      wait_v(t - 1);
      wgmma_fence();
      issue_pv(t - 1);
      wgmma_commit();
      wgmma_wait<0>();
      reg_fence<DT * 4>(&o[0][0][0]);
      release(v_empty + 8 * ((t - 1) & 1));
    }
    if (tma_o) {
      stage_rows<T, D, BM>(p, w, row0, sQ + qb * C::kQBytes, o, row_m, row_l);
      fence_async_shared();            // this thread's st.shared, before the async proxy reads them
      named_sync(kStaged + wg, 128);  // all the warpgroup's rows are written
      if (elected) {
        const uint32_t box = sQ + qb * C::kQBytes + uint32_t(wg) * 64 * 128;
#pragma unroll
        for (int cb = 0; cb < D / 64; ++cb)
          tma_store_3d(&p.o_map, box + uint32_t(cb) * BM * 128, cb * 64, w.head0, w.q0 + w.tok0 + wg * 64);
        bulk_commit();
      }
      staged_q = qb;
    } else {
      store_rows(p, w, row0, o, row_m, row_l);
    }
  }
  release_staged();
  if (kTmaO && elected) bulk_wait_all();  // the last stores are complete before the CTA exits
#else
  (void)p;
#endif
}

template <typename T, int D, int BN>
constexpr KernelEntry entry(DType dt) {
  using C = WsTile<T, D, BN>;
  return KernelEntry{FwdConfig{D, dt, C::kBM, BN, C::kThreads / 32, false, C::kThreads, C::kSmem, true},
                     &fwd_sm90_ws_kernel<T, D, BN>, &fwd_sm90_ws_kernel<T, D, BN, false>};
}

using bf = __nv_bfloat16;
using hf = __half;
const KernelEntry kEntries[] = {
    entry<bf, 64, 128>(DType::bf16),  entry<hf, 64, 128>(DType::f16),
    entry<bf, 128, 128>(DType::bf16), entry<hf, 128, 128>(DType::f16),
    entry<bf, 256, 64>(DType::bf16),  entry<hf, 256, 64>(DType::f16),
};
KernelTable g_table(kEntries);

}  // namespace

const FwdConfig* fwd_sm90_ws_configs(int* count) { return g_table.configs(count); }
int fwd_sm90_ws_ctas_per_sm(int config) { return g_table.ctas_per_sm(config); }
cudaError_t launch_fwd_sm90_ws(int config, const FwdParams& p, cudaStream_t stream) {
  return g_table.launch(config, dim3(unsigned(p.persistent_ctas)), p, stream);
}

}  // namespace eft::cuda::detail
