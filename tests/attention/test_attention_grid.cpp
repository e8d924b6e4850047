// The exact CPU methods (standard, flash, sparse) against the float64 reference on the grid of
// issue 2. Every (method, mask variant) pair is a test of its own; inside it, kCases cases sample
// the other axes — heads {MHA, GQA 4:1, MQA} x head_dim {64, 80, 128, 256} x length {1, 7, 129}
// x {prefill, chunked prefill, decode} x {one sequence, ragged batch} x {contiguous, paged} x
// dtype {f32, bf16, f16} — from per-axis shuffled rounds (a Latin-hypercube-like draw): over the
// whole grid every value of every axis occurs, the draw follows the run seed. Lengths >= 1000 are
// covered by LongSequences below (one reference shared by the three methods, to keep it cheap).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <numeric>

#include "attn_test_util.h"
#include "eft/attention.h"

namespace eft::test {
namespace {

constexpr std::array<std::pair<int, int>, 3> kHeads{{{4, 4}, {8, 2}, {4, 1}}};  // MHA, GQA 4:1, MQA
constexpr std::array<int, 4> kDims{64, 80, 128, 256};
constexpr std::array<int, 3> kLens{1, 7, 129};  // none a multiple of the 64-wide tiles
enum Mode { prefill, chunked, decode };
constexpr std::array<DType, 3> kDtypes{DType::f32, DType::bf16, DType::f16};
const std::array<AttnMethod, 3> kMethods{AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse};

enum Axis { ax_heads, ax_dim, ax_len, ax_mode, ax_batch, ax_layout, ax_dtype, n_axes };
constexpr std::array<int, n_axes> kAxisSize{3, 4, 3, 3, 2, 2, 3};

// Value of `axis` for global case n: the n-th entry of a sequence of shuffled rounds of
// [0, size), so any `size` consecutive cases see every value once.
int axis_value(int axis, int64_t n) {
  const int size = kAxisSize[axis];
  std::vector<int> perm(static_cast<size_t>(size));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(mix_seed(run_seed(), uint64_t(axis) * 1000003u + uint64_t(n / size)));
  std::shuffle(perm.begin(), perm.end(), rng);
  return perm[size_t(n % size)];
}

int cases_per_pair() { return under_sanitizer() ? 2 : 6; }

// (q_len, kv_len) of one sequence of length L in a mode.
std::pair<int, int> lengths(Mode m, int L, std::mt19937_64& rng) {
  switch (m) {
    case prefill: return {L, L};
    case chunked: return {L, L + std::uniform_int_distribution<int>(1, 150)(rng)};
    case decode: return {1, L};
  }
  return {L, L};
}

using GridParam = std::tuple<AttnMethod, Variant>;

class AttnGrid : public ::testing::TestWithParam<GridParam> {};

TEST_P(AttnGrid, MatchesReference) {
  const auto [method, variant] = GetParam();
  const int64_t pair_index =
      int64_t(std::find(kMethods.begin(), kMethods.end(), method) - kMethods.begin()) * int64_t(all_variants().size()) +
      int64_t(std::find(all_variants().begin(), all_variants().end(), variant) - all_variants().begin());
  const int K = cases_per_pair();
  for (int k = 0; k < K; ++k) {
    const int64_t n = pair_index * K + k;
    std::array<int, n_axes> ax;
    for (int i = 0; i < n_axes; ++i) ax[i] = axis_value(i, n);
    std::mt19937_64 rng(mix_seed(run_seed(), uint64_t(n) + 0x1234567));

    AttnCaseSpec spec;
    spec.method = method;
    spec.q_heads = kHeads[ax[ax_heads]].first;
    spec.kv_heads = kHeads[ax[ax_heads]].second;
    spec.head_dim = kDims[ax[ax_dim]];
    spec.dtype = kDtypes[ax[ax_dtype]];
    // 16-bit inputs write 16-bit outputs most of the time (the bound follows the output dtype).
    spec.o_dtype = spec.dtype == DType::f32 || std::bernoulli_distribution(0.25)(rng) ? DType::f32 : spec.dtype;
    spec.paged = ax[ax_layout] == 1;
    spec.block_size = std::array<int, 3>{3, 16, 64}[std::uniform_int_distribution<int>(0, 2)(rng)];
    auto [ql, kl] = lengths(Mode(ax[ax_mode]), kLens[ax[ax_len]], rng);
    spec.q_lens = {ql};
    spec.kv_lens = {kl};
    if (ax[ax_batch] == 1) {  // ragged: two more sequences of other modes and lengths, maybe an empty one
      for (int extra = 0; extra < 2; ++extra) {
        auto [q2, k2] = lengths(Mode(std::uniform_int_distribution<int>(0, 2)(rng)),
                                std::uniform_int_distribution<int>(1, 70)(rng), rng);
        spec.q_lens.push_back(q2);
        spec.kv_lens.push_back(k2);
      }
      if (std::bernoulli_distribution(0.3)(rng)) {  // a sequence with no queries this step
        spec.q_lens.insert(spec.q_lens.begin() + 1, 0);
        spec.kv_lens.insert(spec.kv_lens.begin() + 1, std::uniform_int_distribution<int>(0, 30)(rng));
      }
    }
    apply_variant(spec, variant, rng);
    const uint64_t case_seed = rng();
    AttnCase c = make_case(spec, case_seed);
    const CheckResult r = run_and_check(c);
    const double tol = output_tolerance(spec.o_dtype);
    EXPECT_LE(r.out_err, tol) << spec.str() << " variant=" << variant_name(variant) << " case " << n << "; "
                              << seed_note();
    EXPECT_LE(r.lse_err, 1e-5) << "LSE: " << spec.str() << " variant=" << variant_name(variant) << "; "
                               << seed_note();
  }
}

std::string grid_name(const ::testing::TestParamInfo<GridParam>& info) {
  return std::string(method_name(std::get<0>(info.param))) + "_" + variant_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(ExactMethods, AttnGrid,
                         ::testing::Combine(::testing::Values(AttnMethod::standard, AttnMethod::flash,
                                                              AttnMethod::sparse),
                                            ::testing::ValuesIn(all_variants())),
                         grid_name);

// Lengths >= 1000 (not multiples of the tile) for every method and mask: one reference per case,
// shared by the three methods. Small head counts keep the float64 reference affordable.
TEST(AttnLong, LongSequences) {
  const std::vector<Variant>& vars = all_variants();
  const size_t stride = under_sanitizer() ? 4 : 1;  // sanitizer: every fourth variant
  for (size_t vi = 0; vi < vars.size(); vi += stride) {
    std::mt19937_64 rng(mix_seed(run_seed(), 0xabc0 + vi));
    AttnCaseSpec spec;
    spec.q_heads = 2;
    spec.kv_heads = 1;
    spec.head_dim = vi % 2 ? 80 : 64;
    const int L = std::uniform_int_distribution<int>(1000, 1100)(rng);
    switch (vi % 3) {  // rotate the mode so each appears at length >= 1000
      case 0: spec.q_lens = {L}; spec.kv_lens = {L}; break;
      case 1: spec.q_lens = {L / 3}; spec.kv_lens = {L}; break;
      default: spec.q_lens = {1, 1}; spec.kv_lens = {L, L + 37}; break;
    }
    spec.paged = vi % 2 == 1;
    spec.dtype = vi % 4 == 3 ? DType::bf16 : DType::f32;
    spec.o_dtype = DType::f32;
    apply_variant(spec, vars[vi], rng);
    AttnCase c = make_case(spec, rng());
    std::vector<double> ref, ref_lse;
    for (AttnMethod m : kMethods) {
      c.params.method = m;
      c.spec.method = m;
      const CheckResult r = run_and_check(c, &ref, &ref_lse);
      EXPECT_LE(r.out_err, 1e-5) << c.spec.str() << " variant=" << variant_name(vars[vi]) << "; " << seed_note();
      EXPECT_LE(r.lse_err, 1e-5) << "LSE: " << c.spec.str() << " variant=" << variant_name(vars[vi]) << "; "
                                 << seed_note();
    }
  }
}

// Every value of every sampled axis occurs somewhere in the grid (guards the sampler itself).
TEST(AttnGridSampler, CoversEveryAxisValue) {
  const int64_t total = int64_t(kMethods.size() * all_variants().size()) * cases_per_pair();
  for (int axis = 0; axis < n_axes; ++axis) {
    std::vector<int> seen(static_cast<size_t>(kAxisSize[axis]), 0);
    for (int64_t n = 0; n < total; ++n) seen[size_t(axis_value(axis, n))]++;
    for (int v = 0; v < kAxisSize[axis]; ++v) EXPECT_GT(seen[size_t(v)], 0) << "axis " << axis << " value " << v;
  }
}

}  // namespace
}  // namespace eft::test
