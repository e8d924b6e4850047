// Flash attention on the CPU (FA2 work partitioning) and its block-sparse variant.
//
// Work item = (sequence, kv head, block of up to `sub` query tiles). A query tile holds Bq query
// positions times the G query heads that share the kv head (GQA group), i.e. M = Bq * G score
// rows, so each K/V tile is loaded and converted once for the whole group -- and once for the
// `sub` tiles of the block (up to kMaxSub, fewer when the call has too few tiles to keep every
// worker busy), which cuts the K/V traffic (the CPU's bottleneck once the dot products vectorize)
// by `sub` while the tile skipping below keeps its fine Bq x Bc grain. Inside an item the
// KV tiles are visited in order with the online softmax: running max m, running sum l and an
// accumulator rescaled by exp(m_old - m_new); at no time does a worker hold more than one [M, Bc]
// tile of scores. Each output row is normalized and written once at the end.
//
//   flash  (skip_empty_tiles = false): like FA2, skips only the tiles wholly above the causal
//          diagonal for masks that never allow j > i; every other tile is computed, the mask
//          predicate deciding element by element (none / below-diagonal causal tiles need none).
//   sparse (skip_empty_tiles = true): asks mask_tile() for every tile; "empty" tiles are skipped,
//          "full" tiles skip the predicate, so the cost follows the attended entries.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/cpu/methods.h"
#include "attention/cpu/tile_math.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace eft::cpu {

namespace {

constexpr int64_t kBc = 64;          // keys per KV tile (one 64-wide micro-GEMM block)
constexpr int64_t kRowsTarget = 64;  // score rows per query tile (Bq positions x G heads)
constexpr int64_t kMaxSub = 8;       // query tiles per work item sharing each loaded K/V tile

struct Plan {
  const AttentionParams* p;
  const AttentionArgs* a;
  bool skip_empty;
  int64_t D, Dp;  // head_dim and head_dim padded to the vector width (padding is zeros)
  int G;          // query heads per kv head
  int64_t Bq;     // query positions per tile
  int64_t M;      // score rows per query tile = Bq * G
  int64_t sub;    // query tiles per work item (1 .. kMaxSub)
  int64_t rows;   // score rows per work item at most: min(sub * Bq, longest q_len) * G
  int64_t q_stride, o_stride, kv_stride;
  float scale;
  bool causal_like;
};

struct Item {
  int32_t s, kvh, qb;  // sequence, kv head, block of `sub` query tiles
};

// One worker's scratch, carved from a single tracked Tensor (64-byte aligned pieces).
struct Scratch {
  float* q;        // [rows, Dp]     scaled queries of the item's tiles, zero-padded columns
  float* o;        // [rows, Dp]     unnormalized output accumulators
  float* m;        // [rows]         running max of the scaled logits
  float* l;        // [rows]         running sum of exp(logit - m)
  float* kt;       // [Dp, Bc]       K tile transposed (f32), zero-padded
  float* kr;       // [Bc, Dp]       K tile rows (f32) on their way to kt
  float* v;        // [Bc, Dp]       V tile (f32), zero-padded
  float* s;        // [M, Bc]        scores, then probabilities, of one query tile x one KV tile
  uint8_t* allowed;  // [Bc]         mask of one query position over the tile's keys

  static int64_t floats(const Plan& pl) {
    auto r = [](int64_t n) { return tile::round_up(n, 16); };
    return r(pl.rows * pl.Dp) * 2 + r(pl.rows) * 2 + r(pl.Dp * kBc) * 3 + r(pl.M * kBc) + r(kBc / 4);
  }
  Scratch(const Plan& pl, float* base) {
    auto r = [](int64_t n) { return tile::round_up(n, 16); };
    q = base;
    base += r(pl.rows * pl.Dp);
    o = base;
    base += r(pl.rows * pl.Dp);
    m = base;
    base += r(pl.rows);
    l = base;
    base += r(pl.rows);
    kt = base;
    base += r(pl.Dp * kBc);
    kr = base;
    base += r(pl.Dp * kBc);
    v = base;
    base += r(pl.Dp * kBc);
    s = base;
    base += r(pl.M * kBc);
    allowed = reinterpret_cast<uint8_t*>(base);
  }
};

// Which tiles flash (not sparse) treats as empty / full / partial: FA2's causal rule only.
TileState flash_tile_state(const Plan& pl, int64_t q_lo, int64_t q_hi, int64_t k_lo, int64_t k_hi) {
  const Mask& m = pl.p->mask;
  if (pl.causal_like && k_lo > q_hi) return TileState::empty;
  if (m.type == MaskType::none) return TileState::full;
  if (m.type == MaskType::causal && k_hi <= q_lo) return TileState::full;
  return TileState::partial;
}

// Loads keys k0 .. k0+nc-1 of (sequence s, kv head kvh): K transposed into kt [Dp, Bc]
// (columns past nc and rows past D zero, so the QK micro-GEMM runs on whole vectors), V into
// v [Bc, Dp]. V is copied even when it is f32 already: reading it in place (rows strided across
// all heads) measured ~20% slower than packing it once per tile.
void load_kv_tile(const Plan& pl, Scratch& sc, int32_t s, int32_t kvh, int64_t k0, int64_t nc, int64_t kv_len) {
  const KvView& kv = pl.a->kv;
  const int64_t D = pl.D, Dp = pl.Dp;
  const int64_t nv = tile::round_up(nc, tile::kLanes);  // key columns the GEMMs may read
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t off = kv_row_index(kv, s, k0 + c) * pl.kv_stride + int64_t(kvh) * D;
    float* vr = sc.v + c * Dp;
    float* kr = sc.kr + c * Dp;
    tile::load_row(kv.v, kv.dtype, off, D, 1.f, vr);
    tile::load_row(kv.k, kv.dtype, off, D, 1.f, kr);
    for (int64_t d = D; d < Dp; ++d) vr[d] = kr[d] = 0.f;
  }
  // Ask for the next tile's rows now: they are strided across all heads' rows, and waiting on
  // them at the next load was ~10% of a sliding-window run (the hardware prefetcher lags there).
  const int64_t next_n = std::min<int64_t>(kBc, kv_len - (k0 + nc));
  const int64_t row_bytes = D * int64_t(dtype_size(kv.dtype));
  for (int64_t c = 0; c < next_n; ++c) {
    const int64_t off = (kv_row_index(kv, s, k0 + nc + c) * pl.kv_stride + int64_t(kvh) * D) * int64_t(dtype_size(kv.dtype));
    for (int64_t b = 0; b < row_bytes; b += 64) {
      __builtin_prefetch(static_cast<const char*>(kv.k) + off + b);
      __builtin_prefetch(static_cast<const char*>(kv.v) + off + b);
    }
  }
  for (int64_t c = nc; c < nv; ++c)
    for (int64_t d = 0; d < Dp; ++d) sc.kr[c * Dp + d] = 0.f;
  // Transpose 16 keys at a time: each kt row segment is one contiguous vector store, the reads
  // are strided but stay in L1 (about 1.5x faster than scattering one key row at a time).
  for (int64_t c0 = 0; c0 < nv; c0 += tile::kLanes)
    for (int64_t d = 0; d < Dp; ++d)
      for (int64_t c = 0; c < tile::kLanes; ++c) sc.kt[d * kBc + c0 + c] = sc.kr[(c0 + c) * Dp + d];
}

// Online-softmax update of one row with n logits of the tile (s[0..n), -inf where masked; n a
// multiple of the vector width): turns s into p = exp(s - m_new), rescales the accumulator row,
// updates m and l.
inline void online_softmax_row(float* s, int64_t n, float& m, float& l, float* o, int64_t Dp) {
  const float mx = tile::row_max<false>(s, n);
  if (mx == tile::kNegInf) {  // nothing allowed in this tile for this row: contributes nothing
    for (int64_t c = 0; c < n; ++c) s[c] = 0.f;
    return;
  }
  const float m_new = mx > m ? mx : m;
  const float sum = tile::exp_shift_sum<false>(s, n, m_new);
  if (m_new != m) {
    const float alpha = tile::exp_f32(m - m_new);  // m = -inf on the first tile: alpha = 0
    for (int64_t d = 0; d < Dp; ++d) o[d] *= alpha;
    l *= alpha;
    m = m_new;
  }
  l += sum;
}

// One block of query rows (rows r0 .. r0+Mb-1 of the tile) against columns [c_lo, c_hi) of the
// loaded KV tile: scores, online softmax, accumulation. Columns outside the range are masked.
// Row r of the block is head (g0 + r) % G of query position i_lo + (g0 + r) / G.
// `exact`: the rows' mask is applied per element inside the range (partial tiles).
void block_step(const Plan& pl, Scratch& sc, float* q, float* o, float* m, float* l, int64_t Mb, int64_t i_lo,
                int64_t g0, int64_t c_lo, int64_t c_hi, int64_t k0, bool exact) {
  const AttentionParams& p = *pl.p;
  const int64_t Dp = pl.Dp, G = pl.G;
  float* s = sc.s;
  // Score columns are computed in whole vectors: [v_lo, v_hi) covers [c_lo, c_hi).
  const int64_t v_lo = c_lo / tile::kLanes * tile::kLanes, v_hi = tile::round_up(c_hi, tile::kLanes);
  // S [Mb, v_lo:v_hi] = Qs [Mb, Dp] · Kt [Dp, v_lo:v_hi]
  tile::gemm(Mb, v_hi - v_lo, Dp, q, Dp, sc.kt + v_lo, kBc, s + v_lo, kBc, false);
  const float cap = p.softcap;
  // Only the columns [v_lo, v_hi) take part from here on; the PV product reads [c_lo, c_hi).
  for (int64_t r = 0; r < Mb; ++r) {
    float* sr = s + r * kBc;
    for (int64_t c = v_lo; c < c_lo; ++c) sr[c] = tile::kNegInf;
    for (int64_t c = c_hi; c < v_hi; ++c) sr[c] = tile::kNegInf;
    if (cap > 0.f)
      for (int64_t c = c_lo; c < c_hi; ++c) sr[c] = cap * std::tanh(sr[c] / cap);
  }
  if (exact && interval_mask(p.mask.type)) {
    // Interval masks: each row keeps the columns of its [lo, hi] only; no per-key predicate.
    for (int64_t r = 0; r < Mb; ++r) {
      int64_t lo, hi;
      tile::mask_interval(p.mask, i_lo + (g0 + r) / G, lo, hi);
      const int64_t a = std::clamp<int64_t>(lo - k0, c_lo, c_hi), b = std::clamp<int64_t>(hi - k0 + 1, a, c_hi);
      float* sr = s + r * kBc;
      for (int64_t c = c_lo; c < a; ++c) sr[c] = tile::kNegInf;
      for (int64_t c = b; c < c_hi; ++c) sr[c] = tile::kNegInf;
    }
  } else if (exact) {
    // The G heads of a query position share its mask row.
    for (int64_t r = 0; r < Mb;) {
      const int64_t qi = (g0 + r) / G, rows = std::min(Mb - r, G - (g0 + r) % G);
      uint8_t* al = sc.allowed;
      tile::mask_row(p.mask, i_lo + qi, k0 + c_lo, c_hi - c_lo, al);
      for (int64_t rr = r; rr < r + rows; ++rr) {
        float* sr = s + rr * kBc + c_lo;
        for (int64_t c = 0; c < c_hi - c_lo; ++c) sr[c] = al[c] ? sr[c] : tile::kNegInf;
      }
      r += rows;
    }
  }
  for (int64_t r = 0; r < Mb; ++r) online_softmax_row(s + r * kBc + v_lo, v_hi - v_lo, m[r], l[r], o + r * Dp, Dp);
  // O [Mb, Dp] += P [Mb, c_lo:c_hi] · V [c_lo:c_hi, Dp]
  tile::gemm(Mb, Dp, c_hi - c_lo, s + c_lo, kBc, sc.v + c_lo * Dp, Dp, o, Dp, true);
}

// One query tile (nq positions from absolute position i_lo; rows row0 .. of the item's q / o /
// m / l arrays) against the loaded KV tile at keys k0 .. k0+nc-1, in state st (not empty).
void tile_step(const Plan& pl, Scratch& sc, int64_t row0, int64_t nq, int64_t i_lo, int64_t k0, int64_t nc,
               TileState st) {
  const int64_t Dp = pl.Dp, G = pl.G, M = nq * G;
  float* q = sc.q + row0 * Dp;
  float* o = sc.o + row0 * Dp;
  float* m = sc.m + row0;
  float* l = sc.l + row0;
  // flash computes whole tiles, as FA2 does; only sparse cuts partial tiles further.
  if (st == TileState::full || !pl.skip_empty || !interval_mask(pl.p->mask.type)) {
    block_step(pl, sc, q, o, m, l, M, i_lo, 0, 0, nc, k0, st == TileState::partial);
    return;
  }
  // sparse, partial tile of an interval mask (the causal diagonal, the ends of a window): blocks
  // of kRowBlock rows compute only the columns their rows can see, so a triangle costs about half
  // a tile instead of a whole one and the cost keeps following the attended entries.
  constexpr int64_t kRowBlock = 8;
  for (int64_t r0 = 0; r0 < M; r0 += kRowBlock) {
    const int64_t Mb = std::min(kRowBlock, M - r0);
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
    for (int64_t qi = r0 / G; qi <= (r0 + Mb - 1) / G; ++qi) {
      int64_t a, b;
      tile::mask_interval(pl.p->mask, i_lo + qi, a, b);
      lo = std::min(lo, a);
      hi = std::max(hi, b);
    }
    const int64_t c_lo = std::max<int64_t>(lo - k0, 0), c_hi = std::min<int64_t>(hi - k0 + 1, nc);
    if (c_lo >= c_hi) continue;  // no row of the block sees this tile: nothing to add
    block_step(pl, sc, q + r0 * Dp, o + r0 * Dp, m + r0, l + r0, Mb, i_lo + r0 / G, r0 % G, c_lo, c_hi, k0, true);
  }
}

void run_item(const Plan& pl, Scratch& sc, const Item& it) {
  const AttentionParams& p = *pl.p;
  const AttentionArgs& a = *pl.a;
  const SeqBatch& b = a.batch;
  const int64_t D = pl.D, Dp = pl.Dp, G = pl.G, Bq = pl.Bq;
  const int64_t q0 = b.q_start[it.s], q_len = b.q_start[it.s + 1] - q0, kv_len = b.kv_len[it.s];
  const int64_t pos0 = b.q_pos0 ? b.q_pos0[it.s] : kv_len - q_len;
  const int64_t r0 = int64_t(it.qb) * pl.sub * Bq;                 // first query row of the item (in the sequence)
  const int64_t npos = std::min<int64_t>(pl.sub * Bq, q_len - r0);  // query positions in the item
  const int64_t n_sub = (npos + Bq - 1) / Bq;                     // query tiles in the item
  const int64_t i_first = pos0 + r0, i_last = i_first + npos - 1;  // absolute query positions
  const int h0 = it.kvh * pl.G;

  // Queries scaled once here so the logits come straight out of the micro-GEMM. Row qi * G + g.
  // The group's rows of a position are G * D contiguous elements; asking for them kAhead
  // positions early keeps several misses in flight (Q rows are strided across all heads).
  constexpr int64_t kAhead = 32;
  const int64_t q_es = int64_t(dtype_size(a.q_dtype));
  auto prefetch_q = [&](int64_t qi) {
    const char* row = static_cast<const char*>(a.q) + ((q0 + r0 + qi) * pl.q_stride + h0 * D) * q_es;
    for (int64_t b = 0; b < G * D * q_es; b += 64) __builtin_prefetch(row + b);
  };
  for (int64_t qi = 0; qi < std::min(kAhead, npos); ++qi) prefetch_q(qi);
  for (int64_t qi = 0; qi < npos; ++qi) {
    if (qi + kAhead < npos) prefetch_q(qi + kAhead);
    for (int64_t g = 0; g < G; ++g) {
      float* qr = sc.q + (qi * G + g) * Dp;
      tile::load_row(a.q, a.q_dtype, (q0 + r0 + qi) * pl.q_stride + (h0 + g) * D, D, pl.scale, qr);
      for (int64_t d = D; d < Dp; ++d) qr[d] = 0.f;
    }
  }
  for (int64_t r = 0; r < npos * G; ++r) {
    sc.m[r] = tile::kNegInf;
    sc.l[r] = 0.f;
  }
  for (int64_t i = 0; i < npos * G * Dp; ++i) sc.o[i] = 0.f;

  // sparse with an interval mask (window, causal): the item's queries see keys in
  // [lo(i_first), hi(i_last)] only, so the tile loop starts and ends there instead of asking
  // mask_tile about every tile of a long history (~3% of a w = 256 window at N = 8192).
  int64_t k_begin = 0, k_end = kv_len;
  if (pl.skip_empty && interval_mask(p.mask.type)) {
    int64_t lo, hi, unused;
    tile::mask_interval(p.mask, i_first, lo, unused);
    tile::mask_interval(p.mask, i_last, unused, hi);
    k_begin = std::max<int64_t>(lo, 0) / kBc * kBc;
    k_end = std::min<int64_t>(kv_len, std::max<int64_t>(hi + 1, 0));
  }
  TileState st[kMaxSub];
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBc) {
    const int64_t nc = std::min<int64_t>(kBc, kv_len - k0);
    const int64_t k_hi = k0 + nc - 1;
    bool any = false;
    for (int64_t t = 0; t < n_sub; ++t) {
      const int64_t i_lo = i_first + t * Bq, i_hi = std::min(i_lo + Bq - 1, i_last);
      st[t] = pl.skip_empty ? mask_tile(p.mask, i_lo, i_hi, k0, k_hi) : flash_tile_state(pl, i_lo, i_hi, k0, k_hi);
      any = any || st[t] != TileState::empty;
    }
    if (!any) {
      if (pl.causal_like && k0 > i_last) break;  // every later tile is above the diagonal too
      continue;
    }
    load_kv_tile(pl, sc, it.s, it.kvh, k0, nc, kv_len);
    for (int64_t t = 0; t < n_sub; ++t)
      if (st[t] != TileState::empty)
        tile_step(pl, sc, t * pl.M, std::min(Bq, npos - t * Bq), i_first + t * Bq, k0, nc, st[t]);
  }

  // Normalize and write each output row once; rows that saw no allowed key get O = 0, LSE = -inf.
  for (int64_t qi = 0; qi < npos; ++qi)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t r = qi * G + g;
      float* orow = sc.o + r * Dp;
      const float l = sc.l[r];
      const float inv = l > 0.f ? 1.f / l : 0.f;
      for (int64_t d = 0; d < D; ++d) orow[d] *= inv;
      const int64_t tok = q0 + r0 + qi;
      tile::store_row(orow, D, a.o, a.o_dtype, tok * pl.o_stride + (h0 + g) * D);
      if (a.lse) a.lse[tok * p.q_heads + h0 + g] = l > 0.f ? sc.m[r] + std::log(l) : tile::kNegInf;
    }
}

}  // namespace

void attention_flash(const AttentionParams& p, const AttentionArgs& a, bool skip_empty_tiles) {
  Plan pl;
  pl.p = &p;
  pl.a = &a;
  pl.skip_empty = skip_empty_tiles;
  pl.D = p.head_dim;
  pl.Dp = tile::round_up(pl.D, tile::kLanes);
  pl.G = p.q_heads / p.kv_heads;
  pl.Bq = std::max<int64_t>(1, kRowsTarget / pl.G);
  pl.M = pl.Bq * pl.G;
  pl.q_stride = a.q_row_stride ? a.q_row_stride : int64_t(p.q_heads) * pl.D;
  pl.o_stride = a.o_row_stride ? a.o_row_stride : int64_t(p.q_heads) * pl.D;
  pl.kv_stride = a.kv.row_stride ? a.kv.row_stride : int64_t(p.kv_heads) * pl.D;
  pl.scale = effective_scale(p);
  pl.causal_like = tile::mask_is_causal_like(p.mask);

  // Query tiles per item: as many as kMaxSub while that leaves >= 4 items per worker (dynamic
  // scheduling needs slack to balance causal work). Items ordered by query block, last blocks
  // first: under causal masks they are the most expensive, and handing them out first keeps the
  // schedule balanced at the end.
  const SeqBatch& b = a.batch;
  int64_t n_tiles = 0, max_q = 0;
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int64_t q_len = b.q_start[s + 1] - b.q_start[s];
    n_tiles += (q_len + pl.Bq - 1) / pl.Bq;
    max_q = std::max(max_q, q_len);
  }
  pl.sub = kMaxSub;
  while (pl.sub > 1 && (n_tiles / pl.sub) * p.kv_heads < 4 * num_threads()) pl.sub /= 2;
  pl.rows = std::min(pl.sub * pl.Bq, max_q) * pl.G;
  const int64_t block_rows = pl.sub * pl.Bq;
  int32_t max_blocks = 0;
  std::vector<int32_t> blocks(size_t(b.n_seqs));
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int64_t q_len = b.q_start[s + 1] - b.q_start[s];
    blocks[s] = int32_t((q_len + block_rows - 1) / block_rows);
    max_blocks = std::max(max_blocks, blocks[s]);
  }
  std::vector<Item> items;
  for (int32_t qb = max_blocks - 1; qb >= 0; --qb)
    for (int32_t s = 0; s < b.n_seqs; ++s)
      if (qb < blocks[s])
        for (int32_t h = 0; h < p.kv_heads; ++h) items.push_back({s, h, qb});
  if (items.empty()) return;

  // Scratch for every worker allocated up front (tracked, and nothing can throw inside the
  // parallel region); workers then pull items from a shared counter.
  const int64_t workers = std::min<int64_t>(num_threads(), int64_t(items.size()));
  const int64_t per_worker = Scratch::floats(pl);
  Tensor scratch({workers, per_worker}, DType::f32);  // [workers, per-worker scratch floats]
  std::atomic<int64_t> next{0};
  const int64_t n_items = int64_t(items.size());
  parallel_for(workers, [&](int64_t w) {
    Scratch sc(pl, scratch.as<float>() + w * per_worker);
    for (int64_t i = next.fetch_add(1); i < n_items; i = next.fetch_add(1)) run_item(pl, sc, items[size_t(i)]);
  });
}

}  // namespace eft::cpu
