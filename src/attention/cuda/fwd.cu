// Exact softmax attention on the GPU, FlashAttention-2 structure (prefill and flash-decoding).
//
// A CTA owns a row set (see fwd_params.h) and streams the K/V tiles its mask allows through
// double-buffered shared memory (cp.async), computing S = Q K^T and O += P V with
// mma.sync.m16n8k16 (bf16/f16 in, f32 accumulate) fed by ldmatrix, and keeping the online
// softmax (running max m, running sum l) in registers in base-2 units, so the scale folds into
// one multiply before exp2. Whole tiles are skipped with mask_tile(); only partial tiles evaluate
// mask_allows() per element. Nothing O(N^2) is ever stored.
//
// Warp layout: WM x WN warps. Prefill: WN = 1, warp w owns rows [16w, 16w+16) and every key of a
// tile. Decode: WM = 1, all warps own the same (<= 32) rows and warp w takes keys
// [w*BN/WN, (w+1)*BN/WN) of each tile; the WN partial softmax states are merged in shared memory
// at the end. With kv_splits > 1 the key range is cut into splits, one CTA each, and
// merge_kernel combines their (o, lse) partials.
//
// Shared-memory tiles are [rows][D] with the 16-byte chunks of each row XOR-swizzled by row % 8,
// so the eight 16-byte rows an ldmatrix phase reads always fall in distinct banks.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "attention/cuda/fwd_common.cuh"
#include "attention/cuda/kernel_table.h"

namespace eft::cuda::detail {
namespace {

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
template <typename T> struct Mma;
template <> struct Mma<__nv_bfloat16> {
  // d += a (16x16, row) * b (16x8, col)
  static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <> struct Mma<__half> {
  static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// Stages: K/V tiles in shared memory (Stages - 1 in flight while one is read). Prefill uses 2; decode
// has 2- and 3-stage instantiations, the planner choosing by grid size (see plan.cpp).
template <typename T, int D, int BN, int WM, int WN, int MT, int Stages>
struct Tile {
  static constexpr int kStages = Stages;
  static constexpr int kWarps = WM * WN;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBM = WM * MT * 16;   // rows per CTA
  static constexpr int kKPW = BN / WN;       // keys per warp per tile
  static constexpr int kChunks = D / 8;      // 16-byte chunks per row
  static constexpr int kOStride = D + 8;     // f32 merge buffer row stride (padded against conflicts)
  static constexpr size_t kQBytes = size_t(kBM) * D * sizeof(T);
  static constexpr size_t kKVBytes = size_t(kStages) * 2 * BN * D * sizeof(T);  // K, V x kStages
  static constexpr size_t kMergeBytes = WN > 1 ? size_t(WN) * kBM * (kOStride + 2) * sizeof(float) : 0;
  // Decode on a paged cache: the CTA's slice of its block table, staged in shared memory when it
  // has at most kTableCap entries (1024: 16k keys of 16-token blocks), after everything else. The
  // slice is halved while 4 KB would cost a resident CTA per SM on Hopper (the D = 64 2-stage
  // kernel: 6 CTAs of 34 KB + 2 KB fit, of 34 + 4 KB only 5).
  static constexpr size_t kTableOffset = kQBytes + (kKVBytes > kMergeBytes ? kKVBytes : kMergeBytes);
  static constexpr int table_cap() {
    if (WN == 1) return 0;
    int cap = kDecodeTableCap;
    while (cap > 128 && smem_ctas_per_sm(kTableOffset + size_t(cap) * sizeof(int32_t)) < smem_ctas_per_sm(kTableOffset))
      cap /= 2;
    return cap;
  }
  static constexpr int kTableCap = table_cap();
  static constexpr size_t kSmem = kTableOffset + size_t(kTableCap) * sizeof(int32_t);
  static_assert(kKPW % 16 == 0, "each warp takes whole k16 slices of a tile");
  static_assert(kChunks >= 8, "swizzle needs >= 8 chunks per row");
  static_assert(WM == 1 || WN == 1, "warps split either rows or keys");

  // Element offset of chunk `ch` of row `r` in a [rows][D] swizzled tile.
  static __device__ __forceinline__ int swz(int r, int ch) { return r * D + ((ch ^ (r & 7)) << 3); }
};

// AnyMask = false: compiled for the interval masks only (KernelEntry::interval_fn).
template <typename T, int D, int BN, int WM, int WN, int MT, int Stages, bool AnyMask = true>
__global__ void __launch_bounds__(WM * WN * 32) fwd_kernel(const __grid_constant__ FwdParams p) {
  using C = Tile<T, D, BN, WM, WN, MT, Stages>;
  using M = Mma<T>;
  constexpr int BM = C::kBM, KPW = C::kKPW, NT = KPW / 8, DT = D / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);                 // [BM][D]
  T* sK = reinterpret_cast<T*>(smem + C::kQBytes);    // [kStages][BN][D]
  T* sV = sK + C::kStages * BN * D;                   // [kStages][BN][D]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp % WM, warp_n = warp / WM;
  if constexpr (WN > 1) allow_dependent_launch();  // decode: the merge kernel may start its CTAs (it waits for us)
  // The sequence is item.z: its K/V row base is read beside CtaWork's metadata (one round trip,
  // not two, before the first tile's copies). Decode grids have no tile order (tail_x = 0): their
  // kernels skip its code and registers.
  const int3 item = WN > 1 ? make_int3(int(blockIdx.x), int(blockIdx.y), int(blockIdx.z)) : grid_item(p);
  const KvRows kv_rows(p.kv, p.block_shift, item.z);
  CtaWork w;
  if (!w.init_at(p, BN, item.x, item.y, item.z)) return;

  // ---- Q row set -> shared memory (zeros for rows outside the set) -------------------------------
  const T* gq = static_cast<const T*>(p.q);
  for (int c = tid; c < BM * C::kChunks; c += C::kThreads) {
    const int r = c / C::kChunks, ch = c % C::kChunks;
    const int t = r / p.heads_per_cta, g = r % p.heads_per_cta;
    const bool ok = t < w.n_tok && g < w.nh;
    const T* src = ok ? gq + int64_t(w.q0 + w.tok0 + t) * p.q_stride + int64_t(w.head0 + g) * D + ch * 8 : gq;
    cp_async16(sQ + C::swz(r, ch), src, ok);
  }
  cp_async_commit();

  // Paged decode: the block ids of the CTA's key range copied to shared memory once, so that the
  // tile copies below read them there instead of waiting on a dependent global read per row (the
  // paged kernels ran 0-9 % behind contiguous ones with the global reads, H200 2026-11-28).
  StagedRows staged;
  bool table_staged = false;
  if constexpr (C::kTableCap > 0)
    table_staged = kv_rows.stage_table(reinterpret_cast<int32_t*>(smem + C::kTableOffset), C::kTableCap,
                                       w.kt_begin * BN, min(w.kt_end * BN, w.kv_len) - 1, tid, C::kThreads, staged);

  const T* gk = static_cast<const T*>(p.k);
  const T* gv = static_cast<const T*>(p.v);
  // Thread t copies 16-byte chunk t % kChunks of rows t / kChunks + k * kRowStep of each tile.
  constexpr int kRowStep = C::kThreads / C::kChunks, kPasses = BN / kRowStep;
  static_assert(C::kThreads % C::kChunks == 0 && BN % kRowStep == 0, "whole rows per pass");
  const int ld_ch = tid % C::kChunks, ld_r0 = tid / C::kChunks;
  auto load_kv = [&](int j, int buf) {
    T* dk = sK + buf * BN * D;
    T* dv = sV + buf * BN * D;
    const int64_t col = int64_t(w.kvh) * D + ld_ch * 8;
    // One copy loop for both row lookups; each call site compiles it with its own (a lookup behind
    // a run-time flag inside the loop would read the staged slice through generic loads: 5 %
    // slower at batch 1 x 32k paged, H200 2026-11-28).
    auto copy_rows = [&](const auto& row_of) {
#pragma unroll
      for (int k = 0; k < kPasses; ++k) {
        const int r = ld_r0 + k * kRowStep, key = j * BN + r;
        const bool ok = key < w.kv_len;
        const int64_t off = ok ? row_of(key) * p.kv_stride + col : 0;
        cp_async16(dk + C::swz(r, ld_ch), gk + off, ok);
        cp_async16(dv + C::swz(r, ld_ch), gv + off, ok);
      }
    };
    if (table_staged)
      copy_rows(staged);
    else
      copy_rows(kv_rows);
  };

  // Per-thread softmax state: this thread holds rows lane/4 and lane/4 + 8 of each m16 tile.
  float o_acc[MT][DT][4];
  float row_m[MT][2], row_l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o_acc[mt][dt][0] = o_acc[mt][dt][1] = o_acc[mt][dt][2] = o_acc[mt][dt][3] = 0.f;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      row_m[mt][h] = -INFINITY;
      row_l[mt][h] = 0.f;
    }
  }

  const int row0 = warp_m * MT * 16;  // this warp's first row of the set
  // The next kStages tiles to visit: seq[0] is computed now, seq[1 ..] are in flight (stage
  // (buf + s) % kStages holds seq[s]); one cp.async group per tile, committed even when empty so
  // that "all but the kStages - 1 latest groups" always means "Q and seq[0]".
  constexpr int S = C::kStages;
  int seq[S];
  seq[0] = w.template next_tile<AnyMask>(p, w.kt_begin, BN);
#pragma unroll
  for (int s = 1; s < S; ++s) seq[s] = w.template next_tile<AnyMask>(p, seq[s - 1] + 1, BN);
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (seq[s] < w.kt_end) load_kv(seq[s], s);
    cp_async_commit();
  }
  int buf = 0;
  while (seq[0] < w.kt_end) {
    const int j = seq[0];
    int issue = buf + S - 1;  // the stage of tile seq[S - 1], free since the last iteration's barrier
    if (issue >= S) issue -= S;
    if (seq[S - 1] < w.kt_end) load_kv(seq[S - 1], issue);
    cp_async_commit();
    cp_async_wait<S - 1>();  // everything but the S - 1 latest groups has landed (Q and tile j)
    __syncthreads();

    const T* tK = sK + buf * BN * D;
    const T* tV = sV + buf * BN * D;

    // S = Q K^T for this warp's rows x keys: s[mt][nt] is an m16n8 accumulator.
    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int r = (warp_m * MT + mt) * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4(a[mt], sQ + C::swz(r, 2 * kk + (lane >> 4)));
      }
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        const int r = warp_n * KPW + np * 16 + (lane & 7) + (lane >> 4) * 8;
        ldmatrix_x4(b, tK + C::swz(r, 2 * kk + ((lane >> 3) & 1)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::run(s[mt][2 * np], a[mt], b[0], b[1]);
          M::run(s[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }

    const float sc = softcap_scores(s, p);
    if (w.template tile_state<AnyMask>(p, j, BN) == TileState::partial)
      mask_partial<MT, NT, AnyMask>(s, p, w, row0, j * BN + warp_n * KPW + (lane & 3) * 2);
    float alpha[MT][2];
    online_softmax(s, row_m, row_l, alpha, sc);
    rescale_rows(o_acc, alpha);

    // O += P V: the S accumulator layout of two n8 tiles is exactly the A layout of one k16 slice.
#pragma unroll
    for (int ks = 0; ks < KPW / 16; ++ks) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        a[mt][0] = pack2<T>(s[mt][2 * ks][0], s[mt][2 * ks][1]);
        a[mt][1] = pack2<T>(s[mt][2 * ks][2], s[mt][2 * ks][3]);
        a[mt][2] = pack2<T>(s[mt][2 * ks + 1][0], s[mt][2 * ks + 1][1]);
        a[mt][3] = pack2<T>(s[mt][2 * ks + 1][2], s[mt][2 * ks + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        const int r = warp_n * KPW + ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4_trans(b, tV + C::swz(r, 2 * dp + (lane >> 4)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::run(o_acc[mt][2 * dp], a[mt], b[0], b[1]);
          M::run(o_acc[mt][2 * dp + 1], a[mt], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // all warps are done with `buf` before a later iteration refills it
#pragma unroll
    for (int s = 0; s + 1 < S; ++s) seq[s] = seq[s + 1];
    seq[S - 1] = w.template next_tile<AnyMask>(p, seq[S - 2] + 1, BN);
    if (++buf == S) buf = 0;
  }
  cp_async_wait<0>();

  // ---- epilogue -------------------------------------------------------------------------------
  if constexpr (WN == 1) {
    store_rows(p, w, row0, o_acc, row_m, row_l);
  } else {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        row_l[mt][h] += __shfl_xor_sync(0xffffffffu, row_l[mt][h], 1);
        row_l[mt][h] += __shfl_xor_sync(0xffffffffu, row_l[mt][h], 2);
      }
    // Merge the WN warps' states for the same rows through shared memory (K/V tiles are free now).
    float* sO = reinterpret_cast<float*>(smem + C::kQBytes);  // [WN][BM][D+8]
    float* sM = sO + WN * BM * C::kOStride;                    // [WN][BM]
    float* sL = sM + WN * BM;                                  // [WN][BM]
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        if ((lane & 3) == 0) {
          const int r = mt * 16 + (lane >> 2) + 8 * h;
          sM[warp_n * BM + r] = row_m[mt][h];
          sL[warp_n * BM + r] = row_l[mt][h];
        }
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = mt * 16 + (lane >> 2) + 8 * h;
        float mall = -INFINITY;
        for (int i = 0; i < WN; ++i) mall = fmaxf(mall, sM[i * BM + r]);
        const float mu = mall == -INFINITY ? 0.f : mall;
        float lall = 0.f;
        for (int i = 0; i < WN; ++i) lall += sL[i * BM + r] * fast_exp2(sM[i * BM + r] - mu);
        const float f = lall > 0.f ? fast_exp2(row_m[mt][h] - mu) / lall : 0.f;
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
          float* dst = sO + (warp_n * BM + r) * C::kOStride + dt * 8 + (lane & 3) * 2;
          *reinterpret_cast<float2*>(dst) = make_float2(o_acc[mt][dt][2 * h] * f, o_acc[mt][dt][2 * h + 1] * f);
        }
        if (warp_n == 0 && (lane & 3) == 0) w.emit_lse(p, r, lall > 0.f ? mall * kLn2 + logf(lall) : -INFINITY);
      }
    __syncthreads();
    // Sum the WN warps' rows: kTpr threads per row, each a run of kPairs adjacent column pairs,
    // so a thread works out its row's destination once (not per pair).
    constexpr int kTpr = C::kThreads / BM, kPairs = D / 2 / kTpr;
    static_assert(C::kThreads % BM == 0 && (D / 2) % kTpr == 0, "whole runs of pairs per thread");
    const int r = tid / kTpr, c0 = (tid % kTpr) * kPairs * 2;
    int64_t tok;
    int head;
    if (w.row_dest(p, r, tok, head)) {
      float sum[2 * kPairs];
#pragma unroll
      for (int k = 0; k < 2 * kPairs; k += 2) {
        float a = 0.f, b = 0.f;
#pragma unroll
        for (int i = 0; i < WN; ++i) {
          const float2 v = *reinterpret_cast<const float2*>(sO + (i * BM + r) * C::kOStride + c0 + k);
          a += v.x;
          b += v.y;
        }
        sum[k] = a;
        sum[k + 1] = b;
      }
      const int64_t row = tok * p.q_heads + head;
      auto put = [&](auto* dst) {
#pragma unroll
        for (int k = 0; k < 2 * kPairs; k += 2) store_pair(dst + k, sum[k], sum[k + 1]);
      };
      if (p.kv_splits > 1) put(p.part_o + (row * p.kv_splits + w.split) * D + c0);
      else with_output(p, tok * p.o_stride + int64_t(head) * D + c0, put);
    }
  }
}

// One CTA of kMergeWarps warps per (token, head): o = sum_i exp(lse_i - lse) o_i,
// lse = log sum_i exp(lse_i). Warp w takes splits w, w + kMergeWarps, ... (at most kMergePerWarp)
// and the warps' sums meet in shared memory. The kernel is a few L2 round trips long, so it is
// written to have as few as possible: each lane issues all its partial-o loads first (independent
// 16-byte loads, predicated past the last split), then the split lse values (two per lane) while
// those are in flight, and takes each split's weight from the lane that holds its lse by a
// shuffle instead of a reload: two round trips for head_dim <= 128. Batch-1 decode cuts one row's
// keys into up to 64 splits: one warp walking them measured ~9 us on an H200, four warps with
// four loads in flight each 6.2 us, this version 3.9-4.1 us (ncu, batch 1 x 32k, 33 splits).
// kPerWarp (splits per warp, S <= kMergeWarps * kPerWarp) is compiled for 1, 4 and 16: the
// 16-load version for every S ran 4 % slower at S = 2 (batch 16 x 1k), its registers taking room
// from the attention CTAs that the early-launched merge CTAs share the SMs with.
constexpr int kMergeWarps = 4;
constexpr int kMergeMaxD = 256;
static_assert(kMergeMaxSplits <= 64, "two lse values per lane");
template <int kMergePerWarp>
__global__ void __launch_bounds__(kMergeWarps * 32) merge_kernel(const __grid_constant__ FwdParams p, int D) {
  __shared__ float4 s_acc[kMergeWarps][kMergeMaxD / 4];
  wait_for_prior_grid();  // launched early (programmatic dependent launch): the partials are complete after this
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x;
  const int S = p.kv_splits;
  const float* po = p.part_o + row * S * D;  // [S, D]
  float4 v[kMergePerWarp];                   // this lane's 4 columns of splits warp + k * kMergeWarps
  auto load = [&](int c) {
#pragma unroll
    for (int k = 0; k < kMergePerWarp; ++k) {
      const int i = warp + k * kMergeWarps;
      v[k] = c < D && i < S ? *reinterpret_cast<const float4*>(po + int64_t(i) * D + c) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  load(lane * 4);
  const float* lse = p.part_lse + row * S;  // [S]
  const float l0 = lane < S ? lse[lane] : -INFINITY;
  const float l1 = lane + 32 < S ? lse[lane + 32] : -INFINITY;
  float mx = fmaxf(l0, l1);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const float mu = mx == -INFINITY ? 0.f : mx;
  const float e0 = __expf(l0 - mu), e1 = __expf(l1 - mu);  // exp(-inf) = 0: empty splits drop out
  float wsum = e0 + e1;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) wsum += __shfl_xor_sync(0xffffffffu, wsum, o);
  const float inv = wsum > 0.f ? 1.f / wsum : 0.f;
  float w[kMergePerWarp];  // weight of split warp + k * kMergeWarps (0 past the last split)
#pragma unroll
  for (int k = 0; k < kMergePerWarp; ++k) {
    const int i = warp + k * kMergeWarps;  // the same for the whole warp: the shuffle is uniform
    w[k] = __shfl_sync(0xffffffffu, i < 32 ? e0 : e1, i & 31) * inv;
  }
  for (int c = lane * 4; c < D; c += 128) {
    if (c != lane * 4) load(c);  // head_dim 256: the second half of the row
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int k = 0; k < kMergePerWarp; ++k) {
      acc.x += w[k] * v[k].x;
      acc.y += w[k] * v[k].y;
      acc.z += w[k] * v[k].z;
      acc.w += w[k] * v[k].w;
    }
    s_acc[warp][c / 4] = acc;
  }
  __syncthreads();
  const int64_t tok = row / p.q_heads;
  const int head = int(row % p.q_heads);
  for (int c4 = threadIdx.x; c4 < D / 4; c4 += kMergeWarps * 32) {
    float4 a = s_acc[0][c4];
#pragma unroll
    for (int w = 1; w < kMergeWarps; ++w) {
      const float4 b = s_acc[w][c4];
      a.x += b.x;
      a.y += b.y;
      a.z += b.z;
      a.w += b.w;
    }
    with_output(p, tok * p.o_stride + int64_t(head) * D + c4 * 4, [&](auto* dst) {
      store_pair(dst, a.x, a.y);
      store_pair(dst + 2, a.z, a.w);
    });
  }
  if (threadIdx.x == 0 && p.lse) p.lse[row] = wsum > 0.f ? mu + logf(wsum) : -INFINITY;
}

// ---- the table of instantiations: every compiled combination is listed here ---------------------
// Decode instantiations (WN > 1) come with an interval-mask copy as well (KernelEntry::interval_fn).
template <typename T, int D, int BN, int WM, int WN, int MT, int Stages = 2>
constexpr KernelEntry entry(DType dt) {
  using C = Tile<T, D, BN, WM, WN, MT, Stages>;
  FwdKernel interval = nullptr;
  if constexpr (WN > 1) interval = &fwd_kernel<T, D, BN, WM, WN, MT, Stages, false>;
  return KernelEntry{FwdConfig{D, dt, C::kBM, BN, C::kWarps, WN > 1, C::kThreads, C::kSmem, false, Stages, C::kTableCap},
                     &fwd_kernel<T, D, BN, WM, WN, MT, Stages>, interval};
}

using bf = __nv_bfloat16;
using hf = __half;
// prefill: WM warps own 16*MT rows each (two m16 tiles per warp halve the K/V ldmatrix per mma);
// decode: 4 warps split each 64-key tile, 16 or 32 rows, with 2 K/V stages (split grids) or 3
// (unsplit grids of a wave or more; plan.cpp says when).
const KernelEntry kEntries[] = {
    entry<bf, 64, 64, 4, 1, 2>(DType::bf16),  entry<hf, 64, 64, 4, 1, 2>(DType::f16),
    entry<bf, 128, 64, 4, 1, 2>(DType::bf16), entry<hf, 128, 64, 4, 1, 2>(DType::f16),
    entry<bf, 256, 32, 4, 1, 1>(DType::bf16), entry<hf, 256, 32, 4, 1, 1>(DType::f16),
    entry<bf, 64, 64, 1, 4, 1>(DType::bf16),  entry<hf, 64, 64, 1, 4, 1>(DType::f16),
    entry<bf, 64, 64, 1, 4, 2>(DType::bf16),  entry<hf, 64, 64, 1, 4, 2>(DType::f16),
    entry<bf, 128, 64, 1, 4, 1>(DType::bf16), entry<hf, 128, 64, 1, 4, 1>(DType::f16),
    entry<bf, 128, 64, 1, 4, 2>(DType::bf16), entry<hf, 128, 64, 1, 4, 2>(DType::f16),
    entry<bf, 256, 64, 1, 4, 1>(DType::bf16), entry<hf, 256, 64, 1, 4, 1>(DType::f16),
    entry<bf, 64, 64, 1, 4, 1, 3>(DType::bf16),  entry<hf, 64, 64, 1, 4, 1, 3>(DType::f16),
    entry<bf, 64, 64, 1, 4, 2, 3>(DType::bf16),  entry<hf, 64, 64, 1, 4, 2, 3>(DType::f16),
    entry<bf, 128, 64, 1, 4, 1, 3>(DType::bf16), entry<hf, 128, 64, 1, 4, 1, 3>(DType::f16),
    entry<bf, 128, 64, 1, 4, 2, 3>(DType::bf16), entry<hf, 128, 64, 1, 4, 2, 3>(DType::f16),
    entry<bf, 256, 64, 1, 4, 1, 3>(DType::bf16), entry<hf, 256, 64, 1, 4, 1, 3>(DType::f16),
    // Narrow tiles for grids that one wave of four CTAs per SM holds (plan.cpp): 32 keys, 2 warps.
    entry<bf, 128, 32, 1, 2, 1, 3>(DType::bf16), entry<hf, 128, 32, 1, 2, 1, 3>(DType::f16),
};
KernelTable g_table(kEntries);
// The table slices that fit (Tile::table_cap): 4 KB everywhere but the D = 64 2-stage kernels.
static_assert(Tile<bf, 128, 64, 1, 4, 1, 2>::kTableCap == 1024 && Tile<bf, 128, 64, 1, 4, 2, 3>::kTableCap == 1024);
static_assert(Tile<bf, 64, 64, 1, 4, 1, 2>::kTableCap == 512 && Tile<bf, 64, 64, 1, 4, 2, 2>::kTableCap == 512);
static_assert(Tile<bf, 64, 64, 1, 4, 1, 3>::kTableCap == 1024 && Tile<bf, 256, 64, 1, 4, 1, 3>::kTableCap == 1024);
static_assert(smem_ctas_per_sm(Tile<bf, 128, 32, 1, 2, 1, 3>::kSmem) == 4,
              "the narrow decode kernel is there for four CTAs per SM");

}  // namespace

const FwdConfig* fwd_configs(int* count) { return g_table.configs(count); }
int fwd_ctas_per_sm(int config) { return g_table.ctas_per_sm(config); }
cudaError_t launch_fwd(int config, const FwdParams& p, int n_seqs, cudaStream_t stream) {
  const dim3 grid(unsigned(p.q_tiles * p.kv_splits), unsigned(p.kv_heads * p.head_chunks), unsigned(n_seqs));
  return g_table.launch(config, grid, p, stream);
}

cudaError_t launch_merge(const FwdParams& p, int64_t q_tokens, int head_dim, bool early_launch, cudaStream_t stream) {
  if (p.kv_splits > kMergeMaxSplits || head_dim > kMergeMaxD) return cudaErrorInvalidValue;
  const int64_t rows = q_tokens * p.q_heads;
  if (rows == 0) return cudaSuccess;
  if (rows > int64_t(0x7fffffff)) return cudaErrorInvalidValue;
  // Programmatic dependent launch (sm_90+): the merge grid is set up while the attention grid
  // still runs, instead of after it, and its CTAs wait in wait_for_prior_grid().
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(unsigned(rows));
  cfg.blockDim = dim3(kMergeWarps * 32);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = early_launch ? 1 : 0;
  const int S = p.kv_splits;
  static_assert(kMergeWarps * 16 == kMergeMaxSplits, "the widest merge instantiation covers every split count");
  if (S <= kMergeWarps) return cudaLaunchKernelEx(&cfg, merge_kernel<1>, p, head_dim);
  if (S <= kMergeWarps * 4) return cudaLaunchKernelEx(&cfg, merge_kernel<4>, p, head_dim);
  return cudaLaunchKernelEx(&cfg, merge_kernel<16>, p, head_dim);
}

}  // namespace eft::cuda::detail
