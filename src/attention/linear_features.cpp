// FAVOR+ building blocks: the seeded orthogonal projection, the feature exponents, a vectorizable
// exp and the small GEMM shared by the CPU prefill (cpu/linear.cpp) and the decode state.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "eft/error.h"
#include "attention/cpu/tile_math.h"  // exp_f32: the vectorizable exp shared with flash
#include "eft/linear_attention.h"

namespace eft::favor {

namespace {

// splitmix64: a tiny generator whose output is the same on every platform and standard library
// (std::normal_distribution is not), so a seed names one projection everywhere.
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform_open0() { return double((next() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]
};

// Box-Muller, both outputs used.
struct Gaussian {
  SplitMix64 rng;
  bool have = false;
  double spare = 0;
  double next() {
    if (have) {
      have = false;
      return spare;
    }
    const double r = std::sqrt(-2.0 * std::log(rng.uniform_open0()));
    const double t = 2.0 * 3.14159265358979323846 * rng.uniform_open0();
    spare = r * std::sin(t);
    have = true;
    return r * std::cos(t);
  }
};

}  // namespace

std::vector<float> draw_projection(int32_t m, int32_t d, uint64_t seed) {
  check(m > 0, "linear.features must be positive (got {})", m);
  check(d > 0, "head_dim must be positive (got {})", d);
  Gaussian g{SplitMix64{seed}};
  std::vector<float> w(size_t(m) * d);  // [m, d]
  std::vector<double> q(size_t(d) * d);  // [d, d] orthonormal rows of the current block
  for (int32_t r0 = 0; r0 < m; r0 += d) {
    const int32_t rows = std::min(d, m - r0);
    // Modified Gram-Schmidt on Gaussian rows; a row that collapses (norm ~ 0, probability ~0) is
    // redrawn so the block always has `rows` orthonormal rows.
    for (int32_t i = 0; i < rows; ++i) {
      double* v = &q[size_t(i) * d];
      for (;;) {
        for (int32_t c = 0; c < d; ++c) v[c] = g.next();
        for (int32_t j = 0; j < i; ++j) {
          const double* u = &q[size_t(j) * d];
          double dot = 0;
          for (int32_t c = 0; c < d; ++c) dot += v[c] * u[c];
          for (int32_t c = 0; c < d; ++c) v[c] -= dot * u[c];
        }
        double nrm = 0;
        for (int32_t c = 0; c < d; ++c) nrm += v[c] * v[c];
        nrm = std::sqrt(nrm);
        if (nrm > 1e-6) {
          for (int32_t c = 0; c < d; ++c) v[c] /= nrm;
          break;
        }
      }
    }
    // chi(d) lengths: the norm of an independent Gaussian vector, so each row has the length
    // distribution of a N(0, I_d) draw (the estimator stays unbiased).
    for (int32_t i = 0; i < rows; ++i) {
      double len = 0;
      for (int32_t c = 0; c < d; ++c) {
        const double x = g.next();
        len += x * x;
      }
      len = std::sqrt(len);
      for (int32_t c = 0; c < d; ++c) w[size_t(r0 + i) * d + c] = float(q[size_t(i) * d + c] * len);
    }
  }
  return w;
}

FeatureMap make_feature_map(const AttentionParams& p) {
  check(p.linear.features > 0, "linear.features must be positive (got {})", p.linear.features);
  check(p.head_dim > 0, "head_dim must be positive (got {})", p.head_dim);
  FeatureMap f;
  f.m = p.linear.features;
  f.d = p.head_dim;
  f.x_scale = std::sqrt(effective_scale(p));
  std::vector<float> drawn;
  const float* w = p.linear.projection;
  if (!w) {
    drawn = draw_projection(f.m, f.d, p.linear.seed);
    w = drawn.data();
  }
  f.wt.resize(size_t(f.m) * f.d);
  for (int32_t r = 0; r < f.m; ++r)
    for (int32_t c = 0; c < f.d; ++c) {
      check(std::isfinite(w[size_t(r) * f.d + c]), "linear.projection[{}][{}] is not finite ({})", r, c,
            w[size_t(r) * f.d + c]);
      f.wt[size_t(c) * f.m + r] = w[size_t(r) * f.d + c];
    }
  return f;
}

void exp_shifted(float* y, int64_t n, float a) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = cpu::tile::exp_f32(y[i] - a);
}

namespace {
constexpr int kNR = 32;  // columns of C per micro-tile: two AVX-512 vectors

// C[i0 .. i0+MR, j0 .. j0+32) (+)= A * B over k in [k0, k1), from MR x 32 accumulators held in
// registers for the whole k loop (MR = 8: 16 vector registers); each B row is loaded once and used
// by MR rows of A. MR = 8 ran ~2x faster than MR = 4 on the 64x256x64 shapes used here. The
// accumulators start at 0 and C is added once at the end, so a k range's sum never carries C's
// magnitude (what lets matmul split K into runs, see k_block).
template <int MR>
void micro_tile(const MatmulArgs& g, int64_t i0, int64_t j0, int64_t k0, int64_t k1, bool add) {
  float acc[MR][kNR] = {};
  const float* a0 = g.a + i0 * g.a_rs;
  for (int64_t k = k0; k < k1; ++k) {
    const float* b = g.b + k * g.ldb + j0;
    float x[MR];
    for (int i = 0; i < MR; ++i) x[i] = a0[i * g.a_rs + k * g.a_cs];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma omp simd
      for (int j = 0; j < kNR; ++j) acc[i][j] += x[i] * b[j];
  }
  for (int i = 0; i < MR; ++i) {
    float* c = g.c + (i0 + i) * g.ldc + j0;
#pragma omp simd
    for (int j = 0; j < kNR; ++j) c[j] = add ? c[j] + acc[i][j] : acc[i][j];
  }
}

// Rows [i0, i0+mr) x columns [j0, j0+nr) of any size (tails only), 32 columns at a time with the
// same start-at-0 accumulation as micro_tile.
void edge_tile(const MatmulArgs& g, int64_t i0, int64_t mr, int64_t j0, int64_t nr, int64_t k0, int64_t k1,
               bool add) {
  for (int64_t i = 0; i < mr; ++i) {
    const float* a = g.a + (i0 + i) * g.a_rs;
    for (int64_t jc = j0; jc < j0 + nr; jc += kNR) {
      const int64_t w = std::min<int64_t>(kNR, j0 + nr - jc);
      float acc[kNR] = {};
      for (int64_t k = k0; k < k1; ++k) {
        const float x = a[k * g.a_cs];
        const float* b = g.b + k * g.ldb + jc;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) acc[j] += x * b[j];
      }
      float* c = g.c + (i0 + i) * g.ldc + jc;
      for (int64_t j = 0; j < w; ++j) c[j] = add ? c[j] + acc[j] : acc[j];
    }
  }
}

// One pass over C for the k range [k0, k1).
void matmul_range(const MatmulArgs& g, int64_t k0, int64_t k1, bool add) {
  const int64_t M = g.M, N = g.N;
  const int64_t n_full = N / kNR * kNR;
  int64_t i0 = 0;
  for (; i0 + 8 <= M; i0 += 8)
    for (int64_t j0 = 0; j0 < n_full; j0 += kNR) micro_tile<8>(g, i0, j0, k0, k1, add);
  for (; i0 + 4 <= M; i0 += 4)
    for (int64_t j0 = 0; j0 < n_full; j0 += kNR) micro_tile<4>(g, i0, j0, k0, k1, add);
  if (i0 < M) edge_tile(g, i0, M - i0, 0, n_full, k0, k1, add);
  if (n_full < N) edge_tile(g, 0, M, n_full, N - n_full, k0, k1, add);
}
}  // namespace

void matmul(const MatmulArgs& g) {
  if (g.K <= 0) {
    if (!g.accumulate)
      for (int64_t i = 0; i < g.M; ++i) std::fill_n(g.c + i * g.ldc, g.N, 0.f);
    return;
  }
  const int64_t run = g.k_block > 0 ? g.k_block : g.K;
  for (int64_t k0 = 0; k0 < g.K; k0 += run) matmul_range(g, k0, std::min(g.K, k0 + run), g.accumulate || k0 > 0);
}

// Why the exponents get more than plain float sums: an absolute error e in u is a relative error e
// in that feature, and the log-normaliser (LSE) is dominated by the few largest products, so it
// inherits e undamped. w.x and |x|^2 are sums of d terms whose partial sums reach tens of units for
// exactly those dominant features; summed in float in one sequence their rounding (1e-6 to 1e-5
// absolute in u at d = 64..256) was measured to be the bulk of the LSE error against the float64
// quadratic form (worst LSE error at d = m = 256 over 150-200 seeds: 1.4e-5 -> 3.9e-6). So the GEMM
// sums w.x in float runs of kExponentRun products, each added into u once (+3% at d = 64, +5% at
// d = 256 for a whole linear-attention call; 16 halves the error of long runs again but costs
// twice that), and |x|^2 is summed in double (O(n d) next to the O(n m d) GEMM).
constexpr int64_t kExponentRun = 32;

float feature_exponents(const FeatureMap& f, const float* x, int64_t ldx, int64_t n, float* u, float* row_max) {
  const int64_t m = f.m, d = f.d;
  const double half_log_m = 0.5 * std::log(double(m));
  // u = x W^T scaled: x~ = x * xs, so w.x~ = xs * (w.x); the scale is applied after the GEMM.
  matmul({.M = n, .N = m, .K = d, .a = x, .a_rs = ldx, .a_cs = 1, .b = f.wt.data(), .ldb = m, .c = u, .ldc = m,
          .accumulate = false, .k_block = kExponentRun});
  const float xs = f.x_scale;
  float gmax = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * ldx;
    double sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < d; ++c) sq += double(xt[c]) * double(xt[c]);
    const float bias = float(-0.5 * sq * double(xs) * double(xs) - half_log_m);
    float* ut = u + t * m;
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t r = 0; r < m; ++r) {
      ut[r] = ut[r] * xs + bias;
      mx = std::max(mx, ut[r]);
    }
    if (row_max) row_max[t] = mx;
    gmax = std::max(gmax, mx);
  }
  return gmax;
}

}  // namespace favor
