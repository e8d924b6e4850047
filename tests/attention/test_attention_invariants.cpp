// Invariants of the exact CPU methods, checked on random cases: paged == contiguous (bitwise),
// decode of a token == its row of the prefill, a ragged batch == each sequence alone,
// sparse == flash, padded row strides == compact, thread count does not change a bit, rows with
// no allowed key give O = 0 and LSE = -inf, and the memory each method allocates (standard holds
// the N^2 scores, flash/sparse a fixed scratch).
#include <gtest/gtest.h>

#include <cstring>

#include "attn_test_util.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace eft::test {
namespace {

const std::vector<AttnMethod> kExact{AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse};

int reps() { return under_sanitizer() ? 1 : 3; }

// Output bytes and LSE of one run of c's method (output poisoned first).
struct RunOut {
  std::vector<uint8_t> o;
  std::vector<float> lse;
};
RunOut run(AttnCase& c, const AttentionArgs& a_in) {
  c.poison();
  RunOut r;
  r.lse.assign(size_t(c.q_tokens) * c.spec.q_heads, std::nanf(""));
  AttentionArgs a = a_in;
  a.lse = r.lse.data();
  attention_cpu(c.params, a);
  r.o = c.o;
  return r;
}
RunOut run(AttnCase& c) { return run(c, c.args()); }

bool bitwise_equal(const RunOut& x, const RunOut& y) {
  return x.o == y.o && x.lse.size() == y.lse.size() &&
         std::memcmp(x.lse.data(), y.lse.data(), x.lse.size() * sizeof(float)) == 0;
}

size_t kv_row_bytes(const AttnCaseSpec& s) { return size_t(s.kv_heads) * s.head_dim * dtype_size(s.dtype); }

// Copies token t of sequence s from src's K/V layout to dst's (contiguous or paged alike).
void copy_kv(AttnCase& src, AttnCase& dst, int s_src, int s_dst, int64_t t_src, int64_t t_dst) {
  const size_t rb = kv_row_bytes(src.spec);
  const AttentionArgs as = src.args(), ad = dst.args();
  const int64_t rs = kv_row_index(as.kv, s_src, t_src), rd = kv_row_index(ad.kv, s_dst, t_dst);
  std::memcpy(dst.k.data() + rd * rb, src.k.data() + rs * rb, rb);
  std::memcpy(dst.v.data() + rd * rb, src.v.data() + rs * rb, rb);
}
size_t q_row_bytes(const AttnCaseSpec& s) { return size_t(s.q_heads) * s.head_dim * dtype_size(s.dtype); }

// A random configuration: heads, head_dim, dtype, a ragged batch of the given lengths, a variant.
AttnCaseSpec random_spec(std::mt19937_64& rng, std::vector<int> q_lens, std::vector<int> kv_lens, Variant v) {
  AttnCaseSpec spec;
  // MHA, GQA 4:1, MQA, and groups of 3 and 12 heads (query tiles whose row blocks straddle
  // positions, and more heads per group than a row block).
  const std::pair<int, int> heads[] = {{4, 4}, {8, 2}, {4, 1}, {6, 2}, {12, 1}};
  const auto h = heads[std::uniform_int_distribution<int>(0, 4)(rng)];
  spec.q_heads = h.first;
  spec.kv_heads = h.second;
  const int dims[] = {64, 80, 128};
  spec.head_dim = dims[std::uniform_int_distribution<int>(0, 2)(rng)];
  const DType dts[] = {DType::f32, DType::bf16, DType::f16};
  spec.dtype = dts[std::uniform_int_distribution<int>(0, 2)(rng)];
  spec.o_dtype = spec.dtype;
  spec.block_size = std::uniform_int_distribution<int>(0, 1)(rng) ? 16 : 5;
  spec.q_lens = std::move(q_lens);
  spec.kv_lens = std::move(kv_lens);
  apply_variant(spec, v, rng);
  return spec;
}
Variant random_variant(std::mt19937_64& rng) {
  return all_variants()[std::uniform_int_distribution<size_t>(0, all_variants().size() - 1)(rng)];
}

TEST(AttnInvariants, PagedEqualsContiguousBitwise) {
  for (AttnMethod m : kExact)
    for (int rep = 0; rep < reps(); ++rep) {
      std::mt19937_64 rng(mix_seed(run_seed(), 100 + rep + 10 * int(m)));
      const int L = std::uniform_int_distribution<int>(1, 200)(rng);
      AttnCaseSpec spec = random_spec(rng, {L, 1, 9}, {L, 77, 140}, random_variant(rng));
      spec.method = m;
      AttnCase contiguous = make_case(spec, rng());
      spec.paged = true;
      AttnCase paged = make_case(spec, rng());
      paged.q = contiguous.q;
      for (size_t s = 0; s < spec.kv_lens.size(); ++s)
        for (int t = 0; t < spec.kv_lens[s]; ++t) copy_kv(contiguous, paged, int(s), int(s), t, t);
      EXPECT_TRUE(bitwise_equal(run(contiguous), run(paged))) << spec.str() << "; " << seed_note();
    }
}

// Decoding token i (q_len = 1 over keys 0..i) gives row i of the prefill over keys 0..L-1, for
// causal-like masks (and, for the last row, every mask). flash/sparse agree bitwise: the same
// tiles are visited in the same order, a tile that is empty for a row adds exact zeros. standard
// goes through sgemm, whose blocking depends on the matrix shape, so it is held to 1e-6.
TEST(AttnInvariants, DecodeEqualsPrefillRows) {
  for (AttnMethod m : kExact)
    for (int rep = 0; rep < reps(); ++rep) {
      std::mt19937_64 rng(mix_seed(run_seed(), 200 + rep + 10 * int(m)));
      const int L = std::uniform_int_distribution<int>(2, 200)(rng);
      const Variant causal_like[] = {Variant::causal, Variant::window_causal, Variant::strided_local_causal,
                                     Variant::longformer_causal, Variant::block_sparse_causal, Variant::softcap};
      const Variant v = causal_like[std::uniform_int_distribution<int>(0, 5)(rng)];
      AttnCaseSpec spec = random_spec(rng, {L}, {L}, v);
      spec.o_dtype = DType::f32;  // compare unrounded rows
      spec.method = m;
      AttnCase prefill = make_case(spec, rng());
      const RunOut full = run(prefill);
      const size_t q_rb = q_row_bytes(spec), o_rb = size_t(spec.q_heads) * spec.head_dim * 4;
      for (int i : {L - 1, L / 2, 0}) {
        AttnCaseSpec ds = spec;
        ds.q_lens = {1};
        ds.kv_lens = {i + 1};
        // Globals past i cannot touch row i under a causal mask, and would be out of range here.
        std::erase_if(ds.global, [&](int32_t g) { return g > i; });
        AttnCase dec = make_case(ds, rng());
        std::memcpy(dec.q.data(), prefill.q.data() + size_t(i) * q_rb, q_rb);
        for (int t = 0; t <= i; ++t) copy_kv(prefill, dec, 0, 0, t, t);
        const RunOut one = run(dec);
        if (m == AttnMethod::standard) {
          std::vector<double> a(o_rb / 4), b(o_rb / 4);
          for (size_t e = 0; e < a.size(); ++e) {
            a[e] = load_as_f64(one.o.data(), DType::f32, e);
            b[e] = load_as_f64(full.o.data(), DType::f32, size_t(i) * a.size() + e);
          }
          EXPECT_LE(rel_l2(a, b), 1e-6) << "row " << i << " " << spec.str() << "; " << seed_note();
        } else {
          EXPECT_EQ(std::memcmp(one.o.data(), full.o.data() + size_t(i) * o_rb, o_rb), 0)
              << "row " << i << " " << spec.str() << "; " << seed_note();
          EXPECT_EQ(std::memcmp(one.lse.data(), full.lse.data() + size_t(i) * spec.q_heads, 4 * size_t(spec.q_heads)), 0)
              << "LSE row " << i << " " << spec.str() << "; " << seed_note();
        }
      }
    }
}

TEST(AttnInvariants, RaggedBatchEqualsEachSequenceAlone) {
  for (AttnMethod m : kExact)
    for (int rep = 0; rep < reps(); ++rep) {
      std::mt19937_64 rng(mix_seed(run_seed(), 300 + rep + 10 * int(m)));
      std::vector<int> ql, kl;
      for (int s = 0; s < 4; ++s) {
        const int kv = std::uniform_int_distribution<int>(1, 150)(rng);
        ql.push_back(s == 2 ? 1 : std::uniform_int_distribution<int>(1, kv)(rng));
        kl.push_back(kv);
      }
      AttnCaseSpec spec = random_spec(rng, ql, kl, random_variant(rng));
      spec.method = m;
      spec.paged = rep % 2 == 1;
      AttnCase batch = make_case(spec, rng());
      const RunOut all = run(batch);
      const size_t o_rb = size_t(spec.q_heads) * spec.head_dim * dtype_size(spec.o_dtype);
      for (int s = 0; s < 4; ++s) {
        AttnCaseSpec one = spec;
        one.q_lens = {ql[s]};
        one.kv_lens = {kl[s]};
        AttnCase alone = make_case(one, rng());
        std::memcpy(alone.q.data(), batch.q.data() + size_t(batch.q_start[s]) * q_row_bytes(spec),
                    size_t(ql[s]) * q_row_bytes(spec));
        for (int t = 0; t < kl[s]; ++t) copy_kv(batch, alone, s, 0, t, t);
        const RunOut r = run(alone);
        EXPECT_EQ(std::memcmp(r.o.data(), all.o.data() + size_t(batch.q_start[s]) * o_rb, size_t(ql[s]) * o_rb), 0)
            << "sequence " << s << " " << spec.str() << "; " << seed_note();
      }
    }
}

TEST(AttnInvariants, SparseEqualsFlash) {
  for (Variant v : all_variants()) {
    std::mt19937_64 rng(mix_seed(run_seed(), 400 + int(v)));
    const int L = std::uniform_int_distribution<int>(100, under_sanitizer() ? 200 : 600)(rng);
    AttnCaseSpec spec = random_spec(rng, {L, 1}, {L, L + 5}, v);
    spec.o_dtype = DType::f32;
    AttnCase c = make_case(spec, rng());
    c.params.method = AttnMethod::flash;
    const RunOut flash = run(c);
    c.params.method = AttnMethod::sparse;
    const RunOut sparse = run(c);
    std::vector<double> a(flash.o.size() / 4), b(a.size());
    for (size_t e = 0; e < a.size(); ++e) {
      a[e] = load_as_f64(flash.o.data(), DType::f32, e);
      b[e] = load_as_f64(sparse.o.data(), DType::f32, e);
    }
    EXPECT_LE(rel_l2(b, a), 1e-6) << variant_name(v) << " " << spec.str() << "; " << seed_note();
  }
}

// Q, O and K/V rows with padding between them (as views into fused QKV / wider buffers) give the
// same bits as compact rows, and the padding is left untouched.
TEST(AttnInvariants, RowStridesHonored) {
  for (AttnMethod m : kExact) {
    std::mt19937_64 rng(mix_seed(run_seed(), 500 + int(m)));
    AttnCaseSpec spec = random_spec(rng, {70, 3}, {70, 90}, random_variant(rng));
    spec.method = m;
    spec.paged = m == AttnMethod::sparse;
    AttnCase c = make_case(spec, rng());
    const RunOut compact = run(c);
    const int64_t D = spec.head_dim, qrow = int64_t(spec.q_heads) * D, kvrow = int64_t(spec.kv_heads) * D;
    const int64_t qs = qrow + 24, os = qrow + 8, ks = kvrow + 40;
    const size_t es = dtype_size(spec.dtype), oes = dtype_size(spec.o_dtype);
    std::vector<uint8_t> q(size_t(c.q_tokens * qs) * es, 0x7f), o(size_t(c.q_tokens * os) * oes, 0x5a);
    std::vector<uint8_t> k(size_t(c.kv_rows * ks) * es, 0x7f), v(size_t(c.kv_rows * ks) * es, 0x7f);
    for (int64_t r = 0; r < c.q_tokens; ++r) std::memcpy(&q[size_t(r * qs) * es], &c.q[size_t(r * qrow) * es], size_t(qrow) * es);
    for (int64_t r = 0; r < c.kv_rows; ++r) {
      std::memcpy(&k[size_t(r * ks) * es], &c.k[size_t(r * kvrow) * es], size_t(kvrow) * es);
      std::memcpy(&v[size_t(r * ks) * es], &c.v[size_t(r * kvrow) * es], size_t(kvrow) * es);
    }
    AttentionArgs a = c.args();
    a.q = q.data();
    a.q_row_stride = qs;
    a.o = o.data();
    a.o_row_stride = os;
    a.kv.k = k.data();
    a.kv.v = v.data();
    a.kv.row_stride = ks;
    std::vector<float> lse(size_t(c.q_tokens) * spec.q_heads);
    a.lse = lse.data();
    attention_cpu(c.params, a);
    for (int64_t r = 0; r < c.q_tokens; ++r) {
      EXPECT_EQ(std::memcmp(&o[size_t(r * os) * oes], &compact.o[size_t(r * qrow) * oes], size_t(qrow) * oes), 0)
          << "row " << r << " " << spec.str() << "; " << seed_note();
      for (int64_t e = qrow * int64_t(oes); e < os * int64_t(oes); ++e)
        ASSERT_EQ(o[size_t(r * os * int64_t(oes) + e)], 0x5a) << "padding of O row " << r << " was written";
    }
  }
}

TEST(AttnInvariants, ThreadCountDoesNotChangeBits) {
  const int saved = num_threads();
  for (AttnMethod m : kExact) {
    std::mt19937_64 rng(mix_seed(run_seed(), 600 + int(m)));
    AttnCaseSpec spec = random_spec(rng, {150, 1, 40}, {150, 60, 80}, random_variant(rng));
    spec.method = m;
    AttnCase c = make_case(spec, rng());
    set_num_threads(1);
    const RunOut one = run(c);
    set_num_threads(3);
    const RunOut three = run(c);
    set_num_threads(saved);
    EXPECT_TRUE(bitwise_equal(one, three)) << spec.str() << "; " << seed_note();
  }
}

// Rows whose mask allows no key: a block-sparse layout with an empty block row, and queries placed
// (q_pos0) beyond a causal window's reach of the keys. O = 0 exactly and LSE = -inf.
TEST(AttnInvariants, RowsWithNoAllowedKey) {
  for (AttnMethod m : kExact) {
    std::mt19937_64 rng(mix_seed(run_seed(), 700 + int(m)));
    AttnCaseSpec spec = random_spec(rng, {40}, {40}, Variant::none);
    spec.o_dtype = DType::f32;
    spec.method = m;
    spec.layout = {1, 1, 1,  0, 0, 0,  1, 0, 1};  // 3 x 3 blocks of 16; block row 1 empty
    spec.mask = mask_block_sparse(nullptr, 16, 3, 3, false);
    AttnCase c = make_case(spec, rng());
    const RunOut r = run(c);
    const int64_t row_elems = int64_t(spec.q_heads) * spec.head_dim;
    for (int64_t t = 0; t < 40; ++t) {
      const bool empty = t >= 16 && t < 32;
      for (int h = 0; h < spec.q_heads; ++h)
        EXPECT_EQ(std::isinf(r.lse[size_t(t * spec.q_heads + h)]) && r.lse[size_t(t * spec.q_heads + h)] < 0, empty)
            << "row " << t;
      if (empty) {
        for (int64_t e = 0; e < row_elems; ++e) ASSERT_EQ(load_as_f64(r.o.data(), DType::f32, size_t(t * row_elems + e)), 0.0);
      }
    }
    EXPECT_LE(rel_l2(c.out_f64(), c.reference()), 1e-5) << spec.str() << "; " << seed_note();

    // Queries at positions 300.. see keys 0..49 only through a causal window of 20: nothing.
    AttnCaseSpec far = random_spec(rng, {3, 2}, {50, 10}, Variant::none);
    far.o_dtype = DType::f32;
    far.method = m;
    far.mask = mask_window(20, 0);
    far.q_pos0 = {300, 5};  // second sequence: positions 5, 6 do see keys
    AttnCase fc = make_case(far, rng());
    const RunOut fr = run(fc);
    for (int64_t e = 0; e < 3 * int64_t(far.q_heads) * far.head_dim; ++e)
      ASSERT_EQ(load_as_f64(fr.o.data(), DType::f32, size_t(e)), 0.0);
    for (int h = 0; h < 3 * far.q_heads; ++h) EXPECT_TRUE(std::isinf(fr.lse[size_t(h)]) && fr.lse[size_t(h)] < 0);
    EXPECT_LE(rel_l2(fc.out_f64(), fc.reference()), 1e-5) << far.str() << "; " << seed_note();
  }
}

// standard holds the [G * q_len, kv_len] score matrix (tracked through Tensor); flash and sparse
// hold a per-worker scratch bounded by the work-item size, whatever N.
TEST(AttnMemory, StandardHoldsScoresFlashDoesNot) {
  auto peak_extra = [](AttnMethod m, int N) {
    AttnCaseSpec spec;
    spec.q_heads = 2;
    spec.kv_heads = 2;
    spec.head_dim = 64;
    spec.q_lens = {N};
    spec.kv_lens = {N};
    spec.mask = mask_causal();
    spec.method = m;
    AttnCase c = make_case(spec, 1);
    reset_peak_memory(Device::cpu);
    const int64_t before = memory_stats(Device::cpu).current;
    attention_cpu(c.params, c.args());
    return memory_stats(Device::cpu).peak - before;
  };
  const int n1 = 256, n2 = under_sanitizer() ? 1024 : 2048;
  EXPECT_GE(peak_extra(AttnMethod::standard, n2), int64_t(n2) * n2 * 4);
  // Per worker at most 8 query tiles of 64 rows: Q and O accumulators [512, 64] f32, plus a few
  // [64, 64] tiles, i.e. well under 1 MiB per worker however long the sequence.
  const int64_t bound = int64_t(num_threads()) * (1 << 20);
  for (AttnMethod m : {AttnMethod::flash, AttnMethod::sparse}) {
    const int64_t a = peak_extra(m, n1), b = peak_extra(m, n2);
    EXPECT_GT(a, 0) << "scratch must be allocated through Tensor";
    EXPECT_LE(b, bound) << method_name(m);
    // An eighth of standard's [2 heads, n2, n2] f32 scores, at most.
    EXPECT_LT(b, 2 * int64_t(n2) * n2 * 4 / 8) << method_name(m) << ": scratch grows like the score matrix";
  }
}

}  // namespace
}  // namespace eft::test
