#pragma once
// A randomly drawn attention case for op tests on every backend: ragged batch, GQA layout, dtype,
// contiguous or paged KV (blocks shuffled across the pool), poisoned output, float64 reference.
//
// Usage:
//   AttnCaseSpec spec{...};
//   AttnCase c = make_case(spec, seed);
//   attention_cpu(c.params, c.args());      // or a GPU backend on device copies of c's buffers
//   double err = rel_l2(c, c.out_f64());    // against c.reference()
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "eft/attention.h"
#include "eft/dtype.h"

namespace eft::test {

struct AttnCaseSpec {
  int q_heads = 4, kv_heads = 1, head_dim = 64;
  std::vector<int> q_lens{7};   // per sequence
  std::vector<int> kv_lens{7};  // per sequence, >= q_len (queries are the last tokens) unless q_pos0 set
  std::vector<int32_t> q_pos0;  // per sequence, optional: first query position (empty: kv_len - q_len)
  DType dtype = DType::f32;     // Q, K, V
  DType o_dtype = DType::f32;
  bool paged = false;
  int block_size = 16;
  Mask mask;                    // global / layout pointers are filled from the vectors below
  std::vector<int32_t> global;  // longformer
  std::vector<uint8_t> layout;  // block-sparse [n_qb, n_kb]
  float softcap = 0.f;
  float scale = 0.f;
  AttnMethod method = AttnMethod::flash;
  std::string str() const {
    std::string ql, kl;
    for (size_t i = 0; i < q_lens.size(); ++i) ql += fmt::format("{}{}", i ? "," : "", q_lens[i]);
    for (size_t i = 0; i < kv_lens.size(); ++i) kl += fmt::format("{}{}", i ? "," : "", kv_lens[i]);
    return fmt::format("method={} heads={}/{} D={} q=[{}] kv=[{}] dtype={} paged={} bs={} mask={} softcap={}",
                       method_name(method), q_heads, kv_heads, head_dim, ql, kl, dtype_name(dtype), paged,
                       block_size, int(mask.type), softcap);
  }
};

struct AttnCase {
  AttnCaseSpec spec;
  AttentionParams params;
  std::vector<int32_t> q_start, kv_len, kv_start, block_table;
  int32_t n_blocks = 0, max_blocks = 0;
  std::vector<uint8_t> q, k, v, o;  // raw bytes in spec.dtype / spec.o_dtype
  int64_t q_tokens = 0, kv_rows = 0;

  AttentionArgs args() {
    AttentionArgs a;
    a.q = q.data();
    a.q_dtype = spec.dtype;
    a.kv.dtype = spec.dtype;
    a.kv.k = k.data();
    a.kv.v = v.data();
    if (spec.paged) {
      a.kv.layout = KvLayout::paged;
      a.kv.block_table = block_table.data();
      a.kv.max_blocks = max_blocks;
      a.kv.block_size = spec.block_size;
      a.kv.n_blocks = n_blocks;
    } else {
      a.kv.kv_start = kv_start.data();
    }
    a.o = o.data();
    a.o_dtype = spec.o_dtype;
    a.batch.n_seqs = int32_t(kv_len.size());
    a.batch.q_start = q_start.data();
    a.batch.kv_len = kv_len.data();
    a.batch.q_pos0 = spec.q_pos0.empty() ? nullptr : spec.q_pos0.data();
    return a;
  }
  int64_t out_elems() const { return q_tokens * spec.q_heads * spec.head_dim; }
  void poison() {
    for (int64_t i = 0; i < out_elems(); ++i) store_from_f64(o.data(), spec.o_dtype, size_t(i), std::nan(""));
  }
  std::vector<double> out_f64() const {
    std::vector<double> r(static_cast<size_t>(out_elems()));
    for (size_t i = 0; i < r.size(); ++i) r[i] = load_as_f64(o.data(), spec.o_dtype, i);
    return r;
  }
  std::vector<double> reference() {
    std::vector<double> r(static_cast<size_t>(out_elems()));
    AttentionParams p = params;
    p.method = AttnMethod::standard;
    attention_reference(p, args(), r.data());
    return r;
  }
};

inline AttnCase make_case(const AttnCaseSpec& spec, uint64_t seed) {
  AttnCase c;
  c.spec = spec;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  const int n = int(spec.kv_lens.size());
  c.q_start.assign(size_t(n) + 1, 0);
  for (int s = 0; s < n; ++s) c.q_start[s + 1] = c.q_start[s] + spec.q_lens[s];
  c.kv_len.assign(spec.kv_lens.begin(), spec.kv_lens.end());
  c.q_tokens = c.q_start[n];
  const int64_t kvrow = int64_t(spec.kv_heads) * spec.head_dim;
  if (spec.paged) {
    // Blocks of all sequences drawn from one pool in shuffled order, plus a few unused blocks.
    int total = 0;
    for (int s = 0; s < n; ++s) c.max_blocks = std::max(c.max_blocks, (c.kv_len[s] + spec.block_size - 1) / spec.block_size);
    c.max_blocks = std::max(c.max_blocks, 1);
    for (int s = 0; s < n; ++s) total += (c.kv_len[s] + spec.block_size - 1) / spec.block_size;
    c.n_blocks = total + 3;
    std::vector<int32_t> ids(size_t(c.n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    c.block_table.assign(size_t(n) * c.max_blocks, -1);
    int next = 0;
    for (int s = 0; s < n; ++s)
      for (int b = 0; b < (c.kv_len[s] + spec.block_size - 1) / spec.block_size; ++b)
        c.block_table[size_t(s) * c.max_blocks + b] = ids[size_t(next++)];
    c.kv_rows = int64_t(c.n_blocks) * spec.block_size;
  } else {
    c.kv_start.assign(size_t(n), 0);
    int64_t acc = 0;
    for (int s = 0; s < n; ++s) {
      c.kv_start[s] = int32_t(acc);
      acc += c.kv_len[s];
    }
    c.kv_rows = acc;
  }
  const size_t es = dtype_size(spec.dtype);
  c.q.resize(size_t(c.q_tokens * spec.q_heads * spec.head_dim) * es);
  c.k.resize(size_t(c.kv_rows * kvrow) * es);
  c.v.resize(size_t(c.kv_rows * kvrow) * es);
  c.o.resize(size_t(c.out_elems()) * dtype_size(spec.o_dtype));
  auto fill = [&](std::vector<uint8_t>& buf, double sd) {
    for (size_t i = 0; i < buf.size() / es; ++i) store_from_f64(buf.data(), spec.dtype, i, sd * nd(rng));
  };
  fill(c.q, 1.0);
  fill(c.k, 1.0);
  fill(c.v, 1.0);
  c.params.q_heads = spec.q_heads;
  c.params.kv_heads = spec.kv_heads;
  c.params.head_dim = spec.head_dim;
  c.params.scale = spec.scale;
  c.params.softcap = spec.softcap;
  c.params.method = spec.method;
  c.params.mask = spec.mask;
  if (spec.mask.type == MaskType::longformer) {
    c.params.mask.global = c.spec.global.data();
    c.params.mask.n_global = int32_t(c.spec.global.size());
  }
  if (spec.mask.type == MaskType::block_sparse) c.params.mask.layout = c.spec.layout.data();
  c.poison();
  return c;
}

// ||out - ref|| / ||ref||; NaN anywhere gives +inf.
inline double rel_l2(const std::vector<double>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace eft::test
