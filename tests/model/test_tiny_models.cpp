// Tiny random-weight models of every architecture against HF transformers' logits, and the
// invariants of the forward pass: token-by-token decode == prefill, a batch == its sequences
// alone, paged with shuffled blocks == one contiguous block, flash == standard.
#include <algorithm>
#include <functional>
#include <random>
#include <unistd.h>

#include "eft/error.h"
#include "model/tiny_common.h"

namespace eft::test {
namespace {

constexpr double kTol = 1e-4;  // relative L2 per position, the bound against HF

class TinyModel : public ::testing::TestWithParam<std::string> {};

std::vector<float> prefill(Model& m, PagedKvCache& cache, SeqId s, const std::vector<int32_t>& ids,
                           AttnMethod method) {
  ForwardBatch b;
  b.tokens = ids;
  b.seqs = {s};
  b.n_new = {int32_t(ids.size())};
  b.all_logits = true;
  std::vector<float> logits;
  ForwardOptions o;
  o.method = method;
  m.forward(b, cache, o, logits);
  return logits;
}

TEST_P(TinyModel, PrefillMatchesGoldenAtEveryPosition) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  ASSERT_EQ(m->config().vocab, g.vocab);
  for (AttnMethod method : {AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse}) {
    for (size_t p = 0; p < g.prompts.size(); ++p) {
      PagedKvCache cache = make_cache(*m, int32_t(g.prompts[p].size()), 4);
      const SeqId s = cache.create();
      const std::vector<float> l = prefill(*m, cache, s, g.prompts[p], method);
      ASSERT_EQ(l.size(), g.logits[p].size());
      for (size_t t = 0; t < g.prompts[p].size(); ++t) {
        const double e = rel_err(l.data() + t * g.vocab, g.logits[p].data() + t * g.vocab, g.vocab);
        EXPECT_LT(e, kTol) << name << " method " << method_name(method) << " prompt " << p << " position " << t;
      }
    }
  }
}

TEST_P(TinyModel, TokenByTokenDecodeMatchesGolden) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  for (size_t p = 0; p < g.prompts.size(); ++p) {
    PagedKvCache cache = make_cache(*m, int32_t(g.prompts[p].size()), 3);
    const SeqId s = cache.create();
    for (size_t t = 0; t < g.prompts[p].size(); ++t) {
      ForwardBatch b;
      b.tokens = {g.prompts[p][t]};
      b.seqs = {s};
      b.n_new = {1};
      std::vector<float> l;
      m->forward(b, cache, ForwardOptions{}, l);
      ASSERT_EQ(l.size(), size_t(g.vocab));
      EXPECT_LT(rel_err(l.data(), g.logits[p].data() + t * g.vocab, g.vocab), kTol)
          << name << " prompt " << p << " decode step " << t;
    }
    EXPECT_EQ(cache.length(s), int32_t(g.prompts[p].size()));
  }
}

// One forward call holding: sequence 0 decoding one token after a 9-token history, sequence 1's
// whole prompt, sequence 2 a 4-token chunk after a 6-token history (chunked prefill). Each row
// must equal the golden logits of its sequence alone.
TEST_P(TinyModel, MixedBatchEqualsSequencesAlone) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  ASSERT_GE(g.prompts.size(), 3u);
  const auto& p0 = g.prompts[0];
  const auto& p1 = g.prompts[1];
  const auto& p2 = g.prompts[2];
  ASSERT_GE(p0.size(), 10u);
  ASSERT_GE(p2.size(), 10u);
  PagedKvCache cache = make_cache(*m, 24, 4, 3);
  const SeqId a = cache.create(), b = cache.create(), c = cache.create();
  prefill(*m, cache, a, std::vector<int32_t>(p0.begin(), p0.begin() + 9), AttnMethod::flash);
  prefill(*m, cache, c, std::vector<int32_t>(p2.begin(), p2.begin() + 6), AttnMethod::flash);
  ForwardBatch batch;
  batch.tokens = {p0[9]};
  batch.tokens.insert(batch.tokens.end(), p1.begin(), p1.end());
  batch.tokens.insert(batch.tokens.end(), p2.begin() + 6, p2.begin() + 10);
  batch.seqs = {a, b, c};
  batch.n_new = {1, int32_t(p1.size()), 4};
  for (bool all : {true, false}) {
    if (!all) {  // roll back the batch and run it again returning last-token logits only
      cache.truncate(a, 9);
      cache.truncate(b, 0);
      cache.truncate(c, 6);
    }
    batch.all_logits = all;
    std::vector<float> l;
    m->forward(batch, cache, ForwardOptions{}, l);
    const int32_t V = g.vocab;
    std::vector<std::pair<const float*, const float*>> rows;  // (ours, golden)
    if (all) {
      ASSERT_EQ(l.size(), batch.tokens.size() * size_t(V));
      rows.push_back({l.data(), g.logits[0].data() + 9 * V});
      for (size_t t = 0; t < p1.size(); ++t) rows.push_back({l.data() + (1 + t) * V, g.logits[1].data() + t * V});
      for (size_t t = 0; t < 4; ++t)
        rows.push_back({l.data() + (1 + p1.size() + t) * V, g.logits[2].data() + (6 + t) * V});
    } else {
      ASSERT_EQ(l.size(), 3u * size_t(V));
      rows.push_back({l.data(), g.logits[0].data() + 9 * V});
      rows.push_back({l.data() + V, g.logits[1].data() + (p1.size() - 1) * V});
      rows.push_back({l.data() + 2 * V, g.logits[2].data() + 9 * V});
    }
    for (size_t r = 0; r < rows.size(); ++r)
      EXPECT_LT(rel_err(rows[r].first, rows[r].second, V), kTol) << name << " all_logits=" << all << " row " << r;
  }
}

// Shuffle the allocator's free list by allocating decoy sequences and freeing them in random
// order, so the real sequence's blocks land all over the pool.
void scatter_free_list(PagedKvCache& cache, int32_t block_size, std::mt19937& rng) {
  std::vector<SeqId> decoys;
  while (true) {
    SeqId d = cache.create();
    decoys.push_back(d);
    try {
      cache.append(d, block_size);
    } catch (const OutOfMemory&) {
      break;  // the pool is full: every block is now held by some decoy
    }
  }
  std::shuffle(decoys.begin(), decoys.end(), rng);
  for (SeqId d : decoys) cache.free(d);
}

TEST_P(TinyModel, PagedShuffledBlocksEqualOneContiguousBlock) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  const auto& ids = g.prompts[0];
  const uint32_t seed = 20261128;
  std::mt19937 rng(seed);
  // Contiguous: one block holds the whole sequence.
  PagedKvCache one(m->kv_cache_config(1, 64));
  const SeqId s1 = one.create();
  std::vector<float> ref = prefill(*m, one, s1, ids, AttnMethod::flash);
  // Paged: blocks of 2 tokens, placed at random, filled by a prefill and then decode steps.
  PagedKvCache paged(m->kv_cache_config(40, 2));
  scatter_free_list(paged, 2, rng);
  const SeqId s2 = paged.create();
  std::vector<float> got = prefill(*m, paged, s2, std::vector<int32_t>(ids.begin(), ids.begin() + 7), AttnMethod::flash);
  for (size_t t = 7; t < ids.size(); ++t) {
    std::vector<float> l = prefill(*m, paged, s2, {ids[t]}, AttnMethod::flash);
    got.insert(got.end(), l.begin(), l.end());
  }
  ASSERT_EQ(got.size(), ref.size());
  for (size_t t = 0; t < ids.size(); ++t)
    EXPECT_LT(rel_err(got.data() + t * g.vocab, ref.data() + t * g.vocab, g.vocab), 1e-5)
        << name << " position " << t << " (seed " << seed << ")";
}

TEST_P(TinyModel, FlashEqualsStandard) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  PagedKvCache c1 = make_cache(*m, 32, 4), c2 = make_cache(*m, 32, 4);
  const auto a = prefill(*m, c1, c1.create(), g.prompts[0], AttnMethod::flash);
  const auto b = prefill(*m, c2, c2.create(), g.prompts[0], AttnMethod::standard);
  for (size_t t = 0; t < g.prompts[0].size(); ++t)
    EXPECT_LT(rel_err(a.data() + t * g.vocab, b.data() + t * g.vocab, g.vocab), 1e-5) << name << " position " << t;
}

TEST_P(TinyModel, OutOfKvBlocksIsRecoverable) {
  const std::string name = GetParam();
  auto m = Model::load(tiny_dir(name));
  const Golden g = load_golden(name);
  PagedKvCache cache(m->kv_cache_config(2, 4));  // 8 tokens at most
  const SeqId s = cache.create();
  prefill(*m, cache, s, {1, 2, 3}, AttnMethod::flash);
  EXPECT_THROW(prefill(*m, cache, s, g.prompts[0], AttnMethod::flash), OutOfMemory);
  EXPECT_EQ(cache.length(s), 3);  // unchanged: the caller may free something and retry
  // The sequence still decodes correctly afterwards.
  const auto l = prefill(*m, cache, s, {4}, AttnMethod::flash);
  PagedKvCache fresh = make_cache(*m, 8, 4);
  const auto ref = prefill(*m, fresh, fresh.create(), {1, 2, 3, 4}, AttnMethod::flash);
  EXPECT_LT(rel_err(l.data(), ref.data() + 3 * g.vocab, g.vocab), 1e-5);
}

TEST_P(TinyModel, BadBatchesAreRejectedWithoutTouchingTheCache) {
  auto m = Model::load(tiny_dir(GetParam()));
  PagedKvCache cache = make_cache(*m, 16, 4);
  const SeqId s = cache.create();
  std::vector<float> l;
  ForwardBatch b;
  b.seqs = {s};
  b.n_new = {2};
  b.tokens = {1, m->config().vocab};  // out of the vocabulary
  EXPECT_THROW(m->forward(b, cache, ForwardOptions{}, l), Error);
  b.tokens = {1};  // count mismatch
  EXPECT_THROW(m->forward(b, cache, ForwardOptions{}, l), Error);
  b.tokens = {1, 2, 3};
  b.n_new = {1, 2};
  b.seqs = {s, s};  // one sequence twice
  EXPECT_THROW(m->forward(b, cache, ForwardOptions{}, l), Error);
  EXPECT_EQ(cache.length(s), 0);
}

INSTANTIATE_TEST_SUITE_P(All, TinyModel, ::testing::Values("llama", "qwen2", "mistral", "gemma3"),
                         [](const auto& info) { return info.param; });

TEST(TinyConfig, HyperparametersFromConfigJson) {
  auto g = Model::load(tiny_dir("gemma3"));
  const ModelConfig& c = g->config();
  EXPECT_EQ(c.arch, "gemma3");
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.layer_window, (std::vector<int32_t>{4, 4, 0, 4}));
  EXPECT_FLOAT_EQ(c.attn_scale, 1.f / std::sqrt(24.f));
  EXPECT_FLOAT_EQ(c.rope_base, 1e6f);
  EXPECT_FLOAT_EQ(c.rope_base_local, 1e4f);
  EXPECT_FLOAT_EQ(c.embed_scale, 8.f);
  EXPECT_TRUE(c.tied_embeddings && c.qk_norm && c.sandwich_norm);
  auto mi = Model::load(tiny_dir("mistral"));
  EXPECT_EQ(mi->config().arch, "llama");
  EXPECT_EQ(mi->config().layer_window, (std::vector<int32_t>{5, 5}));
  auto q = Model::load(tiny_dir("qwen2"));
  EXPECT_TRUE(q->config().qkv_bias);
  EXPECT_EQ(q->config().n_kv_heads, 1);
  EXPECT_EQ(q->config().kv_bytes_per_token(), 2 * 2 * 1 * 16 * 4);
  EXPECT_EQ(q->config().mha_kv_bytes_per_token(), 2 * 2 * 4 * 16 * 4);
}

}  // namespace
}  // namespace eft::test

namespace eft::test {
namespace {

// A 16-bit KV cache stores K/V rounded to f16/bf16: logits stay close to the golden ones.
TEST(TinyKvDtype, HalfPrecisionCacheStaysClose) {
  for (const char* name : {"llama", "gemma3"}) {
    auto m = Model::load(tiny_dir(name));
    const Golden g = load_golden(name);
    for (DType dt : {DType::f16, DType::bf16}) {
      PagedKvCache cache(m->kv_cache_config(16, 4, dt));
      const SeqId s = cache.create();
      std::vector<float> l;
      for (size_t t = 0; t < g.prompts[0].size(); ++t) {  // decode reads everything back from the cache
        ForwardBatch b;
        b.tokens = {g.prompts[0][t]};
        b.seqs = {s};
        b.n_new = {1};
        m->forward(b, cache, ForwardOptions{}, l);
        const double tol = dt == DType::f16 ? 5e-3 : 3e-2;
        EXPECT_LT(rel_err(l.data(), g.logits[0].data() + t * g.vocab, g.vocab), tol)
            << name << " " << dtype_name(dt) << " step " << t;
      }
    }
  }
}

// Linear attention is an approximation the models were not trained for: it must run end to end
// (finite logits, local layers fall back to its causal mask) but is not expected to match.
TEST(TinyLinear, RunsEndToEndWithFiniteLogits) {
  for (const char* name : {"llama", "gemma3"}) {
    auto m = Model::load(tiny_dir(name));
    const Golden g = load_golden(name);
    PagedKvCache cache(m->kv_cache_config(16, 4));
    ForwardBatch b;
    b.tokens = g.prompts[0];
    b.seqs = {cache.create()};
    b.n_new = {int32_t(b.tokens.size())};
    b.all_logits = true;
    ForwardOptions o;
    o.method = AttnMethod::linear;
    std::vector<float> l;
    m->forward(b, cache, o, l);
    ASSERT_EQ(l.size(), g.logits[0].size());
    for (float v : l) ASSERT_TRUE(std::isfinite(v)) << name;
    // Position 0 sees only itself: every method gives exactly softmax attention there.
    EXPECT_LT(rel_err(l.data(), g.logits[0].data(), g.vocab), 1e-4) << name;
  }
}

}  // namespace
}  // namespace eft::test

#include <filesystem>

namespace eft::test {
namespace {

// A bad config.json or a tensor of the wrong shape fails at load with the file and field named.
TEST(TinyConfig, BadConfigsNameTheFieldAndValue) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("eft_model_badcfg_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(tiny_dir("llama") + "/model.safetensors", dir / "model.safetensors",
                fs::copy_options::overwrite_existing);
  std::ifstream in(tiny_dir("llama") + "/config.json");
  const nlohmann::json good = nlohmann::json::parse(in);
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& mutate, const std::string& needle) {
    nlohmann::json j = good;
    mutate(j);
    std::ofstream(dir / "config.json") << j.dump();
    try {
      Model::load(dir.string());
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([](auto& j) { j["model_type"] = "gpt_neox"; }, "gpt_neox");
  expect_error([](auto& j) { j.erase("hidden_size"); }, "hidden_size");
  expect_error([](auto& j) { j["num_key_value_heads"] = 3; }, "head_count_kv (3)");
  expect_error([](auto& j) { j["num_hidden_layers"] = 3; }, "model.layers.2");
  expect_error([](auto& j) { j["intermediate_size"] = 96; }, "mlp.gate_proj.weight has shape [128, 64]");
  expect_error([](auto& j) { j["rms_norm_eps"] = -1.0; }, "rms_norm_eps");
  expect_error([](auto& j) { j["vocab_size"] = 0; }, "vocab_size = 0");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eft::test
