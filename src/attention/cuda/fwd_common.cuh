#pragma once
// Device code shared by the two attention main loops: fwd.cu (mma.sync, sm_80+) and fwd_sm90.cu
// (wgmma, sm_90a). Both keep, per thread, the accumulators of whole m16n8 tiles in the mma.sync
// C layout (a wgmma m64nN accumulator is, per warp, exactly N/8 such tiles), so the masking, the
// online softmax and the epilogue below serve both: s[mt][nt][e] is the score of row
// row0 + 16 mt + lane/4 + 8 (e/2) and key key_base + 8 nt + (e%2), where key_base already holds
// this thread's column offset 2 (lane%4).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attention/cuda/fwd_params.h"
#include "eft/mask.h"

namespace eft::cuda::detail {

constexpr float kLn2 = 0.6931471805599453f;

// ---- small PTX wrappers ---------------------------------------------------------------------
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16-byte global -> shared copy; when !valid the destination is zero-filled (src-size 0), which
// is how rows past the end of a sequence become harmless zeros instead of garbage.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  cp_async16(smem_addr(dst), src, valid);
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
// Programmatic dependent launch (sm_90+; no-ops before, and when the launch did not ask for it):
// a grid lets the next one in the stream start early; the next one waits for it to finish.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ float fast_exp2(float x) {  // ex2.approx(-inf) = +0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats -> one register of two 16-bit values (low half first), the MMA A-operand packing.
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Rows of K/V from a paged CTA's slice of its block table, copied to shared memory by
// KvRows::stage_table: the lookups read the copy (ld.shared, visible as such to the compiler
// since `slice` comes from the kernel's shared array) instead of a dependent global load per row.
struct StagedRows {
  const int32_t* slice = nullptr;  // [n] block ids of blocks lo .. lo + n - 1 (shared memory)
  int lo = 0, shift = 0;
  __device__ __forceinline__ int64_t operator()(int key) const {
    return (int64_t(slice[(key >> shift) - lo]) << shift) + (key & ((1 << shift) - 1));
  }
};

// Row of K/V for key `key` of one sequence (int32 index math: keys < 2^31). Built once per CTA so
// the tile loads do no per-chunk lookups of kv_start; power-of-two block sizes (the usual
// 16..256) use shifts instead of integer division.
struct KvRows {
  int64_t base = 0;               // contiguous: kv_start[s]
  const int32_t* table = nullptr; // paged: block_table row of the sequence
  int block_size = 0, shift = -1;
  __device__ __forceinline__ KvRows(const KvView& kv, int shift_, int s) {
    if (kv.layout == KvLayout::contiguous) {
      base = kv.kv_start[s];
    } else {
      table = kv.block_table + int64_t(s) * kv.max_blocks;
      block_size = kv.block_size;
      shift = shift_;
    }
  }
  __device__ __forceinline__ int64_t operator()(int key) const {
    if (!table) return base + key;
    if (shift >= 0) return (int64_t(table[key >> shift]) << shift) + (key & ((1 << shift) - 1));
    return int64_t(table[key / block_size]) * block_size + key % block_size;
  }
  // Copies the block ids of keys [key_lo, key_hi] to `slice` (shared memory, `cap` ids) with the
  // `threads` threads of the CTA (thread `tid`) and points `staged` at the copy. Paged caches with
  // power-of-two blocks only, and only when the slice fits; returns whether it staged. The
  // condition is uniform over the CTA, so the barrier inside it is reached by all or none.
  __device__ __forceinline__ bool stage_table(int32_t* slice, int cap, int key_lo, int key_hi, int tid, int threads,
                                              StagedRows& staged) const {
    if (!table || shift < 0 || key_hi < key_lo) return false;
    const int lo = key_lo >> shift, n = (key_hi >> shift) - lo + 1;
    if (n > cap) return false;
    for (int i = tid; i < n; i += threads) slice[i] = table[lo + i];
    __syncthreads();
    staged = StagedRows{slice, lo, shift};
    return true;
  }
};

// The work item (x, y, z) of a non-persistent grid's CTA: its block index, or under a tile order
// (p.tail_x > 0, fwd_params.h scheduled_item) the item that order gives the block's place in the
// launch order (x fastest, the order in which the hardware starts blocks), so that the plain grids
// too end on the lightest query tiles of every head rather than on the last heads' heaviest.
// Grid coordinates (x, y, z) of item number `item` of a grid x_count wide and y_count high,
// numbered x fastest (as the hardware walks a grid).
__device__ __forceinline__ int3 item_xyz(int item, int x_count, int y_count) {
  return make_int3(item % x_count, (item / x_count) % y_count, item / (x_count * y_count));
}

__device__ __forceinline__ int3 grid_item(const FwdParams& p) {
  if (p.tail_x == 0) return make_int3(int(blockIdx.x), int(blockIdx.y), int(blockIdx.z));
  const int x_count = int(gridDim.x), y_count = int(gridDim.y);
  const int linear = int(blockIdx.x) + x_count * (int(blockIdx.y) + y_count * int(blockIdx.z));
  return item_xyz(scheduled_item(linear, x_count, y_count * int(gridDim.z), p.tail_x), x_count, y_count);
}

// Conservative key interval [lo, hi] any query in positions [q_lo, q_hi] may see (before the
// per-tile test): lets causal / window masks start and stop the tile loop without scanning.
__device__ __forceinline__ void key_bounds(const Mask& m, int64_t q_lo, int64_t q_hi, int64_t& lo, int64_t& hi) {
  switch (m.type) {
    case MaskType::none: break;
    case MaskType::causal: hi = min(hi, q_hi); break;
    case MaskType::window:
      if (m.left >= 0) lo = max(lo, q_lo - m.left);
      if (m.right >= 0) hi = min(hi, q_hi + m.right);
      break;
    default:
      if (m.causal) hi = min(hi, q_hi);
      break;
  }
}

// What one CTA works on: its sequence, query tokens, query heads and key tiles. Both main loops
// build it the same way from the grid position, so they agree on which CTA does what.
struct CtaWork {
  int seq = 0, split = 0;
  int32_t q0 = 0, q_len = 0, kv_len = 0;  // sequence's first Q row, its query and key counts
  int tok0 = 0, n_tok = 0;                // this CTA's tokens [tok0, tok0 + n_tok) of the sequence
  int kvh = 0, head0 = 0, nh = 0;         // KV head, first query head, query heads in the set
  int64_t pos0 = 0, q_lo = 0, q_hi = 0;   // position of token 0; of this CTA's first/last token
  int kt_begin = 0, kt_end = 0;           // key tiles [begin, end) this CTA (split) visits

  // The same work as item number `item` of a persistent CTA's list, numbered as the hardware
  // walks a grid (x fastest): the CTAs running at once then share the K/V of a few heads in L2
  // (numbering heads fastest measured 4-14 % slower: every CTA streamed a different head).
  // `prev` (optional): an item decoded before; its sequence's metadata is reused when the item is
  // of the same sequence, instead of read from global memory again.
  __device__ __forceinline__ bool init_item(const FwdParams& p, int BN, int item, const CtaWork* prev = nullptr) {
    const int3 c = item_xyz(item, p.q_tiles * p.kv_splits, p.kv_heads * p.head_chunks);
    return init_at(p, BN, c.x, c.y, c.z, prev);
  }
  // Work item (x, y, z) of the grid (q_tiles * kv_splits, kv_heads * head_chunks, n_seqs; see
  // grid_item): false when it has no rows (the grid is sized for the longest sequence).
  __device__ __forceinline__ bool init_at(const FwdParams& p, int BN, int x, int y, int z,
                                          const CtaWork* prev = nullptr) {
    seq = z;
    if (prev && prev->seq == seq) {
      q0 = prev->q0;
      q_len = prev->q_len;
      kv_len = prev->kv_len;
      pos0 = prev->pos0;
    } else {
      q0 = p.batch.q_start[seq];
      q_len = p.batch.q_start[seq + 1] - q0;
      kv_len = p.batch.kv_len[seq];
      pos0 = p.batch.q_pos0 ? int64_t(p.batch.q_pos0[seq]) : int64_t(kv_len) - q_len;
    }
    split = x % p.kv_splits;
    // Heaviest query tiles (latest positions, most keys under causal) come first.
    const int qtile = p.q_tiles - 1 - x / p.kv_splits;
    tok0 = qtile * p.tokens_per_cta;
    if (tok0 >= q_len) return false;
    n_tok = min(p.tokens_per_cta, q_len - tok0);
    kvh = y / p.head_chunks;
    const int hc = y % p.head_chunks;
    head0 = kvh * p.group + hc * p.heads_per_cta;
    nh = min(p.heads_per_cta, p.group - hc * p.heads_per_cta);
    q_lo = pos0 + tok0;
    q_hi = pos0 + tok0 + n_tok - 1;
    int64_t k_lo = 0, k_hi = int64_t(kv_len) - 1;
    key_bounds(p.mask, q_lo, q_hi, k_lo, k_hi);
    kt_begin = kt_end = 0;
    if (k_hi >= k_lo) {
      const int t0 = int(k_lo / BN), t1 = int(k_hi / BN) + 1;
      const int per = (t1 - t0 + p.kv_splits - 1) / p.kv_splits;
      kt_begin = min(t1, t0 + split * per);
      kt_end = min(t1, kt_begin + per);
    }
    return true;
  }
  // AnyMask = false: an instantiation for the interval masks only (none / causal / window; the
  // launch picks it for those, kernel_table.h), without the other masks' code.
  template <bool AnyMask = true>
  __device__ __forceinline__ TileState tile_state(const FwdParams& p, int j, int BN) const {
    const int64_t lo = int64_t(j) * BN, hi = min(lo + BN, int64_t(kv_len)) - 1;
    TileState s = AnyMask ? mask_tile(p.mask, q_lo, q_hi, lo, hi) : interval_mask_tile(p.mask, q_lo, q_hi, lo, hi);
    if (s == TileState::full && lo + BN > kv_len) s = TileState::partial;  // ragged end
    return s;
  }
  // First tile >= j that the mask does not empty entirely (kt_end when none), and its state.
  template <bool AnyMask = true>
  __device__ __forceinline__ int next_tile(const FwdParams& p, int j, int BN, TileState& st) const {
    for (; j < kt_end; ++j) {
      st = tile_state<AnyMask>(p, j, BN);
      if (st != TileState::empty) break;
    }
    return j;
  }
  template <bool AnyMask = true>
  __device__ __forceinline__ int next_tile(const FwdParams& p, int j, int BN) const {
    TileState st;
    return next_tile<AnyMask>(p, j, BN, st);
  }
  // Where row r of the set goes: Q/O row and head, or false if r is padding.
  __device__ __forceinline__ bool row_dest(const FwdParams& p, int r, int64_t& tok, int& head) const {
    const int t = r / p.heads_per_cta, g = r % p.heads_per_cta;
    tok = int64_t(q0) + tok0 + t;
    head = head0 + g;
    return t < n_tok && g < nh;
  }
  // Writes row (tok, head)'s LSE: to the output's lse (if asked for) in one pass, to its split's
  // partial otherwise. The one place every epilogue writes an LSE.
  __device__ __forceinline__ void emit_lse_at(const FwdParams& p, int64_t tok, int head, float lse) const {
    const int64_t row = tok * p.q_heads + head;
    if (p.kv_splits == 1) {
      if (p.lse) p.lse[row] = lse;
    } else {
      p.part_lse[row * p.kv_splits + split] = lse;
    }
  }
  __device__ __forceinline__ void emit_lse(const FwdParams& p, int r, float lse) const {
    int64_t tok;
    int head;
    if (row_dest(p, r, tok, head)) emit_lse_at(p, tok, head, lse);
  }
};

// Soft-cap (rare) maps the raw scores to base-2 logits, behind a uniform branch. Returns the
// factor the exponent's FFMA applies: without softcap the scores stay raw and the scale folds into
// p = exp2(s * scale_log2 - m) (m in base-2 units; scale > 0, so max commutes with it).
template <int MT, int NT>
__device__ __forceinline__ float softcap_scores(float (&s)[MT][NT][4], const FwdParams& p) {
  if (p.softcap_log2 > 0.f) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] = p.softcap_log2 * tanhf(s[mt][nt][e] * p.scale_over_cap);
    return 1.f;
  }
  return p.scale_log2;
}

// Sets the masked scores of a partial tile to -inf. row0: this warp's first row of the set;
// key_base: key of this thread's element (nt = 0, e = 0).
template <int MT, int NT, bool AnyMask = true>
__device__ __forceinline__ void mask_partial(float (&s)[MT][NT][4], const FwdParams& p, const CtaWork& w, int row0,
                                             int key_base) {
  constexpr int KPW = NT * 8;
  const int lane = threadIdx.x & 31;
  if (!AnyMask || interval_mask(p.mask.type)) {
    // Cheap predicates (ragged end, causal, window): each row allows one contiguous key interval,
    // so compute it once per row relative to this thread's first key and test each element with
    // two int32 compares against compile-time offsets nt * 8 + e.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = row0 + mt * 16 + (lane >> 2) + 8 * h;
        const int64_t pos = min(w.q_lo + r / p.heads_per_cta, w.q_hi);
        int64_t lo = 0, hi = int64_t(w.kv_len) - 1;
        if (p.mask.type == MaskType::causal) hi = min(hi, pos);
        if (p.mask.type == MaskType::window) {
          if (p.mask.left >= 0) lo = max(lo, pos - p.mask.left);
          if (p.mask.right >= 0) hi = min(hi, pos + p.mask.right);
        }
        // Relative bounds, clamped into [-1, KPW] so they fit int32 whatever the positions.
        const int lo_rel = int(max(int64_t(-1), min(int64_t(KPW), lo - key_base)));
        const int hi_rel = int(max(int64_t(-1), min(int64_t(KPW), hi - key_base)));
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int k = nt * 8 + e;
            if (k < lo_rel || k > hi_rel) s[mt][nt][2 * h + e] = -INFINITY;
          }
      }
    return;
  }
  if constexpr (AnyMask) {
    // Other masks: evaluate the predicate once per element in a rolled loop (one copy of
    // mask_allows in the code, not MT*NT*4 inlined ones), collecting one bit per element, then
    // apply the bits with compile-time register indices.
    static_assert(MT * 4 * NT <= 64, "allowed-bits word holds this thread's elements of a tile");
    uint64_t allowed = 0;
#pragma unroll 1
    for (int i = 0; i < MT * 4 * NT; ++i) {
      const int mt = i / (4 * NT), h = (i / (2 * NT)) & 1, b = i % (2 * NT);  // b = nt * 2 + e
      const int r = row0 + mt * 16 + (lane >> 2) + 8 * h;
      const int64_t pos = min(w.q_lo + r / p.heads_per_cta, w.q_hi);
      const int key = key_base + (b >> 1) * 8 + (b & 1);
      if (key < w.kv_len && mask_allows(p.mask, pos, key)) allowed |= uint64_t(1) << i;
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e)
            if (!((allowed >> (mt * 4 * NT + h * 2 * NT + nt * 2 + e)) & 1)) s[mt][nt][2 * h + e] = -INFINITY;
  }
}

// Reduces v[0..N) (N a power of two) pairwise, log2(N) levels deep; v is clobbered.
template <int N, typename Op>
__device__ __forceinline__ float tree_reduce(float* v, Op op) {
  if constexpr (N == 1) {
    return v[0];
  } else {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) v[i] = op(v[i], v[i + N / 2]);
    return tree_reduce<N / 2>(v, op);
  }
}

// Online softmax over one tile, per row (this thread's rows lane/4 and lane/4 + 8 of each m16
// tile; the four threads of a quad share a row): updates the running max m (base 2) and the
// per-thread partial sum l, turns s into P, and returns in alpha the factor the output
// accumulators must be rescaled by (rescale_rows) — separate, so that a main loop can apply it
// after an MMA still accumulating into them has finished.
// Lazy (the warp-specialized loop): a row keeps its running max while the tile's max exceeds it by
// at most kLazyRescale (base 2), so alpha is exactly 1 and rescale_rows<..., true> skips the row;
// P then reaches at most 2^kLazyRescale = 256 (far inside the 16-bit types' range; l and O in f32).
// The idea is FlashAttention-4's conditional rescaling.
constexpr float kLazyRescale = 8.f;
template <int MT, int NT, bool Lazy = false>
__device__ __forceinline__ void online_softmax(float (&s)[MT][NT][4], float (&row_m)[MT][2], float (&row_l)[MT][2],
                                               float (&alpha)[MT][2], float sc) {
  static_assert((NT & (NT - 1)) == 0, "tree reductions over a power-of-two count of n8 tiles");
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      // Max and sum as trees, not chains: with few warps per scheduler a chain of NT dependent
      // FMNMX/FADD would leave the issue slots idle for its whole latency.
      float part[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) part[nt] = fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]);
      float mx = tree_reduce<NT>(part, [](float a, float b) { return fmaxf(a, b); });
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_max = fmaxf(row_m[mt][h], mx * sc);
      // (row_m = -inf: the difference is inf or NaN, never <= kLazyRescale: the max is taken.)
      const float m_new = Lazy && m_max - row_m[mt][h] <= kLazyRescale ? row_m[mt][h] : m_max;
      const float m_use = m_new == -INFINITY ? 0.f : m_new;  // all masked so far: avoid inf - inf
      alpha[mt][h] = fast_exp2(row_m[mt][h] - m_use);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const float p0 = fast_exp2(fmaf(s[mt][nt][2 * h], sc, -m_use));
        const float p1 = fast_exp2(fmaf(s[mt][nt][2 * h + 1], sc, -m_use));
        s[mt][nt][2 * h] = p0;
        s[mt][nt][2 * h + 1] = p1;
        part[nt] = p0 + p1;
      }
      const float sum = tree_reduce<NT>(part, [](float a, float b) { return a + b; });
      row_l[mt][h] = row_l[mt][h] * alpha[mt][h] + sum;  // per-thread partial; quad-reduced at the end
      row_m[mt][h] = m_new;
    }
  }
}

template <int MT, int DT, bool Lazy = false>
__device__ __forceinline__ void rescale_rows(float (&o)[MT][DT][4], const float (&alpha)[MT][2]) {
  // Two loops on purpose: one loop with the row test inside changes the machine code of the
  // measured kernels (dt outside: the lazy loop's, h outside: the plain grid's; checked on the
  // cubins 2026-11-29), and neither variant was measured on the device.
  if constexpr (Lazy) {  // rows whose max stayed (alpha == 1) are left alone
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        if (alpha[mt][h] != 1.f) {
#pragma unroll
          for (int dt = 0; dt < DT; ++dt) {
            o[mt][dt][2 * h] *= alpha[mt][h];
            o[mt][dt][2 * h + 1] *= alpha[mt][h];
          }
        }
    return;
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[mt][dt][0] *= alpha[mt][0];
      o[mt][dt][1] *= alpha[mt][0];
      o[mt][dt][2] *= alpha[mt][1];
      o[mt][dt][3] *= alpha[mt][1];
    }
}

// A finished row of the online softmax: its sum (quad-reduced from the four threads' partials)
// gives the output's scale (0 when no key was allowed: O = 0) and the natural-log LSE.
struct RowEnd {
  float inv, lse;
};
__device__ __forceinline__ RowEnd end_row(float partial_l, float m_log2) {
  float l = partial_l;
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  return l > 0.f ? RowEnd{1.f / l, m_log2 * kLn2 + logf(l)} : RowEnd{0.f, -INFINITY};
}

// Two adjacent outputs (a at dst[0], b at dst[1]) in the output type, one store.
template <typename OutT>
__device__ __forceinline__ void store_pair(OutT* dst, float a, float b) {
  if constexpr (std::is_same_v<OutT, float>) *reinterpret_cast<float2*>(dst) = make_float2(a, b);
  else if constexpr (std::is_same_v<OutT, __nv_bfloat16>) *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(a, b);
  else *reinterpret_cast<__half2*>(dst) = __floats2half2_rn(a, b);
}

// Calls f(typed pointer to element `at` of O): the one place the output dtype is switched on, so
// that an epilogue's loop over columns is a convert and a store per pair.
template <typename F>
__device__ __forceinline__ void with_output(const FwdParams& p, int64_t at, F&& f) {
  if (p.o_dtype == DType::bf16) f(static_cast<__nv_bfloat16*>(p.o) + at);
  else if (p.o_dtype == DType::f16) f(static_cast<__half*>(p.o) + at);
  else f(static_cast<float*>(p.o) + at);
}

// Stores one row's DT column pairs (this thread's columns 8 dt + c0, +1), scaled by inv, to
// dst[8 dt].
template <typename OutT, int DT>
__device__ __forceinline__ void store_row_pairs(OutT* dst, const float (&o)[DT][4], int h, float inv) {
#pragma unroll
  for (int dt = 0; dt < DT; ++dt) store_pair(dst + dt * 8, o[dt][2 * h] * inv, o[dt][2 * h + 1] * inv);
}

// Epilogue when each row lives in one warp: quad-reduce l, normalise, write O (and LSE). The
// destination of each of this thread's rows is worked out once (one division, one dtype branch),
// not per column pair: done per pair (a division and two branches each), this epilogue measured
// ~8000 cycles per CTA on an H200 at D = 128, as long as two key tiles of the main loop.
template <int MT, int DT>
__device__ __forceinline__ void store_rows(const FwdParams& p, const CtaWork& w, int row0, float (&o)[MT][DT][4],
                                           const float (&row_m)[MT][2], float (&row_l)[MT][2]) {
  constexpr int D = DT * 8;
  const int lane = threadIdx.x & 31, c0 = (lane & 3) * 2;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const RowEnd e = end_row(row_l[mt][h], row_m[mt][h]);  // the quad's shuffles: before any exit
      const float inv = e.inv;
      const int r = row0 + mt * 16 + (lane >> 2) + 8 * h;
      int64_t tok;
      int head;
      if (!w.row_dest(p, r, tok, head)) continue;  // padding row
      const int64_t row = tok * p.q_heads + head;  // (token, head) index of LSE and partials
      if ((lane & 3) == 0) w.emit_lse_at(p, tok, head, e.lse);
      if (p.kv_splits > 1)
        store_row_pairs(p.part_o + (row * p.kv_splits + w.split) * D + c0, o[mt], h, inv);
      else
        with_output(p, tok * p.o_stride + int64_t(head) * D + c0,
                    [&](auto* dst) { store_row_pairs(dst, o[mt], h, inv); });
    }
}

}  // namespace eft::cuda::detail
