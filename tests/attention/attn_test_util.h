#pragma once
// Helpers for the CPU attention tests: the run seed (fresh per run, EFT_SEED replays it), the
// mask variants of the grid, and a runner that checks a case (output and LSE) against the
// float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/attn_case.h"
#include "eft/attention.h"

namespace eft::test {

// One seed per test process: EFT_SEED=<n> replays a failing run, otherwise a fresh one.
inline uint64_t run_seed() {
  static const uint64_t seed = [] {
    if (const char* e = std::getenv("EFT_SEED")) return uint64_t(std::strtoull(e, nullptr, 0));
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
  }();
  return seed;
}
inline std::string seed_note() { return "replay with EFT_SEED=" + std::to_string(run_seed()); }

// splitmix64: derives independent per-case seeds from the run seed and a case index.
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// ASan/UBSan runs set EFT_TEST_SANITIZER=1: grids shrink there (never to zero).
inline bool under_sanitizer() {
  const char* e = std::getenv("EFT_TEST_SANITIZER");
  return e && std::string(e) == "1";
}

// The mask axis of the grid; softcap and scale override ride on it as two more variants.
enum class Variant {
  none, causal, window, window_causal, strided, strided_local, strided_local_causal, longformer,
  longformer_causal, block_sparse, block_sparse_causal, softcap, scale,
};
inline const std::vector<Variant>& all_variants() {
  static const std::vector<Variant> v{Variant::none, Variant::causal, Variant::window, Variant::window_causal,
                                      Variant::strided, Variant::strided_local, Variant::strided_local_causal,
                                      Variant::longformer, Variant::longformer_causal, Variant::block_sparse,
                                      Variant::block_sparse_causal, Variant::softcap, Variant::scale};
  return v;
}
inline const char* variant_name(Variant v) {
  switch (v) {
    case Variant::none: return "none";
    case Variant::causal: return "causal";
    case Variant::window: return "window";
    case Variant::window_causal: return "window_causal";
    case Variant::strided: return "strided";
    case Variant::strided_local: return "strided_local";
    case Variant::strided_local_causal: return "strided_local_causal";
    case Variant::longformer: return "longformer";
    case Variant::longformer_causal: return "longformer_causal";
    case Variant::block_sparse: return "block_sparse";
    case Variant::block_sparse_causal: return "block_sparse_causal";
    case Variant::softcap: return "softcap";
    case Variant::scale: return "scale";
  }
  return "?";
}

// Fills spec.mask (and its globals / layout, softcap, scale) for the variant, with extents drawn
// from rng and sized to the spec's sequences (queries at kv_len - q_len .. kv_len - 1 unless
// spec.q_pos0 says otherwise) so that every mask actually cuts at these lengths.
inline void apply_variant(AttnCaseSpec& spec, Variant v, std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int> xs) {
    return *(xs.begin() + std::uniform_int_distribution<size_t>(0, xs.size() - 1)(rng));
  };
  int64_t min_span = std::numeric_limits<int64_t>::max(), max_pos = 1, max_kv = 1;
  for (size_t s = 0; s < spec.kv_lens.size(); ++s) {
    const int64_t pos0 = spec.q_pos0.empty() ? spec.kv_lens[s] - spec.q_lens[s] : spec.q_pos0[s];
    const int64_t span = std::max<int64_t>(spec.kv_lens[s], pos0 + spec.q_lens[s]);
    min_span = std::min(min_span, span);
    max_pos = std::max<int64_t>(max_pos, pos0 + spec.q_lens[s]);
    max_kv = std::max<int64_t>(max_kv, spec.kv_lens[s]);
  }
  spec.softcap = 0.f;
  spec.scale = 0.f;
  spec.global.clear();
  spec.layout.clear();
  switch (v) {
    case Variant::none: spec.mask = mask_none(); break;
    case Variant::causal: spec.mask = mask_causal(); break;
    case Variant::window: spec.mask = mask_window(pick({0, 2, 5, 16, 40}), pick({1, 3, 16, 70})); break;
    case Variant::window_causal: spec.mask = mask_window(pick({0, 3, 16, 40, 100}), 0); break;
    case Variant::strided: spec.mask = mask_strided(pick({2, 3, 5, 16}), 0, false); break;
    case Variant::strided_local: spec.mask = mask_strided(pick({3, 5, 16}), pick({1, 4, 20}), false); break;
    case Variant::strided_local_causal: spec.mask = mask_strided(pick({3, 5, 16}), pick({1, 4, 20}), true); break;
    case Variant::longformer:
    case Variant::longformer_causal: {
      // Globals must lie inside every sequence of the batch (validation checks them per sequence).
      const int n = min_span > 0 ? pick({0, 1, 2, 3}) : 0;
      for (int g = 0; g < n; ++g) spec.global.push_back(int32_t(std::uniform_int_distribution<int64_t>(0, min_span - 1)(rng)));
      std::sort(spec.global.begin(), spec.global.end());
      spec.global.erase(std::unique(spec.global.begin(), spec.global.end()), spec.global.end());
      const int w = pick({1, 4, 20});
      spec.mask = mask_longformer(w, w, nullptr, 0, v == Variant::longformer_causal);
      break;
    }
    case Variant::block_sparse:
    case Variant::block_sparse_causal: {
      const int block = pick({4, 16, 32});
      const int n_qb = int((max_pos + block - 1) / block), n_kb = int((max_kv + block - 1) / block);
      spec.layout.resize(size_t(n_qb) * n_kb);
      std::bernoulli_distribution on(0.45);
      for (auto& x : spec.layout) x = on(rng) ? 1 : 0;
      spec.mask = mask_block_sparse(nullptr, block, n_qb, n_kb, v == Variant::block_sparse_causal);
      break;
    }
    case Variant::softcap:
      spec.mask = mask_causal();
      spec.softcap = float(pick({1, 2, 5}));
      spec.scale = 0.5f;  // larger logits so the cap bends them
      break;
    case Variant::scale:
      spec.mask = mask_none();
      spec.scale = float(pick({1, 3})) * 0.21f;
      break;
  }
}

// Rounding bound of an output dtype: relative error of round-to-nearest, plus the f32 bound.
inline double output_tolerance(DType o) {
  switch (o) {
    case DType::bf16: return std::ldexp(1.0, -8);
    case DType::f16: return std::ldexp(1.0, -11);
    default: return 1e-5;
  }
}

struct CheckResult {
  double out_err = 0;  // relative L2 of O against the reference
  double lse_err = 0;  // max |lse - ref| / (1 + |ref|); +inf where -inf rows disagree or NaN
};

// Runs the case's method (output poisoned with NaN, LSE too) and compares O and LSE with the
// float64 reference computed on the same (already rounded) inputs.
inline CheckResult run_and_check(AttnCase& c, std::vector<double>* ref_out = nullptr,
                                 std::vector<double>* ref_lse = nullptr) {
  const size_t rows = size_t(c.q_tokens) * c.spec.q_heads;
  std::vector<float> lse(rows, std::numeric_limits<float>::quiet_NaN());
  c.poison();
  AttentionArgs a = c.args();
  a.lse = lse.data();
  attention_cpu(c.params, a);
  std::vector<double> ro_local, rl_local;
  std::vector<double>& ro = ref_out ? *ref_out : ro_local;
  std::vector<double>& rl = ref_lse ? *ref_lse : rl_local;
  if (ro.size() != size_t(c.out_elems())) {
    ro.assign(size_t(c.out_elems()), 0.0);
    rl.assign(rows, 0.0);
    AttentionParams p = c.params;
    p.method = AttnMethod::standard;
    attention_reference(p, c.args(), ro.data(), rl.data());
  }
  CheckResult r;
  r.out_err = rel_l2(c.out_f64(), ro);
  for (size_t i = 0; i < rows; ++i) {
    double e;
    if (std::isinf(rl[i]) || std::isinf(lse[i])) e = (std::isinf(rl[i]) && lse[i] == rl[i]) ? 0.0 : INFINITY;
    else if (!std::isfinite(lse[i])) e = INFINITY;
    else e = std::fabs(lse[i] - rl[i]) / (1.0 + std::fabs(rl[i]));
    r.lse_err = std::max(r.lse_err, e);
  }
  return r;
}

}  // namespace eft::test
