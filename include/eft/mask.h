#pragma once
// Attention masks as one small POD description plus two predicates shared by every backend:
//   allows(i, j)       — may the query at absolute position i attend to the key at position j?
//   tile(q_lo..q_hi, k_lo..k_hi) — is a tile of (query, key) positions empty, full or partial?
// Positions are absolute within a sequence; see AttentionArgs for how queries get theirs.
// Adding a mask = one enum value + one case in each predicate; the test grid picks it up.
#include <cstdint>

#include "eft/hd.h"

namespace eft {

enum class MaskType : uint8_t {
  none,          // every key
  causal,        // j <= i
  window,        // i - left <= j <= i + right   (left/right = -1: unbounded; causal window: right = 0)
  strided,       // Sparse Transformer: local window [i-left, i+right] OR (i - j) % stride == 0
  longformer,    // local window OR i is global OR j is global
  block_sparse,  // layout[i / block][j / block] != 0
};

struct Mask {
  MaskType type = MaskType::none;
  int32_t left = -1;     // window extents (window, strided local part, longformer local part)
  int32_t right = -1;
  int32_t stride = 0;    // strided only
  bool causal = false;   // strided / longformer / block_sparse: also require j <= i
  // longformer: global positions, sorted ascending, unique. Memory on the backend's device.
  const int32_t* global = nullptr;
  int32_t n_global = 0;
  // block_sparse: layout [n_qb, n_kb] row-major, nonzero = attend; block = tokens per block side.
  // Memory on the backend's device.
  const uint8_t* layout = nullptr;
  int32_t block = 0;
  int32_t n_qb = 0;
  int32_t n_kb = 0;
};

inline Mask mask_none() { return Mask{}; }
inline Mask mask_causal() { Mask m; m.type = MaskType::causal; return m; }
inline Mask mask_window(int32_t left, int32_t right) {
  Mask m; m.type = MaskType::window; m.left = left; m.right = right; return m;
}
inline Mask mask_strided(int32_t stride, int32_t local, bool causal) {
  Mask m; m.type = MaskType::strided; m.stride = stride; m.left = local;
  m.right = causal ? 0 : local; m.causal = causal; return m;
}
inline Mask mask_longformer(int32_t left, int32_t right, const int32_t* global, int32_t n_global,
                            bool causal) {
  Mask m; m.type = MaskType::longformer; m.left = left; m.right = right;
  m.global = global; m.n_global = n_global; m.causal = causal; return m;
}
inline Mask mask_block_sparse(const uint8_t* layout, int32_t block, int32_t n_qb, int32_t n_kb,
                              bool causal) {
  Mask m; m.type = MaskType::block_sparse; m.layout = layout; m.block = block;
  m.n_qb = n_qb; m.n_kb = n_kb; m.causal = causal; return m;
}

namespace mask_detail {
EFT_HD bool in_window(const Mask& m, int64_t i, int64_t j) {
  return (m.left < 0 || j >= i - m.left) && (m.right < 0 || j <= i + m.right);
}
// Number of global positions in [lo, hi] (binary search; globals are sorted).
EFT_HD int32_t lower_bound(const int32_t* a, int32_t n, int64_t x) {
  int32_t lo = 0, hi = n;
  while (lo < hi) {
    int32_t mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}
EFT_HD bool any_global_in(const Mask& m, int64_t lo, int64_t hi) {
  int32_t k = lower_bound(m.global, m.n_global, lo);
  return k < m.n_global && m.global[k] <= hi;
}
EFT_HD int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
// Window part of a tile of queries [q_lo, q_hi] and keys [k_lo, k_hi]: some pair with
// i - left <= j <= i + right exists iff the intervals overlap (touches); every pair (covers).
EFT_HD bool window_touches(const Mask& m, int64_t q_lo, int64_t q_hi, int64_t k_lo, int64_t k_hi) {
  return (m.left < 0 || k_hi >= q_lo - m.left) && (m.right < 0 || k_lo <= q_hi + m.right);
}
EFT_HD bool window_covers(const Mask& m, int64_t q_lo, int64_t q_hi, int64_t k_lo, int64_t k_hi) {
  return (m.left < 0 || k_lo >= q_hi - m.left) && (m.right < 0 || k_hi <= q_lo + m.right);
}
}  // namespace mask_detail

EFT_HD bool mask_allows(const Mask& m, int64_t i, int64_t j) {
  using namespace mask_detail;
  switch (m.type) {
    case MaskType::none: return true;
    case MaskType::causal: return j <= i;
    case MaskType::window: return in_window(m, i, j);
    case MaskType::strided:
      if (m.causal && j > i) return false;
      return in_window(m, i, j) || ((i - j) % m.stride) == 0;
    case MaskType::longformer:
      if (m.causal && j > i) return false;
      return in_window(m, i, j) || any_global_in(m, i, i) || any_global_in(m, j, j);
    case MaskType::block_sparse:
      if (m.causal && j > i) return false;
      return m.layout[(i / m.block) * m.n_kb + (j / m.block)] != 0;
  }
  return false;
}

enum class TileState : uint8_t { empty, partial, full };

// Interval masks (none, causal, window): each query row allows one contiguous key range. The
// masks decode of a model takes; GPU kernels have instantiations for them alone.
EFT_HD bool interval_mask(MaskType t) {
  return t == MaskType::none || t == MaskType::causal || t == MaskType::window;
}

// mask_tile for an interval mask (interval_mask(m.type)).
EFT_HD TileState interval_mask_tile(const Mask& m, int64_t q_lo, int64_t q_hi, int64_t k_lo, int64_t k_hi) {
  using namespace mask_detail;
  if (m.type == MaskType::none) return TileState::full;
  if (m.type == MaskType::causal) {
    if (k_lo > q_hi) return TileState::empty;
    return k_hi <= q_lo ? TileState::full : TileState::partial;
  }
  if (!window_touches(m, q_lo, q_hi, k_lo, k_hi)) return TileState::empty;
  return window_covers(m, q_lo, q_hi, k_lo, k_hi) ? TileState::full : TileState::partial;
}

// Classifies the tile of queries at positions [q_lo, q_hi] and keys [k_lo, k_hi] (inclusive).
// "empty" is exact (no allowed pair); "full" is exact (every pair allowed) where cheap, otherwise
// the tile is reported "partial" and the per-element predicate decides.
EFT_HD TileState mask_tile(const Mask& m, int64_t q_lo, int64_t q_hi, int64_t k_lo, int64_t k_hi) {
  using namespace mask_detail;
  if (interval_mask(m.type)) return interval_mask_tile(m, q_lo, q_hi, k_lo, k_hi);
  auto window_touches = [&]() { return mask_detail::window_touches(m, q_lo, q_hi, k_lo, k_hi); };
  auto window_covers = [&]() { return mask_detail::window_covers(m, q_lo, q_hi, k_lo, k_hi); };
  auto causal_cut = [&]() { return m.causal && k_lo > q_hi; };
  auto causal_partial = [&]() { return m.causal && k_hi > q_lo; };
  switch (m.type) {
    case MaskType::none:
    case MaskType::causal:
    case MaskType::window: break;  // interval_mask_tile
    case MaskType::strided: {
      if (causal_cut()) return TileState::empty;
      // Differences d = i - j range over [q_lo - k_hi, q_hi - k_lo]; a multiple of stride in it?
      int64_t dlo = q_lo - k_hi, dhi = q_hi - k_lo;
      bool has_stride = floor_div(dhi, m.stride) * m.stride >= dlo;
      if (!window_touches() && !has_stride) return TileState::empty;
      if (window_covers() && !causal_partial()) return TileState::full;
      return TileState::partial;
    }
    case MaskType::longformer: {
      if (causal_cut()) return TileState::empty;
      // A global query i needs a key j <= i in the tile under causal (and symmetrically for a
      // global key), so causal narrows the ranges searched; this keeps "empty" exact.
      bool g = m.causal ? any_global_in(m, k_lo > q_lo ? k_lo : q_lo, q_hi) || any_global_in(m, k_lo, k_hi < q_hi ? k_hi : q_hi)
                        : any_global_in(m, q_lo, q_hi) || any_global_in(m, k_lo, k_hi);
      if (!window_touches() && !g) return TileState::empty;
      if (window_covers() && !causal_partial()) return TileState::full;
      return TileState::partial;
    }
    case MaskType::block_sparse: {
      if (causal_cut()) return TileState::empty;
      bool any = false, all = true;
      for (int64_t qb = q_lo / m.block; qb <= q_hi / m.block; ++qb)
        for (int64_t kb = k_lo / m.block; kb <= k_hi / m.block; ++kb) {
          bool on = m.layout[qb * m.n_kb + kb] != 0;
          // Under causal, an "on" block only counts if its part of the tile reaches j <= i:
          // its smallest key must not exceed its largest query (keeps "empty" exact).
          const int64_t i_hi = (qb + 1) * m.block - 1 < q_hi ? (qb + 1) * m.block - 1 : q_hi;
          const int64_t j_lo = kb * m.block > k_lo ? kb * m.block : k_lo;
          any = any || (on && (!m.causal || j_lo <= i_hi));
          all = all && on;
        }
      if (!any) return TileState::empty;
      return (all && !causal_partial()) ? TileState::full : TileState::partial;
    }
  }
  return TileState::partial;
}

}  // namespace eft
