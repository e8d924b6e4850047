// FAVOR+ approximates softmax attention: its error against the float64 softmax reference falls as
// the number of random features m grows. Measured for m = 16, 64, 256, 1024, averaged over several
// projections so one unlucky draw cannot decide the test.
#include <gtest/gtest.h>

#include <cstdlib>

#include "linear/linear_testing.h"

namespace eft::test {
namespace {

// Mean relative L2 error against softmax over `draws` projection seeds.
double mean_error(AttnCase& c, const std::vector<double>& softmax, int m, uint64_t seed, int draws) {
  double sum = 0;
  for (int i = 0; i < draws; ++i) {
    c.params.linear.features = m;
    c.params.linear.seed = seed * 31 + uint64_t(i);
    c.poison();
    attention_cpu(c.params, c.args());
    sum += rel_l2(c.out_f64(), softmax);
  }
  return sum / draws;
}

void check_convergence(bool causal, double bound_m256) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={} causal={}", seed, causal));
  AttnCaseSpec spec;
  spec.q_heads = 4;
  spec.kv_heads = 4;
  spec.head_dim = 64;
  spec.q_lens = {256};
  spec.kv_lens = {256};
  spec.method = AttnMethod::linear;
  spec.mask = causal ? mask_causal() : mask_none();
  AttnCase c = make_case(spec, seed);
  // Q and K with standard deviation 0.5: logits s*q.k have sd 0.25 and |q~|^2 = |q|^2/8 ~ 2, so
  // one kernel estimate's relative variance is ~ exp(|q~ + k~|^2) / m ~ 55 / m. The output of
  // near-uniform attention is small (~ 1/sqrt(N)) and its relative error does not average down
  // over keys: expect ~ sqrt(55/m), i.e. ~0.45 at m = 256 (an independent numpy check of the
  // same estimator gave 0.40-0.43). Unit-variance inputs at d = 64 (|q~|^2 ~ 8) give errors near 1
  // for any practical m: the Performer's known weakness; the test states the regime it measures.
  scale_qk(c, 0.5);
  const std::vector<double> softmax = c.reference();
  std::vector<double> err;
  // Three projections per m (two under the sanitizers, where this test is the slowest).
  const int draws = std::getenv("EFT_TEST_SANITIZER") ? 2 : 3;
  for (int m : {16, 64, 256, 1024}) err.push_back(mean_error(c, softmax, m, seed, draws));
  SCOPED_TRACE(fmt::format("errors m=16: {:.4g}, 64: {:.4g}, 256: {:.4g}, 1024: {:.4g}", err[0], err[1], err[2],
                           err[3]));
  // Monotone-ish: each 4x more features must not make the mean error worse by more than 10%,
  // and over 64x the error must fall at least 2.5x (measured ~3.6x: the small-m end saturates,
  // the large-m end approaches 1/sqrt(m)).
  for (size_t i = 1; i < err.size(); ++i) EXPECT_LT(err[i], 1.1 * err[i - 1]) << "step " << i;
  EXPECT_LT(err[3], err[0] / 2.5);
  EXPECT_LT(err[2], bound_m256);
}

// Bounds at m = 256, d = 64, N = 256: measured means ~0.46 (none) and ~0.28 (causal: early rows
// attend to few keys and have larger outputs, so smaller relative errors).
TEST(LinearAccuracy, ErrorFallsWithFeaturesNonCausal) { check_convergence(false, 0.6); }
TEST(LinearAccuracy, ErrorFallsWithFeaturesCausal) { check_convergence(true, 0.4); }

}  // namespace
}  // namespace eft::test
