// The small building blocks under the CPU methods (src/attention/cpu/tile_math.h) and the tile
// classifier they trust (mask_tile in eft/mask.h): exp, f16/bf16 loads, the micro-GEMM, row masks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "attention/cpu/tile_math.h"
#include "attn_test_util.h"

namespace eft::test {
namespace {

using namespace eft::cpu;

TEST(TileMath, ExpMatchesLibm) {
  std::mt19937_64 rng(run_seed());
  std::uniform_real_distribution<float> u(-87.f, 88.f);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = i < 100000 ? u(rng) : -std::ldexp(float(i - 100000), -12);  // dense near 0
    const double ref = std::exp(double(x));
    worst = std::max(worst, std::fabs(tile::exp_f32(x) - ref) / ref);
  }
  EXPECT_LT(worst, 4e-7) << seed_note();
  EXPECT_EQ(tile::exp_f32(-INFINITY), 0.f);
  EXPECT_EQ(tile::exp_f32(-1000.f), 0.f);
  EXPECT_EQ(tile::exp_f32(0.f), 1.f);
}

TEST(TileMath, HalfLoadsMatchTheLibraryForEveryBitPattern) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float fast = tile::f16_bits_to_f32(uint16_t(b));
    const float lib = f16_to_f32(f16{uint16_t(b)});
    if (std::isnan(lib)) {
      EXPECT_TRUE(std::isnan(fast)) << b;
    } else {
      ASSERT_EQ(f32_bits(fast), f32_bits(lib)) << "f16 bits " << b;
    }
    ASSERT_EQ(f32_bits(tile::bf16_bits_to_f32(uint16_t(b))), f32_bits(bf16_to_f32(bf16{uint16_t(b)})));
  }
}

TEST(TileMath, MicroGemmMatchesNaive) {
  std::mt19937_64 rng(run_seed() + 1);
  std::normal_distribution<float> nd;
  for (int64_t M : {1, 3, 4, 9, 64})
    for (int64_t N : {16, 48, 64, 80, 256})
      for (int64_t K : {1, 17, 64}) {
        const int64_t lda = K + 3, ldb = N + 16, ldc = N + 5;
        std::vector<float> a(size_t(M * lda)), b(size_t(K * ldb)), c(size_t(M * ldc)), c0;
        for (auto& x : a) x = nd(rng);
        for (auto& x : b) x = nd(rng);
        for (auto& x : c) x = nd(rng);
        c0 = c;
        for (bool acc : {false, true}) {
          c = c0;
          tile::gemm(M, N, K, a.data(), lda, b.data(), ldb, c.data(), ldc, acc);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              if (j >= N) {
                ASSERT_EQ(c[size_t(i * ldc + j)], c0[size_t(i * ldc + j)]) << "wrote past N";
                continue;
              }
              double r = acc ? c0[size_t(i * ldc + j)] : 0.0;
              for (int64_t k = 0; k < K; ++k) r += double(a[size_t(i * lda + k)]) * b[size_t(k * ldb + j)];
              ASSERT_NEAR(c[size_t(i * ldc + j)], r, 1e-4 * (1 + std::fabs(r))) << M << "x" << N << "x" << K;
            }
        }
      }
}

// Masks of every variant with their extents drawn as in the grid, on a 200-token sequence.
std::vector<AttnCaseSpec> mask_specs(std::mt19937_64& rng) {
  std::vector<AttnCaseSpec> out;
  for (Variant v : all_variants())
    for (int rep = 0; rep < 3; ++rep) {
      AttnCaseSpec s;
      s.q_lens = {200};
      s.kv_lens = {200};
      apply_variant(s, v, rng);
      out.push_back(s);
    }
  return out;
}
Mask bind(const AttnCaseSpec& s) {
  Mask m = s.mask;
  if (m.type == MaskType::longformer) {
    m.global = s.global.data();
    m.n_global = int32_t(s.global.size());
  }
  if (m.type == MaskType::block_sparse) m.layout = s.layout.data();
  return m;
}

TEST(TileMath, MaskRowMatchesPredicate) {
  std::mt19937_64 rng(run_seed() + 2);
  const std::vector<AttnCaseSpec> specs = mask_specs(rng);
  std::vector<uint8_t> allowed(64);
  for (const AttnCaseSpec& s : specs) {
    const Mask m = bind(s);
    for (int64_t i = 0; i < 200; i += 7)
      for (int64_t k0 = 0; k0 < 200; k0 += 50) {
        const int64_t n = std::min<int64_t>(64, 200 - k0);
        tile::mask_row(m, i, k0, n, allowed.data());
        for (int64_t c = 0; c < n; ++c)
          ASSERT_EQ(allowed[size_t(c)] != 0, mask_allows(m, i, k0 + c)) << s.str() << " i=" << i << " j=" << k0 + c;
      }
  }
}

// sparse trusts mask_tile: "empty" must mean no allowed pair, "full" every pair allowed.
TEST(TileMath, MaskTileIsExactWhereItClaims) {
  std::mt19937_64 rng(run_seed() + 3);
  const std::vector<AttnCaseSpec> specs = mask_specs(rng);
  std::uniform_int_distribution<int64_t> pos(0, 199), len(0, 70);
  for (const AttnCaseSpec& s : specs) {
    const Mask m = bind(s);
    for (int t = 0; t < 300; ++t) {
      const int64_t q_lo = pos(rng), k_lo = pos(rng);
      const int64_t q_hi = std::min<int64_t>(199, q_lo + len(rng)), k_hi = std::min<int64_t>(199, k_lo + len(rng));
      int64_t allowed = 0;
      for (int64_t i = q_lo; i <= q_hi; ++i)
        for (int64_t j = k_lo; j <= k_hi; ++j) allowed += mask_allows(m, i, j);
      const TileState st = mask_tile(m, q_lo, q_hi, k_lo, k_hi);
      const int64_t all = (q_hi - q_lo + 1) * (k_hi - k_lo + 1);
      if (st == TileState::empty) {
        ASSERT_EQ(allowed, 0) << s.str() << " tile " << q_lo << ".." << q_hi << " x " << k_lo << ".." << k_hi;
      }
      if (st == TileState::full) {
        ASSERT_EQ(allowed, all) << s.str() << " tile " << q_lo << ".." << q_hi << " x " << k_lo << ".." << k_hi;
      }
      // "empty" is documented as exact: a tile with nothing allowed must be reported empty.
      if (allowed == 0) {
        ASSERT_EQ(st, TileState::empty) << s.str() << " tile " << q_lo << ".." << q_hi << " x " << k_lo << ".." << k_hi;
      }
    }
  }
}

}  // namespace
}  // namespace eft::test
