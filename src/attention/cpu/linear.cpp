// Linear attention on the CPU: Performer FAVOR+ (see include/eft/linear_attention.h for the math).
//
// Work item = (sequence, KV head, slice of that KV head's query heads). The item walks the keys in
// chunks of kChunk tokens, keeping the state S [m, d] = sum phi(k) v^T and z [m] = sum phi(k) with a
// running key offset (rescaled like online softmax when a chunk raises the max):
//   - mask none: all chunks first, then every query reads the full state: O(N m d);
//   - causal: a query at position i in the chunk [j0, j1) reads the state of keys < j0 plus the
//     exact quadratic term over keys j0..i of its own chunk; queries past the last key read the
//     full state. Same function as the masked quadratic form, O(N m d + N C (m + d)).
// Query heads of a group share their KV head's state; the group is split into slices only when
// there are fewer (sequence, KV head) pairs than threads (each slice then recomputes the state).
// All scratch comes from one Tensor allocated before the parallel region, so nothing throws inside
// it and the benchmark's memory accounting sees every byte.
//
// Precision: a relative error in a denominator phi(q).z goes straight into the LSE (log den) with
// nothing to cancel it, and z is a running sum over every key, den a sum of m positive products.
// z, the causal prefix inside a chunk and every denominator are therefore summed in double (O(N m)
// extra work next to the O(N m d) float GEMMs), and the LSE is assembled in double from log den and
// the two exponent offsets (each tens of units, where a float add rounds by ~1e-6). The larger
// share of the LSE error was the feature exponents themselves: see feature_exponents. The
// numerators stay float: their rounding is relative per element and far below the output bound.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "attention/cpu/methods.h"
#include "eft/error.h"
#include "eft/linear_attention.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace eft::cpu {

namespace {

constexpr int64_t kChunk = 64;  // keys (and at most as many queries) per chunk
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per-thread scratch, carved from one buffer (floats; the double arrays first, so the 64-byte
// alignment of each thread's slice keeps them aligned).
struct Scratch {
  double* z;     // [m]     state z
  double* zc;    // [m]     z plus the visible keys of the current chunk (causal rows)
  double* den;   // [C]     denominators
  float* kx;     // [C, d]  keys of the chunk, f32
  float* vx;     // [C, d]  values of the chunk
  float* uk;     // [C, m]  key exponents, then phi(K)
  float* phikt;  // [m, C]  key features, transposed (B operand of the intra-chunk scores)
  float* s;      // [m, d]  state S
  float* qx;     // [C, d]  queries of one head
  float* phiq;   // [C, m]  query features
  float* qmax;   // [C]     per-query exponent offsets
  float* num;    // [C, d]  numerators
  float* sc;     // [C, C]  intra-chunk scores phi(q).phi(k)
  static int64_t floats(int64_t m, int64_t d) {
    const int64_t C = kChunk;
    const int64_t n = 2 * (2 * m + C) + 3 * C * d + 2 * C * m + m * C + m * d + C + C * d + C * C;
    return (n + 15) / 16 * 16;  // whole 64-byte lines: every thread's slice starts aligned
  }
  Scratch(float* p, int64_t m, int64_t d) {
    const int64_t C = kChunk;
    double* q = reinterpret_cast<double*>(p);
    z = q; q += m;
    zc = q; q += m;
    den = q; q += C;
    p = reinterpret_cast<float*>(q);
    kx = p; p += C * d;
    vx = p; p += C * d;
    uk = p; p += C * m;
    phikt = p; p += m * C;
    s = p; p += m * d;
    qx = p; p += C * d;
    phiq = p; p += C * m;
    qmax = p; p += C;
    num = p; p += C * d;
    sc = p;
  }
};

// Reads n elements of a row in any float dtype into f32.
inline void load_row(const void* base, DType t, int64_t elem_off, int64_t n, float* dst) {
  const char* src = static_cast<const char*>(base) + elem_off * int64_t(dtype_size(t));
  if (t == DType::f32) std::memcpy(dst, src, size_t(n) * 4);
  else convert(src, t, dst, DType::f32, size_t(n));
}

struct Call {
  const AttentionParams& p;
  const AttentionArgs& a;
  const favor::FeatureMap& f;
  int64_t d, m, q_stride, kv_stride, o_stride;
  bool causal;
};

class Item {
 public:
  Item(const Call& c, Scratch sc, int32_t seq, int32_t kvh, int32_t h_lo, int32_t h_hi)
      : c_(c), w_(sc), s_(seq), g_(kvh), h_lo_(h_lo), h_hi_(h_hi) {
    const SeqBatch& b = c.a.batch;
    q0_ = b.q_start[seq];
    q_len_ = b.q_start[seq + 1] - q0_;
    kv_len_ = b.kv_len[seq];
    pos0_ = b.q_pos0 ? b.q_pos0[seq] : kv_len_ - q_len_;
  }

  void run() {
    if (q_len_ == 0) return;
    std::fill(w_.s, w_.s + c_.m * c_.d, 0.f);
    std::fill(w_.z, w_.z + c_.m, 0.0);
    offset_ = kNegInf;
    int64_t r = 0;  // next query row (queries are in ascending position order)
    for (int64_t j0 = 0; j0 < kv_len_; j0 += kChunk) {
      const int64_t nk = std::min(kChunk, kv_len_ - j0);
      load_chunk(j0, nk);
      if (c_.causal) {
        // Rows whose position lies in this chunk: state of keys < j0 plus the chunk's own keys.
        int64_t r_end = r;
        while (r_end < q_len_ && pos0_ + r_end < j0 + nk) ++r_end;
        if (r_end > r) {
          transpose_keys(nk);
          queries(r, r_end, j0, nk);
        }
        r = r_end;
      }
      absorb(nk);
    }
    // Causal rows past the last key, or every row without a mask: the full state.
    for (; r < q_len_; r += kChunk) queries(r, std::min(q_len_, r + kChunk), 0, 0);
  }

 private:
  // Gathers keys/values j0 .. j0+nk-1, computes their features with the (possibly raised) offset
  // and rescales the state to that offset.
  void load_chunk(int64_t j0, int64_t nk) {
    const int64_t d = c_.d, m = c_.m;
    for (int64_t j = 0; j < nk; ++j) {
      const int64_t off = kv_row_index(c_.a.kv, s_, j0 + j) * c_.kv_stride + int64_t(g_) * d;
      load_row(c_.a.kv.k, c_.a.kv.dtype, off, d, w_.kx + j * d);
      load_row(c_.a.kv.v, c_.a.kv.dtype, off, d, w_.vx + j * d);
    }
    const float cmax = favor::feature_exponents(c_.f, w_.kx, d, nk, w_.uk);
    if (cmax > offset_) {
      if (offset_ != kNegInf) {
        const float r = std::exp(offset_ - cmax);
        for (int64_t i = 0; i < m * d; ++i) w_.s[i] *= r;
        for (int64_t i = 0; i < m; ++i) w_.z[i] *= double(r);
      }
      offset_ = cmax;
    }
    favor::exp_shifted(w_.uk, nk * m, offset_);  // uk now holds phi(K) [nk, m]
  }

  // phikt [m, nk] = phi(K)^T: the B operand of the intra-chunk scores (causal chunks with queries).
  void transpose_keys(int64_t nk) {
    const int64_t m = c_.m;
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t i = 0; i < m; ++i) w_.phikt[i * kChunk + j] = w_.uk[j * m + i];
  }

  // S += phi(K)^T V, z += phi(K)^T 1 for the loaded chunk (A = phi(K) read transposed in place).
  void absorb(int64_t nk) {
    const int64_t d = c_.d, m = c_.m;
    favor::matmul({.M = m, .N = d, .K = nk, .a = w_.uk, .a_rs = 1, .a_cs = m, .b = w_.vx, .ldb = d, .c = w_.s,
                   .ldc = d, .accumulate = true});
    for (int64_t j = 0; j < nk; ++j) {
      const float* row = w_.uk + j * m;
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) w_.z[i] += double(row[i]);
    }
  }

  // Query rows [r0, r1) of every head of the slice. nk > 0: the loaded chunk starting at key j0
  // adds its causal part exactly.
  void queries(int64_t r0, int64_t r1, int64_t j0, int64_t nk) {
    const int64_t d = c_.d, m = c_.m, nq = r1 - r0;
    for (int32_t h = h_lo_; h < h_hi_; ++h) {
      for (int64_t i = 0; i < nq; ++i)
        load_row(c_.a.q, c_.a.q_dtype, (q0_ + r0 + i) * c_.q_stride + int64_t(h) * d, d, w_.qx + i * d);
      favor::feature_exponents(c_.f, w_.qx, d, nq, w_.phiq, w_.qmax);
      for (int64_t i = 0; i < nq; ++i) favor::exp_shifted(w_.phiq + i * m, m, w_.qmax[i]);
      // num = phi(Q) S
      favor::matmul({.M = nq, .N = d, .K = m, .a = w_.phiq, .a_rs = m, .a_cs = 1, .b = w_.s, .ldb = d, .c = w_.num,
                     .ldc = d, .accumulate = false});
      denominators(nq, r0, j0, nk);
      if (nk > 0) {
        // scores [nq, nk] = phi(Q) phi(K)^T, zeroed where the key comes after the query.
        favor::matmul({.M = nq, .N = nk, .K = m, .a = w_.phiq, .a_rs = m, .a_cs = 1, .b = w_.phikt, .ldb = kChunk,
                       .c = w_.sc, .ldc = kChunk, .accumulate = false});
        for (int64_t i = 0; i < nq; ++i) {
          float* row = w_.sc + i * kChunk;
          for (int64_t j = last_visible(r0 + i, j0, nk) + 1; j < nk; ++j) row[j] = 0.f;
        }
        favor::matmul({.M = nq, .N = d, .K = nk, .a = w_.sc, .a_rs = kChunk, .a_cs = 1, .b = w_.vx, .ldb = d,
                       .c = w_.num, .ldc = d, .accumulate = true});
      }
      for (int64_t i = 0; i < nq; ++i) store(r0 + i, h, w_.num + i * d, w_.den[i], w_.qmax[i]);
    }
  }

  // Last key of the chunk [j0, j0+nk) that query row r may see (causal; -1: none).
  int64_t last_visible(int64_t r, int64_t j0, int64_t nk) const { return std::min(nk - 1, pos0_ + r - j0); }

  // den[i] = phi(q_i).(z + the chunk's keys visible to row r0+i), in double. Rows ascend in position,
  // so one pass extends the prefix zc key by key: O((nq + nk) m) rather than a second score GEMM.
  void denominators(int64_t nq, int64_t r0, int64_t j0, int64_t nk) {
    const int64_t m = c_.m;
    const double* zr = w_.z;
    if (nk > 0) {
      std::copy(w_.z, w_.z + m, w_.zc);
      zr = w_.zc;
    }
    int64_t next = 0;  // first chunk key not yet in zc
    for (int64_t i = 0; i < nq; ++i) {
      if (nk > 0)
        for (const int64_t last = last_visible(r0 + i, j0, nk); next <= last; ++next) {
          const float* pk = w_.uk + next * m;
#pragma omp simd
          for (int64_t r = 0; r < m; ++r) w_.zc[r] += double(pk[r]);
        }
      const float* pq = w_.phiq + i * m;
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t r = 0; r < m; ++r) acc += double(pq[r]) * zr[r];
      w_.den[i] = acc;
    }
  }

  void store(int64_t r, int32_t h, float* num, double den, float qoff) {
    const int64_t d = c_.d;
    // den == 0: no key visible (kv_len = 0) or every feature product underflowed: O = 0 like a
    // fully masked row of softmax attention.
    const bool empty = !(den > 0.0);
    const float inv = empty ? 0.f : float(1.0 / den);
    for (int64_t c = 0; c < d; ++c) num[c] *= inv;
    const int64_t off = (q0_ + r) * c_.o_stride + int64_t(h) * d;
    char* dst = static_cast<char*>(c_.a.o) + off * int64_t(dtype_size(c_.a.o_dtype));
    if (c_.a.o_dtype == DType::f32) std::memcpy(dst, num, size_t(d) * 4);
    else convert(num, DType::f32, dst, c_.a.o_dtype, size_t(d));
    if (c_.a.lse)
      c_.a.lse[(q0_ + r) * c_.p.q_heads + h] =
          empty ? kNegInf : float(std::log(den) + double(qoff) + double(offset_));
  }

  const Call& c_;
  Scratch w_;
  int32_t s_, g_, h_lo_, h_hi_;
  int64_t q0_, q_len_, kv_len_, pos0_;
  float offset_ = kNegInf;  // running max of the key exponents absorbed or loaded so far
};

}  // namespace

void attention_linear(const AttentionParams& p, const AttentionArgs& a) {
  const favor::FeatureMap f = favor::make_feature_map(p);
  const SeqBatch& b = a.batch;
  if (b.n_seqs == 0) return;
  const int64_t d = p.head_dim, m = f.m;
  Call call{p,
            a,
            f,
            d,
            m,
            a.q_row_stride ? a.q_row_stride : int64_t(p.q_heads) * d,
            a.kv.row_stride ? a.kv.row_stride : int64_t(p.kv_heads) * d,
            a.o_row_stride ? a.o_row_stride : int64_t(p.q_heads) * d,
            p.mask.type == MaskType::causal};
  const int32_t group = p.q_heads / p.kv_heads;
  const int threads = num_threads();
  // Split a group's query heads only when (sequence, KV head) pairs alone cannot feed the threads.
  const int64_t pairs = int64_t(b.n_seqs) * p.kv_heads;
  const int32_t slices = int32_t(std::clamp<int64_t>((threads + pairs - 1) / pairs, 1, group));
  const int32_t per_slice = (group + slices - 1) / slices;
  const int64_t items = pairs * slices;
  const int64_t per_thread = Scratch::floats(m, d);
  Tensor scratch({int64_t(threads), per_thread}, DType::f32);  // [threads, per_thread]
  parallel_for(items, [&](int64_t it) {
    const int64_t slice = it % slices, pair = it / slices;
    const int32_t seq = int32_t(pair / p.kv_heads), kvh = int32_t(pair % p.kv_heads);
    const int32_t h_lo = kvh * group + int32_t(slice) * per_slice;
    const int32_t h_hi = std::min(kvh * group + group, h_lo + per_slice);
    if (h_lo >= h_hi) return;
    const int tid = std::min(omp_get_thread_num(), threads - 1);
    Item(call, Scratch(scratch.as<float>() + tid * per_thread, m, d), seq, kvh, h_lo, h_hi).run();
  });
}

}  // namespace eft::cpu
