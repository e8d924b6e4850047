// Sampler: the pipeline described in include/eft/sampler.h. One function builds the distribution
// so that sample() and probabilities() can never disagree.
#include "eft/sampler.h"

#include <algorithm>
#include <cmath>

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

// A candidate token: its value (logit, then unnormalized probability) next to its id, so that
// selection compares contiguous 8-byte records instead of chasing indices into [vocab].
struct Cand {
  float v;
  int32_t id;
};
// Strict order: larger value first, lower id on ties (deterministic selection).
inline bool desc(const Cand& a, const Cand& b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

void check_logits(const float* logits, int32_t vocab) {
  check(vocab > 0, "sampler: vocab must be positive (got {})", vocab);
  check(logits != nullptr, "sampler: logits are null");
}

// Top-p on c (any order): reorders c so that its first `return` entries are the smallest set of
// largest values whose mass reaches `target`. Weighted quickselect: each round splits the live
// range at its median with nth_element and keeps the half holding the cut, so the cost is O(n)
// however many tokens the set needs (a flat distribution at a high temperature needs thousands).
size_t top_p_cut(std::vector<Cand>& c, double target) {
  size_t lo = 0, hi = c.size();  // c[0, lo) is taken (mass acc); the cut lies in [lo, hi)
  double acc = 0;
  while (hi - lo > 64) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(mid), c.begin() + ptrdiff_t(hi), desc);
    double upper = 0;
    for (size_t j = lo; j < mid; ++j) upper += c[j].v;
    if (acc + upper >= target) {
      hi = mid;
    } else {
      acc += upper;
      lo = mid;
    }
  }
  std::sort(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(hi), desc);
  for (size_t j = lo; j < hi; ++j) {
    acc += c[j].v;
    if (acc >= target) return j + 1;
  }
  return hi;  // mass through hi reached the target (summed in another order), or the whole set is needed
}

// Builds the kept tokens and their renormalized probabilities from penalized logits [vocab].
TokenDistribution build(const SamplerParams& p, const float* x, int32_t vocab) {
  TokenDistribution d;
  int32_t best = 0;
  for (int32_t i = 0; i < vocab; ++i) {
    if (std::isnan(x[i])) fail("sampler: logit {} is NaN", i);
    if (x[i] > x[best]) best = i;
  }
  check(x[best] > -INFINITY, "sampler: every logit is -inf (vocab {})", vocab);
  if (p.temperature == 0.f || x[best] == INFINITY) {
    d.ids = {best};
    d.probs = {1.f};
    return d;
  }

  // Candidates: logits above -inf; top-k narrows them with one nth_element.
  std::vector<Cand> c(static_cast<size_t>(vocab));  // [n_candidates]
  size_t n = 0;
  for (int32_t i = 0; i < vocab; ++i) {  // branchless compaction: masked (-inf) logits drop out
    c[n] = {x[i], i};
    n += x[i] > -INFINITY;
  }
  c.resize(n);
  if (p.top_k > 0 && size_t(p.top_k) < c.size()) {
    std::nth_element(c.begin(), c.begin() + p.top_k, c.end(), desc);
    c.resize(size_t(p.top_k));
  }

  // Softmax numerators of z = x / T: e in (0, 1], exactly 1 at the argmax (always a candidate).
  const float inv_t = 1.f / p.temperature;
  const float zmax = x[best] * inv_t;
  double sum = 0;
  for (Cand& k : c) {
    k.v = std::exp(k.v * inv_t - zmax);
    sum += k.v;
  }
  // min-p: p_i >= min_p * p_max  <=>  e_i >= min_p (e_max = 1). Both min-p and top-p keep a
  // prefix of the sorted order, so applying min-p first and then top-p with the mass target of
  // the unfiltered set keeps their intersection, as min-p after top-p would — and usually leaves
  // top-p far fewer tokens to select from.
  if (p.min_p > 0.f) {
    const float th = p.min_p;
    c.erase(std::remove_if(c.begin(), c.end(), [th](const Cand& k) { return !(k.v >= th); }), c.end());
  }
  if (p.top_p < 1.f) c.resize(top_p_cut(c, double(p.top_p) * sum));

  double kept = 0;
  for (const Cand& k : c) kept += k.v;
  const double inv = 1.0 / kept;
  d.ids.resize(c.size());
  d.probs.resize(c.size());
  size_t m = 0;
  for (const Cand& k : c) {  // exact zeros (exp underflow) are not candidates: probability 0
    d.ids[m] = k.id;
    d.probs[m] = float(double(k.v) * inv);
    m += k.v > 0.f;
  }
  d.ids.resize(m);
  d.probs.resize(m);
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
