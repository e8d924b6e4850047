// The specification of attention: naive, float64, one (sequence, head, query) at a time.
// Deliberately simple: no tiling, no skipping, the mask predicate evaluated for every pair.
#include <cmath>
#include <limits>
#include <vector>

#include "eft/attention.h"
#include "eft/error.h"

namespace eft {

void attention_reference(const AttentionParams& p, const AttentionArgs& a, double* out, double* lse) {
  validate_attention(p, a, true);
  check(p.method != AttnMethod::linear, "attention_reference is softmax attention; linear has its own reference");
  const int64_t D = p.head_dim;
  const int64_t q_stride = a.q_row_stride ? a.q_row_stride : int64_t(p.q_heads) * D;
  const int64_t kv_stride = a.kv.row_stride ? a.kv.row_stride : int64_t(p.kv_heads) * D;
  const int group = p.q_heads / p.kv_heads;
  const double scale = effective_scale(p);
  const double cap = p.softcap;
  const SeqBatch& b = a.batch;
  std::vector<double> logits;
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int64_t q0 = b.q_start[s], q_len = b.q_start[s + 1] - q0, kv_len = b.kv_len[s];
    const int64_t pos0 = b.q_pos0 ? b.q_pos0[s] : kv_len - q_len;
    logits.assign(size_t(kv_len), 0.0);
    for (int64_t r = 0; r < q_len; ++r) {
      const int64_t i = pos0 + r;
      for (int h = 0; h < p.q_heads; ++h) {
        const int kvh = h / group;
        const int64_t qoff = (q0 + r) * q_stride + h * D;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < kv_len; ++j) {
          if (!mask_allows(p.mask, i, j)) {
            logits[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          const int64_t koff = kv_row_index(a.kv, s, j) * kv_stride + kvh * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += load_as_f64(a.q, a.q_dtype, qoff + d) * load_as_f64(a.kv.k, a.kv.dtype, koff + d);
          double x = dot * scale;
          if (cap > 0) x = cap * std::tanh(x / cap);
          logits[j] = x;
          mx = std::max(mx, x);
        }
        double* o = out + ((q0 + r) * p.q_heads + h) * D;
        for (int64_t d = 0; d < D; ++d) o[d] = 0;
        if (mx == -std::numeric_limits<double>::infinity()) {  // no key allowed
          if (lse) lse[(q0 + r) * p.q_heads + h] = mx;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < kv_len; ++j) {
          if (logits[j] == -std::numeric_limits<double>::infinity()) continue;
          const double w = std::exp(logits[j] - mx);
          sum += w;
          const int64_t voff = kv_row_index(a.kv, s, j) * kv_stride + kvh * D;
          for (int64_t d = 0; d < D; ++d) o[d] += w * load_as_f64(a.kv.v, a.kv.dtype, voff + d);
        }
        for (int64_t d = 0; d < D; ++d) o[d] /= sum;
        if (lse) lse[(q0 + r) * p.q_heads + h] = mx + std::log(sum);
      }
    }
  }
}

}  // namespace eft
