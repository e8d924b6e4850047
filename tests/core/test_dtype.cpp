// dtype conversions: round to nearest even as IEEE 754 does, checked exhaustively against the
// exact rounding computed in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "eft/dtype.h"

using namespace eft;

namespace {
// Exact round-to-nearest-even of x to a format with `mant` mantissa bits and min exponent emin
// (normal), computed in long double arithmetic.
double round_to_format(double x, int mant, int emin, double maxval) {
  if (x == 0 || !std::isfinite(x)) return x;
  int e;
  std::frexp(x, &e);  // x = f * 2^e, f in [0.5, 1)
  int exp = std::max(e - 1, emin);
  double ulp = std::ldexp(1.0, exp - mant);
  double q = x / ulp;
  double r = std::nearbyint(q);  // default rounding mode: to nearest even
  double y = r * ulp;
  if (std::fabs(y) > maxval) return std::copysign(INFINITY, x);
  return y;
}
}  // namespace

TEST(DType, F16RoundTripAllBitPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    f16 h{uint16_t(b)};
    float f = f16_to_f32(h);
    f16 back = f32_to_f16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(back))) << b;
    } else {
      EXPECT_EQ(back.bits, h.bits) << "bits " << b;
    }
  }
}

TEST(DType, BF16RoundTripAllBitPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    bf16 h{uint16_t(b)};
    float f = bf16_to_f32(h);
    bf16 back = f32_to_bf16(f);
    if (std::isnan(f)) EXPECT_TRUE(std::isnan(bf16_to_f32(back)));
    else EXPECT_EQ(back.bits, h.bits) << "bits " << b;
  }
}

TEST(DType, RoundsToNearestEvenOnRandomFloats) {
  uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000000; ++i) {
    float x = bits_f32(bits(rng));
    if (!std::isfinite(x)) continue;
    double want16 = round_to_format(x, 10, -14, 65504.0);
    double got16 = f16_to_f32(f32_to_f16(x));
    ASSERT_EQ(got16, want16) << "f16 of " << x << " seed " << seed;
    double wantb = round_to_format(x, 7, -126, 3.3895313892515355e38);
    double gotb = bf16_to_f32(f32_to_bf16(x));
    ASSERT_EQ(gotb, wantb) << "bf16 of " << x << " seed " << seed;
  }
}

TEST(DType, TiesGoToEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10 in f16: ties to even gives 1.
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + 2 * std::ldexp(1.0f, -10));
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
}

TEST(DType, NamesRoundTripAndUnknownNameIsAnError) {
  EXPECT_EQ(dtype_from_name("bf16"), DType::bf16);
  EXPECT_THROW(dtype_from_name("q4"), std::runtime_error);
}
