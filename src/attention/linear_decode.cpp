// LinearAttentionState: FAVOR+ decode with a constant-size state per (sequence, KV head).
// One step = the chunked causal prefill of cpu/linear.cpp with a chunk of one token, so N steps
// reproduce the rows of the causal prefill.
#include <algorithm>
#include <cmath>
#include <limits>

#include "eft/error.h"
#include "eft/linear_attention.h"

namespace eft {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

LinearAttentionState::LinearAttentionState(const AttentionParams& p)
    : q_heads_(p.q_heads), kv_heads_(p.kv_heads), d_(p.head_dim), m_(p.linear.features) {
  check(p.head_dim > 0, "head_dim must be positive (got {})", p.head_dim);
  check(p.q_heads > 0, "q_heads must be positive (got {})", p.q_heads);
  check(p.kv_heads > 0, "kv_heads must be positive (got {})", p.kv_heads);
  check(p.q_heads % p.kv_heads == 0, "q_heads ({}) must be a multiple of kv_heads ({})", p.q_heads, p.kv_heads);
  check(p.mask.type == MaskType::none || p.mask.type == MaskType::causal,
        "linear attention supports masks none and causal only (mask type {})", int(p.mask.type));
  check(p.softcap == 0.f, "linear attention does not support softcap (got {})", p.softcap);
  check(std::isfinite(p.scale) && p.scale >= 0.f, "scale must be finite and >= 0 (0 = 1/sqrt(head_dim)); got {}",
        p.scale);
  map_ = favor::make_feature_map(p);
  s_ = Tensor({kv_heads_, m_, d_}, DType::f32);
  z_ = Tensor({kv_heads_, m_}, DType::f32);
  offset_ = Tensor({kv_heads_}, DType::f32);
  u_ = Tensor({m_}, DType::f32);
  reset();
}

void LinearAttentionState::reset() {
  std::fill_n(s_.as<float>(), s_.numel(), 0.f);
  std::fill_n(z_.as<float>(), z_.numel(), 0.f);
  std::fill_n(offset_.as<float>(), offset_.numel(), kNegInf);
  tokens_ = 0;
}

int64_t LinearAttentionState::state_bytes() const {
  return int64_t(s_.nbytes() + z_.nbytes() + offset_.nbytes());
}

void LinearAttentionState::append(const float* k, const float* v) {
  const int64_t d = d_, m = m_;
  // Absorb the token's key/value into each KV head's state: S += phi(k) v^T, z += phi(k).
  for (int32_t g = 0; g < kv_heads_; ++g) {
    float* s = s_.as<float>() + size_t(g) * m * d;
    float* z = z_.as<float>() + size_t(g) * m;
    float& off = offset_.as<float>()[g];
    float* u = u_.as<float>();
    const float mx = favor::feature_exponents(map_, k + g * d, d, 1, u);
    if (mx > off) {
      if (off != kNegInf) {
        const float r = std::exp(off - mx);
        for (int64_t i = 0; i < m * d; ++i) s[i] *= r;
        for (int64_t i = 0; i < m; ++i) z[i] *= r;
      }
      off = mx;
    }
    favor::exp_shifted(u, m, off);
    const float* vg = v + g * d;
    for (int64_t r = 0; r < m; ++r) {
      const float pk = u[r];
      float* sr = s + r * d;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) sr[c] += pk * vg[c];
      z[r] += pk;
    }
  }
  ++tokens_;
}

void LinearAttentionState::step(const float* q, const float* k, const float* v, float* o, float* lse) {
  const int64_t d = d_, m = m_;
  append(k, v);
  // Read out every query head from its KV head's state: o = phi(q) S / phi(q).z.
  const int32_t group = q_heads_ / kv_heads_;
  for (int32_t h = 0; h < q_heads_; ++h) {
    const int32_t g = h / group;
    const float* s = s_.as<float>() + size_t(g) * m * d;
    const float* z = z_.as<float>() + size_t(g) * m;
    float* u = u_.as<float>();
    float qmax = 0;
    favor::feature_exponents(map_, q + h * d, d, 1, u, &qmax);
    favor::exp_shifted(u, m, qmax);
    float* oh = o + h * d;
    std::fill(oh, oh + d, 0.f);
    // den and the LSE in double, as in the prefill (cpu/linear.cpp says why).
    double den = 0;
    for (int64_t r = 0; r < m; ++r) {
      const float pq = u[r];
      const float* sr = s + r * d;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) oh[c] += pq * sr[c];
      den += double(pq) * double(z[r]);
    }
    const bool empty = !(den > 0.0);  // every product underflowed: O = 0 as for an empty row
    const float inv = empty ? 0.f : float(1.0 / den);
    for (int64_t c = 0; c < d; ++c) oh[c] *= inv;
    if (lse) lse[h] = empty ? kNegInf : float(std::log(den) + double(qmax) + double(offset_.as<float>()[g]));
  }
}

}  // namespace eft
