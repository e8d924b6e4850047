// Sampler: the pipeline described in include/eft/sampler.h. One function builds the distribution
// so that sample() and probabilities() can never disagree.
#include "eft/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "eft/error.h"

namespace eft {

void apply_repetition_penalty(float* logits, int32_t vocab, const std::vector<int32_t>& history, float penalty,
                              int32_t window) {
  if (penalty == 1.f || history.empty()) return;
  const size_t n = history.size();
  const size_t first = window > 0 && size_t(window) < n ? n - size_t(window) : 0;
  // Each distinct token is penalized once, however often it repeats (CTRL).
  std::vector<int32_t> ids(history.begin() + ptrdiff_t(first), history.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t t : ids) {
    check(t >= 0 && t < vocab, "repetition penalty: history token {} outside the vocabulary [0, {})", t, vocab);
    float& x = logits[t];
    x = x > 0.f ? x / penalty : x * penalty;
  }
}

namespace {

// Strict order: larger value first, lower id on ties (deterministic selection).
struct ByValueDesc {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] > v[b] || (v[a] == v[b] && a < b); }
};

void check_logits(const float* logits, int32_t vocab) {
  check(vocab > 0, "sampler: vocab must be positive (got {})", vocab);
  check(logits != nullptr, "sampler: logits are null");
}

// Builds the kept tokens and their renormalized probabilities from penalized logits [vocab].
TokenDistribution build(const SamplerParams& p, const float* x, int32_t vocab) {
  TokenDistribution d;
  int32_t best = -1;
  for (int32_t i = 0; i < vocab; ++i) {
    if (std::isnan(x[i])) fail("sampler: logit {} is NaN", i);
    if (best < 0 || x[i] > x[best]) best = i;
  }
  check(x[best] > -INFINITY, "sampler: every logit is -inf (vocab {})", vocab);
  if (p.temperature == 0.f || x[best] == INFINITY) {
    d.ids = {best};
    d.probs = {1.f};
    return d;
  }

  // Candidates: finite-or-above -inf logits; top-k narrows them with one nth_element.
  std::vector<int32_t>& ids = d.ids;
  ids.reserve(size_t(vocab));
  for (int32_t i = 0; i < vocab; ++i)
    if (x[i] > -INFINITY) ids.push_back(i);
  if (p.top_k > 0 && size_t(p.top_k) < ids.size()) {
    std::nth_element(ids.begin(), ids.begin() + p.top_k, ids.end(), ByValueDesc{x});
    ids.resize(size_t(p.top_k));
  }

  // Softmax of z = x / T over the candidates; e[i] in (0, 1], the maximum is exactly 1.
  const float inv_t = 1.f / p.temperature;
  const float zmax = x[best] * inv_t;
  std::vector<float> e(ids.size());  // [n_candidates]
  double sum = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    e[i] = std::exp(x[ids[i]] * inv_t - zmax);
    sum += e[i];
  }

  // keep[i]: candidate survives top-p / min-p. Work on positions into ids/e.
  size_t n = ids.size();
  if (p.top_p < 1.f) {
    // Sort a growing prefix until it holds top_p of the mass: usually a few dozen tokens.
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    auto cmp = [&](uint32_t a, uint32_t b) { return e[a] > e[b] || (e[a] == e[b] && ids[a] < ids[b]); };
    const double target = double(p.top_p) * sum;
    size_t m = std::min<size_t>(n, 64), keep = n;
    for (;;) {
      std::partial_sort(order.begin(), order.begin() + ptrdiff_t(m), order.end(), cmp);
      double cum = 0;
      size_t j = 0;
      for (; j < m; ++j) {
        cum += e[order[j]];
        if (cum >= target) break;
      }
      if (j < m) {
        keep = j + 1;
        break;
      }
      if (m == n) break;  // rounding: the whole set is needed
      m = std::min(n, m * 4);
    }
    std::vector<int32_t> ids2(keep);
    std::vector<float> e2(keep);
    for (size_t j = 0; j < keep; ++j) {
      ids2[j] = ids[order[j]];
      e2[j] = e[order[j]];
    }
    ids.swap(ids2);
    e.swap(e2);
    n = keep;
  }
  if (p.min_p > 0.f) {
    // p_i >= min_p * p_max  <=>  e_i >= min_p * e_max, and e_max = 1 (the argmax is always kept).
    size_t w = 0;
    for (size_t i = 0; i < n; ++i)
      if (e[i] >= p.min_p) {
        ids[w] = ids[i];
        e[w] = e[i];
        ++w;
      }
    n = w;
    ids.resize(n);
    e.resize(n);
  }
  double kept = 0;
  for (size_t i = 0; i < n; ++i) kept += e[i];
  d.probs.resize(n);
  for (size_t i = 0; i < n; ++i) d.probs[i] = float(double(e[i]) / kept);
  return d;
}

}  // namespace

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {
  check(std::isfinite(p.temperature) && p.temperature >= 0.f, "SamplerParams.temperature must be finite and >= 0 (got {})",
        p.temperature);
  check(p.top_k >= 0, "SamplerParams.top_k must be >= 0 (0 = off; got {})", p.top_k);
  check(p.top_p > 0.f && p.top_p <= 1.f, "SamplerParams.top_p must be in (0, 1] (got {})", p.top_p);
  check(p.min_p >= 0.f && p.min_p <= 1.f, "SamplerParams.min_p must be in [0, 1] (got {})", p.min_p);
  check(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.f,
        "SamplerParams.repetition_penalty must be finite and > 0 (1 = off; got {})", p.repetition_penalty);
}

void Sampler::reseed(uint64_t seed) {
  p_.seed = seed;
  rng_.seed(seed);
}

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

TokenDistribution Sampler::distribution(const float* logits, int32_t vocab, const std::vector<int32_t>& history) const {
  check_logits(logits, vocab);
  if (p_.repetition_penalty == 1.f || history.empty()) return build(p_, logits, vocab);
  std::vector<float> x(logits, logits + vocab);  // [vocab] penalized copy: the caller's logits stay const
  apply_repetition_penalty(x.data(), vocab, history, p_.repetition_penalty, p_.repetition_window);
  return build(p_, x.data(), vocab);
}

std::vector<float> Sampler::probabilities(const float* logits, int32_t vocab,
                                          const std::vector<int32_t>& history) const {
  TokenDistribution d = distribution(logits, vocab, history);
  std::vector<float> r(size_t(vocab), 0.f);
  for (size_t i = 0; i < d.ids.size(); ++i) r[size_t(d.ids[i])] = d.probs[i];
  return r;
}

int32_t Sampler::draw(const TokenDistribution& d) {
  check(!d.ids.empty() && d.ids.size() == d.probs.size(), "Sampler::draw: empty or inconsistent distribution ({} ids, {} probs)",
        d.ids.size(), d.probs.size());
  if (d.ids.size() == 1) return d.ids[0];  // greedy: consumes no randomness
  double total = 0;
  for (float q : d.probs) total += q;
  const double u = uniform() * total;
  double cum = 0;
  for (size_t i = 0; i < d.ids.size(); ++i) {
    cum += d.probs[i];
    if (u < cum) return d.ids[i];
  }
  // u is within rounding of the total: the last token with nonzero probability.
  for (size_t i = d.ids.size(); i-- > 0;)
    if (d.probs[i] > 0.f) return d.ids[i];
  return d.ids.back();
}

int32_t Sampler::draw(const float* probs, int32_t vocab) {
  check(probs != nullptr && vocab > 0, "Sampler::draw: probs null or vocab {} not positive", vocab);
  TokenDistribution d;
  for (int32_t i = 0; i < vocab; ++i) {
    check(probs[i] >= 0.f && std::isfinite(probs[i]), "Sampler::draw: probs[{}] = {} is not a finite value >= 0", i,
          probs[i]);
    if (probs[i] > 0.f) {
      d.ids.push_back(i);
      d.probs.push_back(probs[i]);
    }
  }
  check(!d.ids.empty(), "Sampler::draw: every probability is zero (vocab {})", vocab);
  return draw(d);
}

int32_t Sampler::sample(float* logits, int32_t vocab, const std::vector<int32_t>& history) {
  check_logits(logits, vocab);
  apply_repetition_penalty(logits, vocab, history, p_.repetition_penalty, p_.repetition_window);
  return draw(build(p_, logits, vocab));
}

}  // namespace eft
