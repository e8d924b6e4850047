// matmul against a float64 product with the exact dequantized weights (quant_pack.h decodes the
// hand-built blocks in float64 independently of src/quant), for every type, both paths, and both
// kernel sets (scalar and AVX2) on fresh random inputs; outputs are poisoned with NaN first.
//
// Tolerance of the dot path: activations are quantized per block of 32 to x̂ = d·q with
// d = max|x_b|/127 and |x - x̂| <= d/2, so |Σ w (x - x̂)| <= Σ_b (d_b/2) Σ_{k∈b} |w_k|.
// We allow that bound plus f32 accumulation slack (1e-5 · Σ|w·x|). The sgemm path is exact up to
// f32 rounding: 1e-5 · Σ|w·x|.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "eft/error.h"
#include "eft/quant.h"
#include "quant/dot.h"
#include "quant_pack.h"

using namespace eft;

namespace {

struct Case {
  QType t;
  int64_t rows, cols, n;
};

struct Data {
  std::vector<uint8_t> w;    // [rows][row bytes]
  std::vector<double> wd;    // [rows][cols] exact decoded weights
  std::vector<float> x;      // [n][cols]
};

Data make(const Case& c, std::mt19937& g) {
  Data d;
  const int64_t be = qtype_block_elems(c.t);
  testq::random_blocks(c.t, c.rows * c.cols / be, g, d.w, d.wd);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  d.x.resize(size_t(c.n * c.cols));
  for (float& v : d.x) v = nd(g);
  return d;
}

// Returns the worst |err| / allowed over all outputs (<= 1 passes).
double worst_ratio(const Case& c, const Data& d, const std::vector<float>& y, bool quantized_acts) {
  double worst = 0;
  for (int64_t i = 0; i < c.n; ++i)
    for (int64_t r = 0; r < c.rows; ++r) {
      const double* w = d.wd.data() + r * c.cols;
      const float* x = d.x.data() + i * c.cols;
      double ref = 0, mag = 0, qbound = 0;
      for (int64_t k = 0; k < c.cols; ++k) {
        ref += w[k] * x[k];
        mag += std::fabs(w[k] * x[k]);
      }
      if (quantized_acts)
        for (int64_t b = 0; b < c.cols / 32; ++b) {
          double amax = 0, wabs = 0;
          for (int64_t k = 32 * b; k < 32 * b + 32; ++k) {
            amax = std::max(amax, std::fabs(double(x[k])));
            wabs += std::fabs(w[k]);
          }
          qbound += (amax / 127.0) / 2.0 * wabs;
        }
      const double allowed = qbound * 1.0001 + 1e-5 * mag + 1e-30;
      const double got = y[size_t(i * c.rows + r)];
      if (!std::isfinite(got)) return INFINITY;
      worst = std::max(worst, std::fabs(got - ref) / allowed);
    }
  return worst;
}

std::vector<Case> grid() {
  std::vector<Case> cs;
  const bool san = std::getenv("EFT_TEST_SANITIZER") != nullptr;
  for (QType t : kAllQTypes) {
    const bool k = qtype_block_elems(t) == 256;
    for (int64_t cols : {k ? 256 : 96, k ? 768 : 544})
      for (int64_t n : {1, 3, san ? 9 : 40}) cs.push_back({t, 37, cols, n});
    if (qtype_block_elems(t) == 1) cs.push_back({t, 5, 101, 2});  // float rows need no multiple of 32
  }
  return cs;
}

}  // namespace

TEST(Matmul, BothPathsMatchFloat64ReferenceForEveryType) {
  const unsigned seed = std::random_device{}();
  std::mt19937 g(seed);
  for (const Case& c : grid()) {
    SCOPED_TRACE(::testing::Message() << qtype_name(c.t) << " rows " << c.rows << " cols " << c.cols << " n " << c.n
                                      << " seed " << seed);
    Data d = make(c, g);
    QMatrix w{c.t, d.w.data(), c.rows, c.cols};
    for (MatmulPath p : {MatmulPath::dot, MatmulPath::sgemm, MatmulPath::automatic}) {
      std::vector<float> y(size_t(c.n * c.rows), NAN);
      matmul(w, d.x.data(), c.n, y.data(), p);
      // Float-type weights are never quantized; automatic may pick either path.
      const bool qacts = p != MatmulPath::sgemm && !quant::is_float_type(c.t);
      EXPECT_LE(worst_ratio(c, d, y, qacts), 1.0) << "path " << int(p);
    }
  }
}

TEST(Matmul, ScalarAndAvx2KernelsMeetTheSameBound) {
  const unsigned seed = std::random_device{}();
  std::mt19937 g(seed);
  if (!quant::cpu_has_avx2()) std::cout << "note: no AVX2 on this CPU; only the scalar kernels are checked\n";
  for (QType t : kAllQTypes) {
    const Case c{t, 9, qtype_block_elems(t) == 256 ? 512 : 160, 1};
    SCOPED_TRACE(::testing::Message() << qtype_name(t) << " seed " << seed);
    Data d = make(c, g);
    const size_t rb = qtype_row_bytes(t, c.cols);
    for (bool simd : {false, true}) {
      if (simd && !quant::cpu_has_avx2()) continue;
      std::vector<float> y(size_t(c.rows), NAN);
      if (quant::is_float_type(t)) {
        auto f = simd ? quant::fdot_avx2(t) : quant::fdot_scalar(t);
        ASSERT_NE(f, nullptr);
        for (int64_t r = 0; r < c.rows; ++r) y[size_t(r)] = f(d.w.data() + r * rb, d.x.data(), c.cols);
      } else {
        auto f = simd ? quant::qdot_avx2(t) : quant::qdot_scalar(t);
        ASSERT_NE(f, nullptr);
        std::vector<quant::BlockQ8x> xq(size_t(c.cols / 32));
        quant::quantize_q8x(d.x.data(), xq.data(), c.cols);
        for (int64_t r = 0; r < c.rows; ++r) y[size_t(r)] = f(d.w.data() + r * rb, xq.data(), c.cols / 32);
      }
      EXPECT_LE(worst_ratio(c, d, y, !quant::is_float_type(t)), 1.0) << (simd ? "avx2" : "scalar");
    }
  }
}

TEST(Matmul, ActivationQuantizationBounds) {
  std::mt19937 g(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(256);
  for (float& v : x) v = nd(g);
  x[5] = 0;
  for (int k = 64; k < 96; ++k) x[size_t(k)] = 0;  // an all-zero block: d = 0, no NaN
  std::vector<quant::BlockQ8x> q(8);
  quant::quantize_q8x(x.data(), q.data(), 256);
  for (int b = 0; b < 8; ++b) {
    int32_t s = 0;
    for (int l = 0; l < 32; ++l) {
      EXPECT_GE(q[size_t(b)].qs[l], -127);
      EXPECT_LE(std::fabs(double(x[size_t(32 * b + l)]) - double(q[size_t(b)].d) * q[size_t(b)].qs[l]),
                q[size_t(b)].d / 2.0 * 1.0001 + 1e-30);
      s += q[size_t(b)].qs[l];
    }
    EXPECT_EQ(s, q[size_t(b)].sum);
  }
  EXPECT_EQ(q[2].d, 0.0f);
}

TEST(Matmul, BadShapesAreRefused) {
  std::vector<uint8_t> w(144 * 4);
  std::vector<float> x(512), y(8);
  EXPECT_THROW(matmul(QMatrix{QType::Q4_K, w.data(), 2, 100}, x.data(), 1, y.data()), Error);
  EXPECT_THROW(matmul(QMatrix{QType::Q4_K, w.data(), -1, 256}, x.data(), 1, y.data()), Error);
  EXPECT_THROW(matmul(QMatrix{QType::Q4_K, nullptr, 2, 256}, x.data(), 1, y.data()), Error);
  matmul(QMatrix{QType::Q4_K, w.data(), 2, 256}, x.data(), 0, y.data());  // n = 0: nothing to do
}
