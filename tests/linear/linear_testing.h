#pragma once
// Helpers for the linear-attention tests: the explicit float64 quadratic form of FAVOR+ (the
// specification of attention_linear), fresh seeds, and a paged copy of a contiguous case.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "common/attn_case.h"
#include "eft/attention.h"
#include "eft/linear_attention.h"

namespace eft::test {

// A fresh seed per test, or EFT_SEED=<n> (decimal or 0x hex) to replay the seed a failure printed:
// every test of this binary then uses that seed, so filter to the failing one with --gtest_filter.
inline uint64_t fresh_seed() {
  if (const char* e = std::getenv("EFT_SEED")) return uint64_t(std::strtoull(e, nullptr, 0));
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

// phi(x)_r = exp(w_r.x~ - |x~|^2/2) / sqrt(m), x~ = x * sqrt(scale), straight from the definition
// in float64 (no offsets: the inputs here keep the exponents far from overflow).
inline std::vector<double> phi_f64(const std::vector<float>& w, int m, int d, double scale, const double* x) {
  const double xs = std::sqrt(scale);
  double sq = 0;
  for (int c = 0; c < d; ++c) sq += (x[c] * xs) * (x[c] * xs);
  std::vector<double> out(static_cast<size_t>(m));
  for (int r = 0; r < m; ++r) {
    double dot = 0;
    for (int c = 0; c < d; ++c) dot += double(w[size_t(r) * d + c]) * x[c] * xs;
    out[size_t(r)] = std::exp(dot - 0.5 * sq) / std::sqrt(double(m));
  }
  return out;
}

// O_i = sum_j [mask(i, j)] (phi(q_i).phi(k_j)) v_j / sum_j [mask(i, j)] phi(q_i).phi(k_j), the
// O(N^2) form of FAVOR+, over the same AttentionArgs (ragged, paged, GQA, q_pos0) as the method.
// lse (optional): log of the denominator. A row with no visible key gets O = 0, lse = -inf.
inline std::vector<double> favor_quadratic(const AttentionParams& p, const AttentionArgs& a,
                                           const std::vector<float>& w, std::vector<double>* lse = nullptr) {
  const int D = p.head_dim, m = p.linear.features, group = p.q_heads / p.kv_heads;
  const double scale = effective_scale(p);
  const int64_t qs = a.q_row_stride ? a.q_row_stride : int64_t(p.q_heads) * D;
  const int64_t ks = a.kv.row_stride ? a.kv.row_stride : int64_t(p.kv_heads) * D;
  const SeqBatch& b = a.batch;
  const int64_t q_tokens = b.n_seqs ? b.q_start[b.n_seqs] : 0;
  std::vector<double> out(size_t(q_tokens * p.q_heads * D), 0.0);
  if (lse) lse->assign(size_t(q_tokens * p.q_heads), -std::numeric_limits<double>::infinity());
  std::vector<double> x(static_cast<size_t>(D));
  for (int s = 0; s < b.n_seqs; ++s) {
    const int64_t q0 = b.q_start[s], q_len = b.q_start[s + 1] - q0, kv_len = b.kv_len[s];
    const int64_t pos0 = b.q_pos0 ? b.q_pos0[s] : kv_len - q_len;
    for (int g = 0; g < p.kv_heads; ++g) {
      std::vector<std::vector<double>> pk(static_cast<size_t>(kv_len)), vv(static_cast<size_t>(kv_len));
      for (int64_t j = 0; j < kv_len; ++j) {
        const int64_t off = kv_row_index(a.kv, s, j) * ks + int64_t(g) * D;
        for (int c = 0; c < D; ++c) x[size_t(c)] = load_as_f64(a.kv.k, a.kv.dtype, size_t(off + c));
        pk[size_t(j)] = phi_f64(w, m, D, scale, x.data());
        vv[size_t(j)].resize(size_t(D));
        for (int c = 0; c < D; ++c) vv[size_t(j)][size_t(c)] = load_as_f64(a.kv.v, a.kv.dtype, size_t(off + c));
      }
      for (int h = g * group; h < (g + 1) * group; ++h)
        for (int64_t r = 0; r < q_len; ++r) {
          const int64_t off = (q0 + r) * qs + int64_t(h) * D;
          for (int c = 0; c < D; ++c) x[size_t(c)] = load_as_f64(a.q, a.q_dtype, size_t(off + c));
          const std::vector<double> pq = phi_f64(w, m, D, scale, x.data());
          double* o = &out[size_t(((q0 + r) * p.q_heads + h) * D)];
          double den = 0;
          for (int64_t j = 0; j < kv_len; ++j) {
            if (!mask_allows(p.mask, pos0 + r, j)) continue;
            double kappa = 0;
            for (int i = 0; i < m; ++i) kappa += pq[size_t(i)] * pk[size_t(j)][size_t(i)];
            den += kappa;
            for (int c = 0; c < D; ++c) o[c] += kappa * vv[size_t(j)][size_t(c)];
          }
          if (den > 0) {
            for (int c = 0; c < D; ++c) o[c] /= den;
            if (lse) (*lse)[size_t((q0 + r) * p.q_heads + h)] = std::log(den);
          }
        }
    }
  }
  return out;
}

// Moves a contiguous case's K/V into a pool of `block_size`-token blocks in shuffled order (plus
// two unused blocks), so the same tokens can be read both ways.
inline void make_paged(AttnCase& c, int block_size, std::mt19937_64& rng) {
  const int n = int(c.kv_len.size());
  const int64_t row = int64_t(c.spec.kv_heads) * c.spec.head_dim * int64_t(dtype_size(c.spec.dtype));
  int total = 0, max_blocks = 1;
  for (int s = 0; s < n; ++s) {
    const int nb = (c.kv_len[s] + block_size - 1) / block_size;
    total += nb;
    max_blocks = std::max(max_blocks, nb);
  }
  const int n_blocks = total + 2;
  std::vector<int32_t> ids(static_cast<size_t>(n_blocks));
  for (int i = 0; i < n_blocks; ++i) ids[size_t(i)] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<uint8_t> k(size_t(n_blocks) * block_size * row), v(k.size());
  c.block_table.assign(size_t(n) * max_blocks, -1);
  int next = 0;
  for (int s = 0; s < n; ++s)
    for (int t = 0; t < c.kv_len[s]; ++t) {
      if (t % block_size == 0) c.block_table[size_t(s) * max_blocks + t / block_size] = ids[size_t(next++)];
      const int64_t dst = (int64_t(c.block_table[size_t(s) * max_blocks + t / block_size]) * block_size +
                           t % block_size) * row;
      const int64_t src = (int64_t(c.kv_start[s]) + t) * row;
      std::copy_n(c.k.begin() + src, row, k.begin() + dst);
      std::copy_n(c.v.begin() + src, row, v.begin() + dst);
    }
  c.k = std::move(k);
  c.v = std::move(v);
  c.spec.paged = true;
  c.spec.block_size = block_size;
  c.n_blocks = n_blocks;
  c.max_blocks = max_blocks;
  c.kv_rows = int64_t(n_blocks) * block_size;
}

// Multiplies every Q and K element by `f` (the FAVOR+ variance depends on |q~ + k~|, so the
// accuracy tests pick the input scale explicitly).
inline void scale_qk(AttnCase& c, double f) {
  const DType t = c.spec.dtype;
  const size_t es = dtype_size(t);
  for (size_t i = 0; i < c.q.size() / es; ++i) store_from_f64(c.q.data(), t, i, f * load_as_f64(c.q.data(), t, i));
  for (size_t i = 0; i < c.k.size() / es; ++i) store_from_f64(c.k.data(), t, i, f * load_as_f64(c.k.data(), t, i));
}

}  // namespace eft::test
