// Standard attention: the O(N^2)-memory baseline, shaped like PyTorch's math path.
// Per (sequence, kv head): gather the GQA group's queries and the K/V rows into f32 matrices,
// S = scale * Q Kᵀ with one sgemm, mask + softcap + softmax row by row, O = P V with a second
// sgemm, then scatter O (and LSE) out. Every buffer goes through eft::Tensor so the memory
// tracker sees the [G * q_len, kv_len] score matrix this method is about.
#include <cblas.h>

#include <cmath>
#include <functional>
#include <vector>

#include "attention/cpu/methods.h"
#include "attention/cpu/tile_math.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace eft::cpu {

namespace {

// Masks, soft-caps and normalizes one score row in place: s[0..n) -> softmax probabilities.
// Returns the row's log-sum-exp (natural log), -inf when the mask allows no key (row = 0).
float softmax_row(const AttentionParams& p, int64_t pos, float* s, int64_t n, uint8_t* allowed) {
  tile::mask_row(p.mask, pos, 0, n, allowed);
  const float cap = p.softcap;
  if (cap > 0.f)
    for (int64_t j = 0; j < n; ++j) s[j] = cap * std::tanh(s[j] / cap);
  for (int64_t j = 0; j < n; ++j) s[j] = allowed[j] ? s[j] : tile::kNegInf;
  const float mx = tile::row_max(s, n);
  if (mx == tile::kNegInf) {
    for (int64_t j = 0; j < n; ++j) s[j] = 0.f;
    return tile::kNegInf;
  }
  const float sum = tile::exp_shift_sum(s, n, mx);
  const float inv = 1.f / sum;
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
  return mx + std::log(sum);
}

// parallel_for when there is enough work to pay for waking the pool; tiny calls (decode, short
// sequences) run inline, since a parallel region costs microseconds (far more on a busy machine).
// Only the O(N^2) softmax uses it: the O(N D) gathers run inline, because every hand-over between
// the OpenMP pool and OpenBLAS's own threads (around each sgemm) costs a scheduler slice when the
// cores are shared, which measured ~20x slower at N = 512 with six hand-overs per head.
void for_each(int64_t n, int64_t work_per_item, const std::function<void(int64_t)>& fn) {
  if (n * work_per_item < (int64_t(1) << 16)) {
    for (int64_t i = 0; i < n; ++i) fn(i);
  } else {
    parallel_for(n, fn);
  }
}

}  // namespace

void attention_standard(const AttentionParams& p, const AttentionArgs& a) {
  const int64_t D = p.head_dim;
  const int G = p.q_heads / p.kv_heads;
  const int64_t q_stride = a.q_row_stride ? a.q_row_stride : int64_t(p.q_heads) * D;
  const int64_t o_stride = a.o_row_stride ? a.o_row_stride : int64_t(p.q_heads) * D;
  const int64_t kv_stride = a.kv.row_stride ? a.kv.row_stride : int64_t(p.kv_heads) * D;
  const float scale = effective_scale(p);
  const SeqBatch& b = a.batch;

  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int64_t q0 = b.q_start[s], q_len = b.q_start[s + 1] - q0, kv_len = b.kv_len[s];
    const int64_t pos0 = b.q_pos0 ? b.q_pos0[s] : kv_len - q_len;
    if (q_len == 0) continue;
    const int64_t rows = int64_t(G) * q_len;  // score rows: query r of group head g is row r * G + g
    // Per (sequence, kv head) buffers, reused across the kv heads of this sequence.
    Tensor qg({rows, D}, DType::f32);                         // [G * q_len, D] group's queries
    Tensor og({rows, D}, DType::f32);                         // [G * q_len, D] P V
    Tensor lse_rows({rows}, DType::f32);                      // [G * q_len]
    Tensor kc({kv_len > 0 ? kv_len : 1, D}, DType::f32);      // [kv_len, D] K rows of this kv head
    Tensor vc({kv_len > 0 ? kv_len : 1, D}, DType::f32);      // [kv_len, D]
    Tensor scores({rows, kv_len > 0 ? kv_len : 1}, DType::f32);  // [G * q_len, kv_len] the N^2 matrix
    Tensor allowed({rows, kv_len > 0 ? kv_len : 1}, DType::u8);  // [G * q_len, kv_len] mask scratch
    float* Q = qg.as<float>();
    float* O = og.as<float>();
    float* L = lse_rows.as<float>();
    float* K = kc.as<float>();
    float* V = vc.as<float>();
    float* S = scores.as<float>();
    uint8_t* A = allowed.as<uint8_t>();

    for (int kvh = 0; kvh < p.kv_heads; ++kvh) {
      const int h0 = kvh * G;
      // Gather (and convert) this group's queries and this head's keys and values.
      for (int64_t r = 0; r < q_len; ++r) {
        for (int g = 0; g < G; ++g)
          tile::load_row(a.q, a.q_dtype, (q0 + r) * q_stride + int64_t(h0 + g) * D, D, 1.f, Q + (r * G + g) * D);
      }
      for (int64_t t = 0; t < kv_len; ++t) {
        const int64_t off = kv_row_index(a.kv, s, t) * kv_stride + int64_t(kvh) * D;
        tile::load_row(a.kv.k, a.kv.dtype, off, D, 1.f, K + t * D);
        tile::load_row(a.kv.v, a.kv.dtype, off, D, 1.f, V + t * D);
      }
      if (kv_len > 0) {
        // S [rows, kv_len] = scale * Q [rows, D] · K [kv_len, D]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(kv_len), int(D), scale, Q, int(D), K,
                    int(D), 0.f, S, int(kv_len));
        for_each(rows, 4 * kv_len, [&](int64_t row) {
          L[row] = softmax_row(p, pos0 + row / G, S + row * kv_len, kv_len, A + row * kv_len);
        });
        // O [rows, D] = P [rows, kv_len] · V [kv_len, D]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(D), int(kv_len), 1.f, S, int(kv_len), V,
                    int(D), 0.f, O, int(D));
      } else {
        for (int64_t i = 0; i < rows * D; ++i) O[i] = 0.f;
        for (int64_t i = 0; i < rows; ++i) L[i] = tile::kNegInf;
      }
      for (int64_t r = 0; r < q_len; ++r)
        for (int g = 0; g < G; ++g) {
          const int64_t row = r * G + g;
          tile::store_row(O + row * D, D, a.o, a.o_dtype, (q0 + r) * o_stride + int64_t(h0 + g) * D);
          if (a.lse) a.lse[(q0 + r) * p.q_heads + h0 + g] = L[row];
        }
    }
  }
}

}  // namespace eft::cpu
