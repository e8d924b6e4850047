// Invariants of linear attention: paged == contiguous, GQA == MHA over duplicated KV heads,
// N decode steps == the causal prefill, a seeded projection is deterministic and orthogonal,
// a caller's projection is used, bad input is rejected with a clear error.
#include <gtest/gtest.h>

#include "eft/error.h"
#include "eft/parallel.h"
#include "linear/linear_testing.h"

namespace eft::test {
namespace {

AttnCaseSpec linear_spec(int qh, int kvh, int d, std::vector<int> q, std::vector<int> kv, bool causal) {
  AttnCaseSpec s;
  s.q_heads = qh;
  s.kv_heads = kvh;
  s.head_dim = d;
  s.q_lens = std::move(q);
  s.kv_lens = std::move(kv);
  s.method = AttnMethod::linear;
  s.mask = causal ? mask_causal() : mask_none();
  return s;
}

TEST(LinearInvariants, PagedEqualsContiguous) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  for (bool causal : {false, true}) {
    AttnCase c = make_case(linear_spec(4, 2, 64, {30, 1, 150}, {90, 77, 150}, causal), seed);
    c.params.linear.features = 128;
    attention_cpu(c.params, c.args());
    const auto contiguous = c.out_f64();
    std::mt19937_64 rng(seed);
    make_paged(c, 16, rng);
    c.poison();
    attention_cpu(c.params, c.args());
    // Same tokens in the same order through the same arithmetic: identical up to float rounding.
    EXPECT_LE(rel_l2(c.out_f64(), contiguous), 1e-6) << "causal=" << causal;
  }
}

TEST(LinearInvariants, GqaEqualsMhaWithDuplicatedKvHeads) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  for (int kvh : {1, 2}) {  // MQA and GQA 4:1
    AttnCase gqa = make_case(linear_spec(8, kvh, 64, {50, 9}, {50, 120}, true), seed);
    AttnCase mha = make_case(linear_spec(8, 8, 64, {50, 9}, {50, 120}, true), seed + 1);
    // Copy Q, and K/V with every KV head repeated for its query heads.
    mha.q = gqa.q;
    const int group = 8 / kvh, d = 64;
    const int64_t rows = gqa.kv_rows;
    for (int64_t t = 0; t < rows; ++t)
      for (int h = 0; h < 8; ++h)
        for (int c = 0; c < d; ++c) {
          const size_t src = size_t((t * kvh + h / group) * d + c) * 4, dst = size_t((t * 8 + h) * d + c) * 4;
          std::copy_n(gqa.k.begin() + src, 4, mha.k.begin() + dst);
          std::copy_n(gqa.v.begin() + src, 4, mha.v.begin() + dst);
        }
    attention_cpu(gqa.params, gqa.args());
    attention_cpu(mha.params, mha.args());
    EXPECT_LE(rel_l2(gqa.out_f64(), mha.out_f64()), 1e-6) << "kv_heads=" << kvh;
  }
}

// Row strides on Q, K/V and O (e.g. Q/K/V as slices of one fused QKV buffer) read the same values.
TEST(LinearInvariants, RowStridesReadTheSameRows) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  const int qh = 4, kvh = 2, d = 32;
  AttnCase c = make_case(linear_spec(qh, kvh, d, {20, 3}, {20, 70}, true), seed);
  attention_cpu(c.params, c.args());
  const auto plain = c.out_f64();
  const int64_t qs = qh * d + 16, ks = kvh * d + 8, os = qh * d + 4;  // padded row strides
  const auto* q = reinterpret_cast<const float*>(c.q.data());
  const auto* k = reinterpret_cast<const float*>(c.k.data());
  const auto* v = reinterpret_cast<const float*>(c.v.data());
  std::vector<float> qp(size_t(c.q_tokens * qs), std::nanf("")), kp(size_t(c.kv_rows * ks), std::nanf(""));
  std::vector<float> vp(kp.size(), std::nanf("")), op(size_t(c.q_tokens * os), -7.f);
  for (int64_t t = 0; t < c.q_tokens; ++t) std::copy_n(q + t * qh * d, qh * d, qp.begin() + t * qs);
  for (int64_t t = 0; t < c.kv_rows; ++t) {
    std::copy_n(k + t * kvh * d, kvh * d, kp.begin() + t * ks);
    std::copy_n(v + t * kvh * d, kvh * d, vp.begin() + t * ks);
  }
  AttentionArgs a = c.args();
  a.q = qp.data();
  a.q_row_stride = qs;
  a.kv.k = kp.data();
  a.kv.v = vp.data();
  a.kv.row_stride = ks;
  a.o = op.data();
  a.o_row_stride = os;
  attention_cpu(c.params, a);
  std::vector<double> got;
  for (int64_t t = 0; t < c.q_tokens; ++t) {
    for (int64_t i = 0; i < qh * d; ++i) got.push_back(op[size_t(t * os + i)]);
    for (int64_t i = qh * d; i < os; ++i) ASSERT_EQ(op[size_t(t * os + i)], -7.f) << "wrote into the row padding";
  }
  EXPECT_LE(rel_l2(got, plain), 1e-7);
}

// The work split changes with the thread count (a GQA group is sliced across threads when there
// are fewer (sequence, KV head) pairs than threads); the result must not.
TEST(LinearInvariants, ThreadCountDoesNotChangeTheResult) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  AttnCase c = make_case(linear_spec(8, 1, 64, {100}, {100}, true), seed);
  const int before = num_threads();
  set_num_threads(1);
  attention_cpu(c.params, c.args());
  const auto one = c.out_f64();
  set_num_threads(5);
  c.poison();
  attention_cpu(c.params, c.args());
  set_num_threads(before);
  EXPECT_LE(rel_l2(c.out_f64(), one), 1e-7);
}

TEST(LinearInvariants, DecodeStepsEqualCausalPrefill) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  const int n = 150, qh = 8, kvh = 2, d = 64;
  AttnCase c = make_case(linear_spec(qh, kvh, d, {n}, {n}, true), seed);
  c.params.linear.features = 128;
  std::vector<float> lse(size_t(n * qh));
  AttentionArgs a = c.args();
  a.lse = lse.data();
  attention_cpu(c.params, a);
  const auto prefill = c.out_f64();
  const int64_t mem_before = memory_stats(Device::cpu).current;
  LinearAttentionState st(c.params);
  const int64_t bytes = st.state_bytes();
  EXPECT_EQ(bytes, int64_t(kvh) * (128 * d + 128 + 1) * 4);
  EXPECT_GE(memory_stats(Device::cpu).current - mem_before, bytes) << "the state is visible to memory_stats";
  const auto* q = reinterpret_cast<const float*>(c.q.data());
  const auto* k = reinterpret_cast<const float*>(c.k.data());
  const auto* v = reinterpret_cast<const float*>(c.v.data());
  std::vector<double> steps;
  std::vector<float> o(size_t(qh * d)), step_lse(static_cast<size_t>(qh));
  double worst_lse = 0;
  for (int t = 0; t < n; ++t) {
    st.step(q + t * qh * d, k + t * kvh * d, v + t * kvh * d, o.data(), step_lse.data());
    steps.insert(steps.end(), o.begin(), o.end());
    for (int h = 0; h < qh; ++h) worst_lse = std::max(worst_lse, double(std::abs(step_lse[h] - lse[t * qh + h])));
  }
  EXPECT_EQ(st.tokens(), n);
  EXPECT_EQ(st.state_bytes(), bytes) << "the state must not grow with the sequence";
  EXPECT_LE(rel_l2(steps, prefill), 1e-5);
  EXPECT_LE(worst_lse, 1e-4);
  // And the last row alone, as the issue states it.
  std::vector<double> last(prefill.end() - qh * d, prefill.end()), last_step(steps.end() - qh * d, steps.end());
  EXPECT_LE(rel_l2(last_step, last), 1e-5);
  // append() for the prompt, step() for the last token: the same last row.
  st.reset();
  EXPECT_EQ(st.tokens(), 0);
  for (int t = 0; t + 1 < n; ++t) st.append(k + t * kvh * d, v + t * kvh * d);
  st.step(q + (n - 1) * qh * d, k + (n - 1) * kvh * d, v + (n - 1) * kvh * d, o.data());
  EXPECT_EQ(st.tokens(), n);
  EXPECT_LE(rel_l2(std::vector<double>(o.begin(), o.end()), last), 1e-5);
}

TEST(LinearInvariants, ProjectionIsSeededOrthogonalAndChiScaled) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  const int d = 64, m = 4096 + 17;  // a partial last block
  const auto w = favor::draw_projection(m, d, seed);
  EXPECT_EQ(w, favor::draw_projection(m, d, seed)) << "same seed, same projection";
  EXPECT_NE(w, favor::draw_projection(m, d, seed + 1));
  double mean_len = 0, worst_cos = 0;
  std::vector<double> len(static_cast<size_t>(m));
  for (int r = 0; r < m; ++r) {
    double s = 0;
    for (int c = 0; c < d; ++c) s += double(w[size_t(r) * d + c]) * w[size_t(r) * d + c];
    len[size_t(r)] = std::sqrt(s);
    mean_len += len[size_t(r)] / m;
  }
  for (int b = 0; b < m; b += d)
    for (int i = b; i < std::min(m, b + d); ++i)
      for (int j = b; j < i; ++j) {
        double dot = 0;
        for (int c = 0; c < d; ++c) dot += double(w[size_t(i) * d + c]) * w[size_t(j) * d + c];
        worst_cos = std::max(worst_cos, std::abs(dot) / (len[size_t(i)] * len[size_t(j)]));
      }
  EXPECT_LE(worst_cos, 1e-5) << "rows of a block must be orthogonal";
  // chi(d) has mean ~ sqrt(d - 1/2) and sd ~ 0.71: the mean of 4113 lengths is within ~0.011.
  EXPECT_NEAR(mean_len, std::sqrt(d - 0.5), 0.06);
}

// The feature map's vectorized exp: relative error ~1e-7 where it matters, 0 far below.
TEST(LinearInvariants, VectorExpIsAccurate) {
  std::vector<float> x;
  for (double t = -100.0; t <= 0.0; t += 0.0013) x.push_back(float(t));
  std::vector<float> y = x;
  favor::exp_shifted(y.data(), int64_t(y.size()), 0.f);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < -87.f) {
      ASSERT_EQ(y[i], 0.f) << x[i];
      continue;
    }
    const double e = std::exp(double(x[i]));
    worst = std::max(worst, std::abs(y[i] - e) / e);
  }
  EXPECT_LE(worst, 4e-7);
  float shifted = 2.5f;
  favor::exp_shifted(&shifted, 1, 3.0f);  // exp(2.5 - 3)
  EXPECT_NEAR(shifted, std::exp(-0.5), 1e-7);
}

TEST(LinearInvariants, CallersProjectionIsUsed) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  AttnCase c = make_case(linear_spec(2, 1, 32, {40}, {40}, false), seed);
  c.params.linear.features = 48;
  c.params.linear.seed = 7;
  attention_cpu(c.params, c.args());
  const auto drawn = c.out_f64();
  const auto w = favor::draw_projection(48, 32, 7);
  c.params.linear.seed = 12345;  // ignored: the projection wins
  c.params.linear.projection = w.data();
  c.poison();
  attention_cpu(c.params, c.args());
  EXPECT_LE(rel_l2(c.out_f64(), drawn), 1e-7);
  std::vector<float> other = favor::draw_projection(48, 32, 8);
  c.params.linear.projection = other.data();
  attention_cpu(c.params, c.args());
  EXPECT_GT(rel_l2(c.out_f64(), drawn), 1e-4) << "a different projection must change the output";
}

TEST(LinearInvariants, RejectsBadInput) {
  AttnCase c = make_case(linear_spec(4, 2, 32, {8}, {8}, true), 1);
  AttentionParams p = c.params;
  p.mask = mask_window(4, 0);
  EXPECT_THROW(attention_cpu(p, c.args()), Error);
  try {
    attention_cpu(p, c.args());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
  }
  p = c.params;
  p.linear.features = 0;
  EXPECT_THROW(attention_cpu(p, c.args()), Error);
  p = c.params;
  p.softcap = 30.f;
  EXPECT_THROW(attention_cpu(p, c.args()), Error);
  p = c.params;
  p.mask = mask_strided(4, 2, true);
  EXPECT_THROW(LinearAttentionState{p}, Error);
  p = c.params;
  p.kv_heads = 3;
  EXPECT_THROW(LinearAttentionState{p}, Error);
  std::vector<float> bad(size_t(c.params.linear.features) * 32, 0.f);
  bad[5] = std::nanf("");
  p = c.params;
  p.linear.projection = bad.data();
  try {
    attention_cpu(p, c.args());
    ADD_FAILURE() << "a NaN in the projection must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("projection[0][5]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace eft::test
