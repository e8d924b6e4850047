// Sampler: each transform against its definition, the whole pipeline against a float64 reference
// with a full sort, and the empirical distribution of sample() against probabilities().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>
#include <random>

#include "eft/error.h"
#include "eft/sampler.h"

using namespace eft;

namespace {

// Fresh per run (printed on failure); EFT_TEST_SEED=n replays a failing run.
uint64_t fresh_seed() {
  if (const char* e = std::getenv("EFT_TEST_SEED")) return std::strtoull(e, nullptr, 10);
  return std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
}
bool under_sanitizer() { return std::getenv("EFT_TEST_SANITIZER") != nullptr; }

std::vector<float> random_logits(std::mt19937_64& rng, int32_t vocab, double sd = 3.0) {
  std::normal_distribution<double> nd(0, sd);
  std::vector<float> x(static_cast<size_t>(vocab));
  for (float& v : x) v = float(nd(rng));
  return x;
}

// The pipeline in float64 with a full sort. `ambiguous` is set when a top-p or min-p cut lies
// within rounding of its threshold (float and double may then legitimately disagree).
std::vector<double> reference_probs(const SamplerParams& p, std::vector<float> logits,
                                    const std::vector<int32_t>& history, bool* ambiguous) {
  const int32_t V = int32_t(logits.size());
  *ambiguous = false;
  if (p.repetition_penalty != 1.f) {
    const size_t n = history.size();
    const size_t first = p.repetition_window > 0 && size_t(p.repetition_window) < n ? n - size_t(p.repetition_window) : 0;
    std::vector<bool> seen(static_cast<size_t>(V), false);
    for (size_t i = first; i < n; ++i) seen[size_t(history[i])] = true;
    for (int32_t t = 0; t < V; ++t)
      if (seen[size_t(t)]) logits[size_t(t)] = logits[size_t(t)] > 0 ? logits[size_t(t)] / p.repetition_penalty
                                                                       : logits[size_t(t)] * p.repetition_penalty;
  }
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  std::vector<double> r(static_cast<size_t>(V), 0.0);
  if (p.temperature == 0.f) {
    r[size_t(order[0])] = 1.0;
    return r;
  }
  size_t keep = size_t(V);
  if (p.top_k > 0) keep = std::min(keep, size_t(p.top_k));
  std::vector<double> e(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += e[i] = std::exp(double(logits[size_t(order[i])] - logits[size_t(order[0])]) / p.temperature);
  if (p.top_p < 1.f) {
    double cum = 0;
    size_t j = 0;
    for (; j < keep; ++j) {
      cum += e[j] / sum;
      if (std::fabs(cum - p.top_p) < 1e-5) *ambiguous = true;
      if (cum >= p.top_p) break;
    }
    keep = std::min(keep, j + 1);
  }
  if (p.min_p > 0.f) {
    size_t w = 0;
    for (size_t i = 0; i < keep; ++i) {
      if (std::fabs(e[i] - p.min_p) < 1e-5 * p.min_p + 1e-7) *ambiguous = true;
      if (e[i] >= p.min_p) ++w;  // e is sorted descending and e[0] = 1 = p_max / p_max
    }
    keep = w;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += e[i];
  for (size_t i = 0; i < keep; ++i) r[size_t(order[i])] = e[i] / kept;
  return r;
}

int32_t argmax(const std::vector<float>& x) {
  return int32_t(std::max_element(x.begin(), x.end()) - x.begin());  // first maximum
}

int32_t count_nonzero(const std::vector<float>& p) {
  return int32_t(std::count_if(p.begin(), p.end(), [](float q) { return q > 0.f; }));
}

}  // namespace

TEST(Sampler, GreedyIsArgmax) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  Sampler s(SamplerParams{});
  for (int rep = 0; rep < 50; ++rep) {
    auto x = random_logits(rng, 1000 + rep);
    auto y = x;
    EXPECT_EQ(s.sample(y.data(), int32_t(y.size()), {}), argmax(x));
    auto p = s.probabilities(x.data(), int32_t(x.size()), {});
    EXPECT_EQ(p[size_t(argmax(x))], 1.f);
    EXPECT_EQ(count_nonzero(p), 1);
  }
  std::vector<float> tie{1.f, 3.f, 0.f, 3.f};
  EXPECT_EQ(s.sample(tie.data(), 4, {}), 1);  // lowest id among equal maxima
}

TEST(Sampler, TemperatureMathAndZeroLimit) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  auto x = random_logits(rng, 500);
  // Separate the top two logits so the limit is reached at the temperatures below.
  const int32_t best = argmax(x);
  x[size_t(best)] += 0.5f;
  double prev = 0;
  for (float t : {2.f, 1.f, 0.5f, 0.1f, 0.02f, 0.005f}) {
    SamplerParams sp;
    sp.temperature = t;
    Sampler s(sp);
    auto p = s.probabilities(x.data(), int32_t(x.size()), {});
    double z = 0;
    for (float v : x) z += std::exp(double(v - x[size_t(best)]) / t);
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(p[i], std::exp(double(x[i] - x[size_t(best)]) / t) / z, 1e-6) << "T " << t << " token " << i;
    EXPECT_GE(p[size_t(best)], prev);
    prev = p[size_t(best)];
  }
  EXPECT_GT(prev, 1 - 1e-12);  // T -> 0: one-hot on the argmax, as greedy
}

TEST(Sampler, TopKKeepsExactlyK) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  auto x = random_logits(rng, 3000);
  std::vector<float> sorted = x;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  for (int32_t k : {1, 2, 7, 50, 2999, 3000, 5000}) {
    SamplerParams sp;
    sp.temperature = 1.f;
    sp.top_k = k;
    auto p = Sampler(sp).probabilities(x.data(), int32_t(x.size()), {});
    EXPECT_EQ(count_nonzero(p), std::min(k, 3000)) << "k " << k;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i] > sorted[size_t(std::min(k, 3000) - 1)]) {
        EXPECT_GT(p[i], 0.f) << "k " << k;
      }
  }
  // All equal: ties broken by id, still exactly k.
  std::vector<float> flat(100, 0.25f);
  SamplerParams sp;
  sp.temperature = 1.f;
  sp.top_k = 10;
  auto p = Sampler(sp).probabilities(flat.data(), 100, {});
  EXPECT_EQ(count_nonzero(p), 10);
  for (int i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(p[size_t(i)], 0.1f);
}

TEST(Sampler, TopPMinimalSet) {
  // Probabilities 0.4, 0.3, 0.2, 0.1 (logits = log p): top_p 0.65 -> {0, 1}; 0.75 -> {0, 1, 2}.
  std::vector<float> x = {std::log(0.3f), std::log(0.1f), std::log(0.4f), std::log(0.2f)};
  for (auto [tp, expect] : std::vector<std::pair<float, int>>{{0.35f, 1}, {0.65f, 2}, {0.75f, 3}, {0.95f, 4}}) {
    SamplerParams sp;
    sp.temperature = 1.f;
    sp.top_p = tp;
    auto p = Sampler(sp).probabilities(x.data(), 4, {});
    EXPECT_EQ(count_nonzero(p), expect) << "top_p " << tp;
    EXPECT_GT(p[2], 0.f);
    double kept = 0;
    for (int i = 0; i < 4; ++i) kept += p[size_t(i)];
    EXPECT_NEAR(kept, 1.0, 1e-6);
  }
  SamplerParams sp;
  sp.temperature = 1.f;
  sp.top_p = 0.65f;
  auto p = Sampler(sp).probabilities(x.data(), 4, {});
  EXPECT_NEAR(p[2], 0.4 / 0.7, 1e-6);
  EXPECT_NEAR(p[0], 0.3 / 0.7, 1e-6);
}

TEST(Sampler, MinPThreshold) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  auto x = random_logits(rng, 2000, 2.0);
  SamplerParams base;
  base.temperature = 0.7f;
  auto full = Sampler(base).probabilities(x.data(), 2000, {});
  const float pmax = *std::max_element(full.begin(), full.end());
  for (float mp : {0.01f, 0.05f, 0.2f, 0.9f}) {
    SamplerParams sp = base;
    sp.min_p = mp;
    auto p = Sampler(sp).probabilities(x.data(), 2000, {});
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::fabs(full[i] - mp * pmax) < 1e-6f * pmax) continue;  // within rounding of the cut
      EXPECT_EQ(p[i] > 0.f, full[i] >= mp * pmax) << "min_p " << mp << " token " << i;
    }
  }
}

TEST(Sampler, RepetitionPenaltyMath) {
  std::vector<float> x = {2.f, -1.f, 0.5f, -3.f, 4.f, 0.f};
  std::vector<int32_t> history = {4, 0, 0, 1, 3, 1};  // window 4: {0, 1, 3}; 4 is too old
  std::vector<float> y = x;
  apply_repetition_penalty(y.data(), 6, history, 2.f, 4);
  EXPECT_EQ(y, (std::vector<float>{1.f, -2.f, 0.5f, -6.f, 4.f, 0.f}));  // once per distinct token
  y = x;
  apply_repetition_penalty(y.data(), 6, history, 2.f, 0);  // whole history
  EXPECT_EQ(y, (std::vector<float>{1.f, -2.f, 0.5f, -6.f, 2.f, 0.f}));
  // sample() applies it in place; probabilities() leaves the caller's logits alone.
  SamplerParams sp;
  sp.temperature = 1.f;
  sp.repetition_penalty = 2.f;
  sp.repetition_window = 4;
  Sampler s(sp);
  auto p = s.probabilities(x.data(), 6, history);
  EXPECT_EQ(x[0], 2.f);
  double z = 0;
  for (float v : {1.f, -2.f, 0.5f, -6.f, 4.f, 0.f}) z += std::exp(double(v));
  EXPECT_NEAR(p[4], std::exp(4.0) / z, 1e-6);
  EXPECT_NEAR(p[0], std::exp(1.0) / z, 1e-6);
  y = x;
  s.sample(y.data(), 6, history);
  EXPECT_EQ(y[3], -6.f);
  // Greedy with a penalty: the repeated favourite loses.
  std::vector<float> g = {3.f, 2.5f};
  SamplerParams gp;
  gp.repetition_penalty = 1.5f;
  EXPECT_EQ(Sampler(gp).sample(g.data(), 2, {0}), 1);
}

TEST(Sampler, PipelineMatchesFloat64Reference) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  int checked = 0;
  const int reps = under_sanitizer() ? 30 : 150;
  for (int rep = 0; rep < reps; ++rep) {
    const int32_t V = rep == 0 ? 262144 : int32_t(2 + rng() % 6000);
    auto x = random_logits(rng, V, 1.0 + double(rng() % 5));
    SamplerParams sp;
    sp.temperature = rep % 7 == 0 ? 0.f : float(0.1 + double(rng() % 1000) / 500.0);
    sp.top_k = rng() % 3 == 0 ? 0 : int32_t(1 + rng() % 200);
    sp.top_p = rng() % 3 == 0 ? 1.f : float(0.05 + double(rng() % 1000) / 1053.0);
    sp.min_p = rng() % 3 == 0 ? 0.f : float(double(rng() % 1000) / 5000.0);
    sp.repetition_penalty = rng() % 2 ? 1.f : float(1.0 + double(rng() % 100) / 50.0);
    sp.repetition_window = int32_t(rng() % 80);
    std::vector<int32_t> history(size_t(rng() % 100));
    for (int32_t& t : history) t = int32_t(rng() % uint64_t(V));
    bool ambiguous = false;
    auto ref = reference_probs(sp, x, history, &ambiguous);
    if (ambiguous) continue;
    ++checked;
    auto p = Sampler(sp).probabilities(x.data(), V, history);
    for (int32_t i = 0; i < V; ++i) {
      // Below 1e-30 float exp may underflow to 0 where float64 does not: either is right.
      if (ref[size_t(i)] > 1e-30 || p[size_t(i)] > 0.f) {
        ASSERT_EQ(p[size_t(i)] > 0.f, ref[size_t(i)] > 0.0)
            << "rep " << rep << " V " << V << " T " << sp.temperature << " k " << sp.top_k << " p " << sp.top_p
            << " min_p " << sp.min_p << " token " << i;
      }
      ASSERT_NEAR(p[size_t(i)], ref[size_t(i)], 1e-5 * std::max(1.0, ref[size_t(i)]) + 1e-7) << "rep " << rep;
    }
  }
  EXPECT_GT(checked, reps * 9 / 10);
}

TEST(Sampler, EmpiricalDistributionMatchesProbabilities) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int n_samples = under_sanitizer() ? 40000 : 200000;
  struct Cfg {
    float t;
    int32_t k;
    float p, min_p, pen;
  };
  for (Cfg cfg : {Cfg{1.f, 0, 1.f, 0.f, 1.f}, Cfg{0.8f, 12, 0.9f, 0.02f, 1.3f}, Cfg{1.5f, 0, 0.7f, 0.f, 1.f}}) {
    std::vector<int32_t> history = {3, 5, 5, 17};
    SamplerParams sp;
    sp.temperature = cfg.t;
    sp.top_k = cfg.k;
    sp.top_p = cfg.p;
    sp.min_p = cfg.min_p;
    sp.repetition_penalty = cfg.pen;
    sp.seed = rng();
    Sampler s(sp);
    // Redraw logits until the kept set has a few tokens (one dominant logit can leave only itself).
    std::vector<float> x, p;
    do {
      x = random_logits(rng, 40, 1.5);
      p = s.probabilities(x.data(), 40, history);
    } while (count_nonzero(p) < 4);
    std::vector<int> counts(40, 0);
    for (int i = 0; i < n_samples; ++i) {
      auto y = x;
      ++counts[size_t(s.sample(y.data(), 40, history))];
    }
    // Pearson chi-square over the kept tokens; tokens with probability 0 must never appear.
    double chi2 = 0;
    int df = -1;
    for (int i = 0; i < 40; ++i) {
      if (p[size_t(i)] == 0.f) {
        EXPECT_EQ(counts[size_t(i)], 0) << "token " << i << " has probability 0";
        continue;
      }
      const double e = double(p[size_t(i)]) * n_samples;
      chi2 += (counts[size_t(i)] - e) * (counts[size_t(i)] - e) / e;
      ++df;
    }
    ASSERT_GT(df, 0);
    // Loose fixed bound: mean df, sd sqrt(2 df); df + 8 sd + 10 fails a correct sampler < 1e-6 of runs.
    EXPECT_LT(chi2, df + 8 * std::sqrt(2.0 * df) + 10) << "chi2 " << chi2 << " df " << df << " T " << cfg.t;
  }
}

TEST(Sampler, DrawFromExplicitProbabilities) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  SamplerParams sp;
  sp.seed = seed;
  Sampler s(sp);
  std::vector<float> q = {0.f, 2.f, 1.f, 0.f, 1.f};  // unnormalized: 0.5, 0.25, 0.25
  std::vector<int> counts(5, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[size_t(s.draw(q.data(), 5))];
  EXPECT_EQ(counts[0] + counts[3], 0);
  const double chi2 = std::pow(counts[1] - n * 0.5, 2) / (n * 0.5) + std::pow(counts[2] - n * 0.25, 2) / (n * 0.25) +
                      std::pow(counts[4] - n * 0.25, 2) / (n * 0.25);
  EXPECT_LT(chi2, 2 + 8 * 2 + 10);
  std::vector<float> zeros(3, 0.f);
  EXPECT_THROW(s.draw(zeros.data(), 3), Error);
}

TEST(Sampler, SameSeedSameSequence) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  auto x = random_logits(rng, 5000, 1.0);
  SamplerParams sp;
  sp.temperature = 1.f;
  sp.top_p = 0.95f;
  sp.seed = seed;
  auto run = [&](uint64_t sd) {
    SamplerParams q = sp;
    q.seed = sd;
    Sampler s(q);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      auto y = x;
      out.push_back(s.sample(y.data(), 5000, out));
    }
    return out;
  };
  EXPECT_EQ(run(seed), run(seed));
  EXPECT_NE(run(seed), run(seed + 1));
  Sampler s(sp);
  auto y = x;
  const int32_t first = s.sample(y.data(), 5000, {});
  s.reseed(seed);
  y = x;
  EXPECT_EQ(s.sample(y.data(), 5000, {}), first);
}

TEST(Sampler, BadInputsAreErrors) {
  auto make = [](auto f) {
    SamplerParams p;
    f(p);
    return p;
  };
  EXPECT_THROW(Sampler(make([](SamplerParams& p) { p.temperature = -1.f; })), Error);
  EXPECT_THROW(Sampler(make([](SamplerParams& p) { p.top_k = -2; })), Error);
  EXPECT_THROW(Sampler(make([](SamplerParams& p) { p.top_p = 0.f; })), Error);
  EXPECT_THROW(Sampler(make([](SamplerParams& p) { p.min_p = 1.5f; })), Error);
  EXPECT_THROW(Sampler(make([](SamplerParams& p) { p.repetition_penalty = 0.f; })), Error);
  Sampler s(SamplerParams{});
  std::vector<float> x = {0.f, std::nanf(""), 1.f};
  EXPECT_THROW(s.sample(x.data(), 3, {}), Error);
  std::vector<float> ninf(3, -INFINITY);
  EXPECT_THROW(s.sample(ninf.data(), 3, {}), Error);
  std::vector<float> ok = {0.f, 1.f};
  EXPECT_THROW(s.sample(ok.data(), 0, {}), Error);
  SamplerParams pen;
  pen.repetition_penalty = 1.2f;
  EXPECT_THROW(Sampler(pen).sample(ok.data(), 2, {5}), Error);  // history token outside the vocabulary
}
