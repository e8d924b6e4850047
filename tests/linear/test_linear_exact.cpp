// attention_linear against its own explicit float64 quadratic form phi(Q) phi(K)^T V (masked for
// causal): the chunked running sums, the offsets and the GEMMs must compute exactly that function.
#include <gtest/gtest.h>

#include <cstdlib>

#include "eft/error.h"
#include "linear/linear_testing.h"

namespace eft::test {
namespace {

struct ExactCase {
  int q_heads, kv_heads, head_dim, features;
  std::vector<int> q_lens, kv_lens;
  MaskType mask;
  DType dtype = DType::f32;
  float scale = 0.f;
  bool paged = false;
};

// Runs one case with fresh inputs and checks O and LSE against the quadratic form.
void check_case(const ExactCase& e, uint64_t seed, double tol = 1e-5) {
  AttnCaseSpec spec;
  spec.q_heads = e.q_heads;
  spec.kv_heads = e.kv_heads;
  spec.head_dim = e.head_dim;
  spec.q_lens = e.q_lens;
  spec.kv_lens = e.kv_lens;
  spec.dtype = e.dtype;
  spec.scale = e.scale;
  spec.method = AttnMethod::linear;
  spec.mask = e.mask == MaskType::causal ? mask_causal() : mask_none();
  AttnCase c = make_case(spec, seed);
  c.params.linear.features = e.features;
  c.params.linear.seed = seed ^ 0xabcdef;
  std::mt19937_64 rng(seed);
  if (e.paged) make_paged(c, 16, rng);
  SCOPED_TRACE(fmt::format("seed={} m={} {}", seed, e.features, c.spec.str()));
  std::vector<float> lse(size_t(c.q_tokens * e.q_heads), std::nanf(""));
  AttentionArgs a = c.args();
  a.lse = lse.data();
  attention_cpu(c.params, a);
  const std::vector<float> w = favor::draw_projection(e.features, e.head_dim, c.params.linear.seed);
  std::vector<double> ref_lse;
  const std::vector<double> ref = favor_quadratic(c.params, a, w, &ref_lse);
  EXPECT_LE(rel_l2(c.out_f64(), ref), tol);
  double worst = 0;
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(ref_lse[i])) {
      EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "row " << i << " lse " << lse[i];
      continue;
    }
    worst = std::max(worst, std::abs(lse[i] - ref_lse[i]) / std::max(1.0, std::abs(ref_lse[i])));
  }
  EXPECT_LE(worst, tol) << "LSE";
  // EFT_LINEAR_REPORT=1 prints every case's errors, so a loop over fresh seeds can show how close
  // the worst one comes to the bound (a pass alone says nothing about the margin).
  if (std::getenv("EFT_LINEAR_REPORT"))
    fmt::print("linear-exact seed={} m={} D={} mask={} out_err={:.3e} lse_err={:.3e} tol={:.0e}\n", seed, e.features,
               e.head_dim, int(e.mask), rel_l2(c.out_f64(), ref), worst, tol);
}

TEST(LinearExact, GridAgainstQuadraticForm) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("replay with EFT_SEED={}", seed));
  const std::vector<std::pair<int, int>> heads{{4, 4}, {4, 1}, {8, 2}};
  const std::vector<std::pair<std::vector<int>, std::vector<int>>> lens{
      {{1}, {1}},
      {{7}, {7}},
      {{129}, {129}},                  // chunk boundary + tail
      {{64}, {64}},                    // exactly one chunk
      {{5, 130, 1}, {40, 130, 65}},    // ragged: chunked prefill, prefill, decode
      {{63}, {200}},                   // chunked prefill whose queries start mid-chunk (pos 137)
  };
  int cases = 0;
  for (MaskType mask : {MaskType::none, MaskType::causal})
    for (auto [qh, kvh] : heads)
      for (const auto& [ql, kl] : lens)
        for (bool paged : {false, true}) {
          // Rotate head_dim and features through the grid (d not a multiple of 32, m not of d).
          const int d = std::vector<int>{64, 80, 32}[size_t(cases % 3)];
          const int m = std::vector<int>{64, 100, 256}[size_t((cases / 3) % 3)];
          check_case({qh, kvh, d, m, ql, kl, mask, DType::f32, 0.f, paged}, seed + uint64_t(cases));
          ++cases;
        }
}

TEST(LinearExact, ScaleAndLowPrecisionInputs) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("replay with EFT_SEED={}", seed));
  // scale folded into x~ = x * sqrt(scale)
  check_case({4, 2, 64, 128, {100}, {100}, MaskType::causal, DType::f32, 0.05f, false}, seed);
  check_case({4, 2, 64, 128, {100}, {100}, MaskType::none, DType::f32, 0.3f, true}, seed + 1);
  // bf16 / f16 inputs: the quadratic form reads the same rounded values, so the bound is unchanged.
  check_case({4, 4, 64, 128, {70, 3}, {70, 90}, MaskType::causal, DType::bf16, 0.f, false}, seed + 2);
  check_case({2, 1, 128, 64, {33}, {33}, MaskType::none, DType::f16, 0.f, true}, seed + 3);
}

TEST(LinearExact, HeadDim256AndLongSequence) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("replay with EFT_SEED={}", seed));
  const bool asan = std::getenv("EFT_TEST_SANITIZER") != nullptr;
  check_case({2, 1, 256, 256, {40}, {40}, MaskType::causal, DType::f32, 0.f, false}, seed);
  check_case({1, 1, 64, 64, {asan ? 300 : 1000}, {asan ? 300 : 1000}, MaskType::causal, DType::f32, 0.f, true},
             seed + 1);
}

// Queries at explicit positions (q_pos0), some past the last key: causal rows there see every key.
TEST(LinearExact, ExplicitQueryPositions) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  AttnCaseSpec spec;
  spec.q_heads = 2;
  spec.kv_heads = 1;
  spec.head_dim = 64;
  spec.q_lens = {10, 4};
  spec.kv_lens = {100, 0};
  spec.method = AttnMethod::linear;
  spec.mask = mask_causal();
  AttnCase c = make_case(spec, seed);
  c.params.linear.features = 96;
  std::vector<int32_t> pos0{95, 0};  // rows 95..104 over keys 0..99; a sequence with no keys
  AttentionArgs a = c.args();
  a.batch.q_pos0 = pos0.data();
  std::vector<float> lse(size_t(c.q_tokens * 2));
  a.lse = lse.data();
  attention_cpu(c.params, a);
  const auto w = favor::draw_projection(96, 64, c.params.linear.seed);
  const auto ref = favor_quadratic(c.params, a, w);
  EXPECT_LE(rel_l2(c.out_f64(), ref), 1e-5);
  // The key-less sequence: O = 0 exactly and LSE = -inf, like softmax attention's empty rows.
  const auto out = c.out_f64();
  for (int64_t i = 10 * 2 * 64; i < c.q_tokens * 2 * 64; ++i) ASSERT_EQ(out[size_t(i)], 0.0) << i;
  for (int64_t i = 20; i < c.q_tokens * 2; ++i) EXPECT_TRUE(std::isinf(lse[size_t(i)]) && lse[size_t(i)] < 0);
}

// Low-precision outputs: within the rounding of the output type.
TEST(LinearExact, Bf16Output) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  AttnCaseSpec spec;
  spec.q_heads = 4;
  spec.kv_heads = 2;
  spec.head_dim = 64;
  spec.q_lens = {77};
  spec.kv_lens = {77};
  spec.o_dtype = DType::bf16;
  spec.method = AttnMethod::linear;
  spec.mask = mask_causal();
  AttnCase c = make_case(spec, seed);
  attention_cpu(c.params, c.args());
  const auto w = favor::draw_projection(c.params.linear.features, 64, c.params.linear.seed);
  EXPECT_LE(rel_l2(c.out_f64(), favor_quadratic(c.params, c.args(), w)), 4e-3);  // bf16: 2^-8 relative
}

}  // namespace
}  // namespace eft::test
