// The generation loop on tiny models: the KV cache changes nothing but speed, stop conditions,
// and the stop-string filter's streaming.
#include "eft/engine.h"
#include "eft/error.h"
#include "eft/model_file.h"
#include "model/tiny_common.h"

namespace eft::test {
namespace {

struct GenRun {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;
  GenerateStats stats;
};

GenRun generate(Model& m, const std::vector<int32_t>& prompt, GenerateOptions o) {
  Generator gen(m, nullptr);
  GenRun r;
  r.tokens = gen.generate_tokens(prompt, o, &r.stats, [&](int32_t, const std::vector<float>& l) {
    r.logits.push_back(l);
    return true;
  });
  return r;
}

class TinyGen : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyGen, NoKvCacheEqualsCached) {
  auto m = Model::load(tiny_dir(GetParam()));
  const Golden g = load_golden(GetParam());
  GenerateOptions o;
  o.max_tokens = 12;
  o.block_size = 3;
  const GenRun cached = generate(*m, g.prompts[1], o);
  o.use_kv_cache = false;
  const GenRun recomputed = generate(*m, g.prompts[1], o);
  ASSERT_EQ(cached.tokens.size(), 12u);
  EXPECT_EQ(cached.tokens, recomputed.tokens);
  ASSERT_EQ(cached.logits.size(), recomputed.logits.size());
  for (size_t i = 0; i < cached.logits.size(); ++i)
    EXPECT_LT(rel_err(cached.logits[i].data(), recomputed.logits[i].data(), g.vocab), 1e-5) << "step " << i;
  // The first sampled token comes from the prefill: the golden last-position logits.
  const auto& last = g.logits[1];
  EXPECT_LT(rel_err(cached.logits[0].data(), last.data() + (g.prompts[1].size() - 1) * g.vocab, g.vocab), 1e-4);
  EXPECT_EQ(cached.stats.prompt_tokens, int32_t(g.prompts[1].size()));
  EXPECT_EQ(cached.stats.generated_tokens, 12);
  EXPECT_EQ(cached.stats.stop_reason, "max tokens");
  EXPECT_GT(cached.stats.kv_cache_bytes, 0);
}

TEST_P(TinyGen, GreedyPicksTheArgmaxAndStopsAtStopTokens) {
  auto m = Model::load(tiny_dir(GetParam()));
  const Golden g = load_golden(GetParam());
  GenerateOptions o;
  o.max_tokens = 8;
  const GenRun r = generate(*m, g.prompts[0], o);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const auto& l = r.logits[i];
    EXPECT_EQ(r.tokens[i], int32_t(std::max_element(l.begin(), l.end()) - l.begin())) << "step " << i;
  }
  // Make the third generated token a stop token: generation ends right there.
  o.extra_stop_tokens = {r.tokens[2]};
  const GenRun s = generate(*m, g.prompts[0], o);
  const size_t first = size_t(std::find(r.tokens.begin(), r.tokens.end(), r.tokens[2]) - r.tokens.begin());
  EXPECT_EQ(s.tokens.size(), first + 1);
  EXPECT_EQ(s.stats.stop_reason, "stop token");
}

INSTANTIATE_TEST_SUITE_P(All, TinyGen, ::testing::Values("llama", "qwen2", "mistral", "gemma3"),
                         [](const auto& info) { return info.param; });

TEST(StopStrings, HoldsBackPossibleStartsAndCutsAtTheStop) {
  StopStringFilter f({"</s>", "STOP"});
  EXPECT_EQ(f.push("hello <"), "hello ");  // "<" may start "</s>"
  EXPECT_EQ(f.push("b>"), "<b>");          // it did not
  EXPECT_EQ(f.push(" ST"), " ");
  EXPECT_EQ(f.push("OP and more"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("x"), "");
  StopStringFilter h({"ab"});
  EXPECT_EQ(h.push("xxa"), "xx");
  EXPECT_EQ(h.flush(), "a");  // end of generation: the held tail is shown
  StopStringFilter none({});
  EXPECT_EQ(none.push("abc"), "abc");
  StopStringFilter k({"ab"});
  EXPECT_EQ(k.push("zzabyy"), "zz");
  EXPECT_TRUE(k.stopped());
}

TEST(Generator, RejectsBadRequests) {
  auto m = Model::load(tiny_dir("llama"));
  Generator gen(*m, nullptr);
  GenerateOptions o;
  EXPECT_THROW(gen.generate_tokens({}, o), Error);
  o.max_tokens = -1;
  EXPECT_THROW(gen.generate_tokens({1, 2}, o), Error);
  o.max_tokens = 4;
  EXPECT_THROW(gen.generate_tokens({1, 100000}, o), Error);
  EXPECT_THROW(gen.generate("hi", o, [](const std::string&) {}), Error);  // no tokenizer
}

}  // namespace
}  // namespace eft::test

namespace eft::test {
namespace {

// reuse_prefix keeps the cache between calls: a second request that extends the first one's
// text prefills only the new tokens and must produce what a fresh generator produces.
TEST_P(TinyGen, ReusedPrefixEqualsFreshPrefill) {
  auto m = Model::load(tiny_dir(GetParam()));
  const Golden g = load_golden(GetParam());
  GenerateOptions o;
  o.max_tokens = 6;
  o.block_size = 4;
  o.reuse_prefix = true;
  Generator kept(*m, nullptr);
  GenerateStats st;
  const auto first = kept.generate_tokens(g.prompts[1], o, &st);
  EXPECT_EQ(st.reused_tokens, 0);
  // Next turn: the old prompt, the reply, then new tokens (as a chat template renders it).
  std::vector<int32_t> turn2 = g.prompts[1];
  turn2.insert(turn2.end(), first.begin(), first.end());
  turn2.insert(turn2.end(), {7, 8, 9});
  std::vector<std::vector<float>> a, b;
  auto rec = [](std::vector<std::vector<float>>& v) {
    return [&v](int32_t, const std::vector<float>& l) { v.push_back(l); return true; };
  };
  const auto t_kept = kept.generate_tokens(turn2, o, &st, rec(a));
  // Everything but the last generated token (never fed back) was in the cache.
  EXPECT_EQ(st.reused_tokens, int32_t(g.prompts[1].size() + first.size() - 1));
  Generator fresh(*m, nullptr);
  GenerateOptions of = o;
  of.reuse_prefix = false;
  const auto t_fresh = fresh.generate_tokens(turn2, of, nullptr, rec(b));
  EXPECT_EQ(t_kept, t_fresh);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(rel_err(a[i].data(), b[i].data(), g.vocab), 1e-5) << "step " << i;
  // A different prompt shares only its first token: the cache is cut back to it — unless a
  // sliding window already released keys that the shorter prefix needs; then it starts over.
  std::vector<int32_t> other = {g.prompts[1][0], 300, 301, 302};
  const auto t_other = kept.generate_tokens(other, o, &st);
  const auto& win = m->config().layer_window;
  const bool windowed = *std::max_element(win.begin(), win.end()) > 0;
  EXPECT_EQ(st.reused_tokens, windowed ? 0 : 1);
  EXPECT_EQ(t_other, fresh.generate_tokens(other, of));
}

}  // namespace
}  // namespace eft::test

namespace eft::test {
namespace {

// Text in, text out on a tiny model with its tokenizer.json: the streamed pieces concatenate to
// the decoded greedy tokens, and a stop string cuts the text before it.
TEST(TinyText, StreamedTextEqualsDecodedTokens) {
  std::shared_ptr<ModelFile> f(open_model_file(tiny_dir("qwen2")));
  auto m = Model::load(f);
  auto tok = load_tokenizer(*f);
  Generator gen(*m, tok.get());
  GenerateOptions o;
  o.max_tokens = 12;
  o.stop_at_eos = false;
  std::string streamed;
  const GenerateStats st = gen.generate("The quick brown fox", o, [&](const std::string& t) { streamed += t; });
  const auto ids = tok->encode("The quick brown fox", true, true);
  EXPECT_EQ(st.prompt_tokens, int32_t(ids.size()));
  const auto toks = gen.generate_tokens(ids, o);
  EXPECT_EQ(streamed, tok->decode(toks));
  ASSERT_GE(streamed.size(), 3u);
  // Stop at a piece of what the model says: output ends right before its first occurrence.
  o.stop_strings = {streamed.substr(streamed.size() / 2, 2)};
  std::string cut;
  const GenerateStats s2 = gen.generate("The quick brown fox", o, [&](const std::string& t) { cut += t; });
  EXPECT_EQ(cut, streamed.substr(0, streamed.find(o.stop_strings[0])));
  EXPECT_EQ(s2.stop_reason, "stop string");
}

}  // namespace
}  // namespace eft::test
