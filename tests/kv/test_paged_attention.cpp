// paged == contiguous: K/V written into the cache for a ragged batch (with forked sequences that
// share a prefix and then diverge, and sliding-window layers that released blocks), attention
// through batch_view().kv(layer) equals the float64 reference on contiguous copies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include "common/attn_case.h"
#include "eft/attention.h"
#include "eft/error.h"
#include "eft/kv_cache.h"

using namespace eft;

namespace {

// Fresh per run (printed on failure); EFT_TEST_SEED=n replays a failing run.
uint64_t fresh_seed() {
  if (const char* e = std::getenv("EFT_TEST_SEED")) return std::strtoull(e, nullptr, 10);
  return std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
}

struct Spec {
  int32_t n_layers, kv_heads, q_heads, head_dim, block_size;
  std::vector<int32_t> windows;
  DType dtype;
};

void run_case(const Spec& sp, AttnMethod method, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "seed " << seed << " method " << method_name(method) << " dtype "
                                  << dtype_name(sp.dtype));
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0, 1);
  KvCacheConfig cfg;
  cfg.n_layers = sp.n_layers;
  cfg.kv_heads = sp.kv_heads;
  cfg.head_dim = sp.head_dim;
  cfg.block_size = sp.block_size;
  cfg.n_blocks = 64;
  cfg.dtype = sp.dtype;
  cfg.layer_window = sp.windows;
  PagedKvCache c(cfg);
  const int64_t row = int64_t(sp.kv_heads) * sp.head_dim;
  const size_t es = dtype_size(sp.dtype);

  // Reference K/V per sequence and layer: [len, kv_heads, head_dim] in the cache dtype.
  std::map<SeqId, std::vector<std::vector<uint8_t>>> refk, refv;
  auto append_random = [&](SeqId s, int32_t n) {
    const int32_t t0 = c.length(s);
    c.append(s, n);
    for (int32_t l = 0; l < sp.n_layers; ++l) {
      std::vector<uint8_t> k(size_t(n * row) * es), v(k.size());
      for (size_t i = 0; i < size_t(n * row); ++i) {
        store_from_f64(k.data(), sp.dtype, i, nd(rng));
        store_from_f64(v.data(), sp.dtype, i, nd(rng));
      }
      c.write(l, s, t0, n, k.data(), v.data());
      refk[s][size_t(l)].insert(refk[s][size_t(l)].end(), k.begin(), k.end());
      refv[s][size_t(l)].insert(refv[s][size_t(l)].end(), v.begin(), v.end());
    }
  };
  auto make = [&]() {
    SeqId s = c.create();
    refk[s].resize(size_t(sp.n_layers));
    refv[s].resize(size_t(sp.n_layers));
    return s;
  };
  auto fork = [&](SeqId p) {
    SeqId s = c.fork(p);
    refk[s] = refk[p];
    refv[s] = refv[p];
    return s;
  };

  // A shared prompt, two forks that diverge, an unrelated sequence, and chunked growth so windows
  // release blocks. The last append of each sequence is its query chunk.
  std::vector<SeqId> seqs;
  std::vector<int32_t> q_lens;
  SeqId root = make();
  append_random(root, 2 * sp.block_size + 3);
  SeqId f1 = fork(root), f2 = fork(root);
  append_random(f1, 5);
  append_random(f1, 1);
  append_random(f2, 3 * sp.block_size + 1);
  append_random(f2, 2);
  SeqId other = make();
  append_random(other, 1);
  append_random(other, 4 * sp.block_size - 1);
  append_random(other, 7);
  append_random(root, 3);
  seqs = {root, f1, f2, other};
  q_lens = {3, 1, 2, 7};
  if (sp.windows.size() > 0) {
    bool any_released = false;
    for (SeqId s : seqs)
      for (int32_t g = 0; g < c.n_groups(); ++g) any_released |= c.released_blocks(s, g) > 0;
    EXPECT_TRUE(any_released) << "the case must exercise released blocks";
  }

  PagedKvCache::BatchView bv = c.batch_view(seqs);
  const int32_t n = int32_t(seqs.size());
  std::vector<int32_t> q_start(size_t(n) + 1, 0), kv_start(size_t(n), 0);
  int64_t kv_rows = 0;
  for (int32_t i = 0; i < n; ++i) {
    q_start[size_t(i) + 1] = q_start[size_t(i)] + q_lens[size_t(i)];
    kv_start[size_t(i)] = int32_t(kv_rows);
    kv_rows += c.length(seqs[size_t(i)]);
    EXPECT_EQ(bv.kv_len[size_t(i)], c.length(seqs[size_t(i)]));
  }
  const int32_t q_tokens = q_start[size_t(n)];
  std::vector<float> q(size_t(q_tokens) * sp.q_heads * sp.head_dim);  // [q_tokens, q_heads, head_dim]
  for (float& x : q) x = float(nd(rng));

  for (int32_t layer = 0; layer < sp.n_layers; ++layer) {
    const int32_t w = sp.windows.empty() ? 0 : sp.windows[size_t(layer)];
    AttentionParams p;
    p.q_heads = sp.q_heads;
    p.kv_heads = sp.kv_heads;
    p.head_dim = sp.head_dim;
    p.method = method;
    p.mask = w > 0 ? mask_window(w - 1, 0) : mask_causal();  // the last w positions, self included

    // Paged, through the cache.
    std::vector<float> o(q.size(), std::nanf(""));
    AttentionArgs a;
    a.q = q.data();
    a.kv = bv.kv(layer, c);
    a.o = o.data();
    a.batch.n_seqs = n;
    a.batch.q_start = q_start.data();
    a.batch.kv_len = bv.kv_len.data();
    attention_cpu(p, a);

    // Contiguous copies of what was written (released tokens included: the mask must exclude them).
    std::vector<uint8_t> kc(size_t(kv_rows * row) * es), vc(kc.size());
    for (int32_t i = 0; i < n; ++i) {
      const auto& k = refk[seqs[size_t(i)]][size_t(layer)];
      const auto& v = refv[seqs[size_t(i)]][size_t(layer)];
      std::copy(k.begin(), k.end(), kc.begin() + ptrdiff_t(int64_t(kv_start[size_t(i)]) * row * int64_t(es)));
      std::copy(v.begin(), v.end(), vc.begin() + ptrdiff_t(int64_t(kv_start[size_t(i)]) * row * int64_t(es)));
    }
    AttentionArgs r = a;
    r.kv = KvView{};
    r.kv.dtype = sp.dtype;
    r.kv.k = kc.data();
    r.kv.v = vc.data();
    r.kv.kv_start = kv_start.data();
    std::vector<double> ref(q.size());
    attention_reference(p, r, ref.data());
    std::vector<double> out(o.begin(), o.end());
    const double err = test::rel_l2(out, ref);
    const double bound = sp.dtype == DType::f32 ? 1e-5 : 1e-2;
    EXPECT_LT(err, bound) << "layer " << layer << " window " << w;
  }
}

}  // namespace

TEST(PagedKvCache, AttentionPagedEqualsContiguous) {
  const std::vector<Spec> specs = {
      {2, 2, 8, 32, 16, {}, DType::f32},              // GQA 4, no windows
      {3, 1, 4, 16, 4, {6, 0, 6}, DType::f32},        // MQA, sliding-window layers around a global one
      {2, 2, 2, 64, 8, {0, 9}, DType::f16},           // MHA, window not a multiple of the block
      {6, 1, 2, 16, 4, {7, 7, 0, 7, 7, 0}, DType::bf16},  // Gemma-like interleave, groups of 2 layers
  };
  for (AttnMethod m : {AttnMethod::standard, AttnMethod::flash})
    for (const Spec& sp : specs) run_case(sp, m, fresh_seed());
}
