// Hand-made vocabularies in memory: merges and their order, byte fallback, special tokens,
// BOS/EOS, decode and streaming decode of characters split across tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "eft/error.h"
#include "eft/tokenizer.h"
#include "mem_model_file.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/nfc.h"
#include "tokenizer/utf8.h"

namespace eft {
namespace {

using test::MemModelFile;

// Byte-level vocabulary: the 256 one-byte pieces (id = byte), then `extra` pieces, then the
// control tokens <|im_start|> <|im_end|> and the user-defined <think>.
struct ByteVocab {
  std::vector<std::string> pieces;
  std::vector<int64_t> types;
  ByteVocab(const std::vector<std::string>& extra) {
    for (int b = 0; b < 256; ++b) pieces.push_back(tok::byte_to_unicode()[b]), types.push_back(1);
    for (const auto& e : extra) pieces.push_back(e), types.push_back(1);
    for (const char* c : {"<|im_start|>", "<|im_end|>"}) pieces.push_back(c), types.push_back(3);
    pieces.push_back("<think>"), types.push_back(4);
  }
  int32_t id(const std::string& p) const {
    for (size_t i = 0; i < pieces.size(); ++i)
      if (pieces[i] == p) return static_cast<int32_t>(i);
    return -1;
  }
};

std::unique_ptr<Tokenizer> byte_level(const ByteVocab& v, const std::vector<std::string>& merges,
                                      const std::string& pre = "gpt2", bool add_bos = false) {
  MemModelFile f;
  f.set_string("tokenizer.ggml.model", "gpt2");
  f.set_string("tokenizer.ggml.pre", pre);
  f.set_strings("tokenizer.ggml.tokens", v.pieces);
  f.set_ints("tokenizer.ggml.token_type", v.types);
  f.set_strings("tokenizer.ggml.merges", merges);
  f.set_int("tokenizer.ggml.bos_token_id", v.id("<|im_start|>"));
  f.set_int("tokenizer.ggml.eos_token_id", v.id("<|im_end|>"));
  f.set_bool("tokenizer.ggml.add_bos_token", add_bos);
  return tokenizer_from_model_file(f);
}

TEST(ByteLevelBpe, MergesApplyLowestRankFirst) {
  ByteVocab v({"he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "ab", "bc"});
  auto t = byte_level(v, {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "a b", "b c"});
  EXPECT_EQ(t->encode("hello world", false, false),
            (std::vector<int32_t>{v.id("hello"), v.id("Ġwor"), 'l', 'd'}));
  // "a b" outranks "b c"; with the ranks swapped the other pair wins.
  EXPECT_EQ(t->encode("abc", false, false), (std::vector<int32_t>{v.id("ab"), 'c'}));
  auto t2 = byte_level(v, {"b c", "a b"});
  EXPECT_EQ(t2->encode("abc", false, false), (std::vector<int32_t>{'a', v.id("bc")}));
}

TEST(ByteLevelBpe, EqualRanksMergeLeftmostFirst) {
  ByteVocab v({"aa"});
  auto t = byte_level(v, {"a a"});
  EXPECT_EQ(t->encode("aaa", false, false), (std::vector<int32_t>{v.id("aa"), 'a'}));
  EXPECT_EQ(t->encode("aaaa", false, false), (std::vector<int32_t>{v.id("aa"), v.id("aa")}));
}

TEST(ByteLevelBpe, PreTokenizerKeepsMergesInsideWords) {
  ByteVocab v({"aĠ", "Ġa"});
  auto t = byte_level(v, {"a Ġ", "Ġ a"});
  // GPT-2 splits "a a" into "a" and " a": "aĠ" would cross the word boundary and never forms.
  EXPECT_EQ(t->encode("a a", false, false), (std::vector<int32_t>{'a', v.id("Ġa")}));
}

TEST(ByteLevelBpe, SmollmSplitsDigitsOneByOne) {
  ByteVocab v({"12", "34"});
  auto gpt2 = byte_level(v, {"1 2", "3 4"}, "gpt2");
  auto smollm = byte_level(v, {"1 2", "3 4"}, "smollm");
  EXPECT_EQ(gpt2->encode("1234", false, false), (std::vector<int32_t>{v.id("12"), v.id("34")}));
  EXPECT_EQ(smollm->encode("1234", false, false), (std::vector<int32_t>{'1', '2', '3', '4'}));
}

TEST(ByteLevelBpe, Llama3TakesWholeWordsFromTheVocabulary) {
  // "abc" is a piece no merge sequence reaches; Llama 3 (ignore_merges) still takes it whole.
  ByteVocab v({"ab", "abc"});
  auto gpt2 = byte_level(v, {"a b"}, "gpt2");
  auto llama3 = byte_level(v, {"a b"}, "llama-bpe");
  EXPECT_EQ(gpt2->encode("abc", false, false), (std::vector<int32_t>{v.id("ab"), 'c'}));
  EXPECT_EQ(llama3->encode("abc", false, false), (std::vector<int32_t>{v.id("abc")}));
  EXPECT_EQ(llama3->encode("abcd", false, false), (std::vector<int32_t>{v.id("ab"), 'c', 'd'}));
}

TEST(ByteLevelBpe, EveryKnownPreTokenizerName) {
  ByteVocab v({"ab"});
  const std::string text = "Hello WORLD it's 12345 a\tb\n\n  x/y \xC3\xA9t\xC3\xA9";
  for (const char* pre : {"default", "gpt2", "smollm", "llama-bpe", "llama3", "llama-v3", "falcon3", "smaug-bpe",
                          "dbrx", "pixtral", "qwen2", "deepseek-r1-qwen", "megrez", "tekken", "gpt-4o", "llama4"}) {
    auto t = byte_level(v, {"a b"}, pre);
    EXPECT_EQ(t->decode(t->encode(text, false, false)), text) << pre;
  }
}

TEST(ByteLevelBpe, SpecialTokensOnlyWithParseSpecial) {
  ByteVocab v({});
  auto t = byte_level(v, {}, "gpt2", /*add_bos=*/true);
  const int32_t start = v.id("<|im_start|>"), end = v.id("<|im_end|>"), think = v.id("<think>");
  EXPECT_EQ(t->encode("<|im_start|>x<|im_end|>", false, true), (std::vector<int32_t>{start, 'x', end}));
  // Without parse_special the control text is ordinary text: one id per byte here.
  auto plain = t->encode("<|im_start|>", false, false);
  EXPECT_EQ(plain.size(), std::string("<|im_start|>").size());
  // User-defined tokens are recognized either way.
  EXPECT_EQ(t->encode("a<think>b", false, false), (std::vector<int32_t>{'a', think, 'b'}));
  // BOS from add_bos_token; EOS is not added (add_eos_token absent).
  EXPECT_EQ(t->encode("x", true, false), (std::vector<int32_t>{start, 'x'}));
  EXPECT_EQ(t->bos(), start);
  EXPECT_EQ(t->eos(), end);
  EXPECT_TRUE(t->is_special(start));
  EXPECT_FALSE(t->is_special(think));
  EXPECT_EQ(t->decode({start, 'x', end}, false), "<|im_start|>x<|im_end|>");
  EXPECT_EQ(t->decode({start, 'x', end}, true), "x");
  const auto stops = t->stop_tokens();
  EXPECT_NE(std::find(stops.begin(), stops.end(), end), stops.end());
}

TEST(ByteLevelBpe, AnyBytesRoundTripAndInvalidUtf8IsRepaired) {
  ByteVocab v({});
  auto t = byte_level(v, {});
  const std::string s = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE4\xBD\xA0";
  EXPECT_EQ(t->decode(t->encode(s, false, false)), s);
  // Invalid input: each maximal ill-formed subpart becomes U+FFFD (EF BF BD) before encoding.
  const std::string bad = "a\xE2\x82" "b\xFF";
  EXPECT_EQ(t->decode(t->encode(bad, false, false)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  // Decoding bytes that do not form UTF-8 gives U+FFFD too.
  EXPECT_EQ(t->decode({0xE4, 0xBD}), "\xEF\xBF\xBD");
  EXPECT_EQ(t->decode({0xE4, 0xBD, 0xA0}), "\xE4\xBD\xA0");
  EXPECT_THROW(t->decode({-1}), Error);
  EXPECT_THROW(t->decode({t->vocab_size()}), Error);
}

TEST(ByteLevelBpe, RandomBytesNeverFailAndRoundTripRepaired) {
  ByteVocab v({"ab", "Ġa"});
  auto t = byte_level(v, {"a b", "Ġ a"}, "llama-bpe");
  const uint64_t seed = 777;
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 300; ++trial) {
    std::string s(rng() % 40, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 3 : rng() % 256);
    const auto ids = t->encode(s, false, true);
    ASSERT_EQ(t->decode(ids), tok::sanitize_utf8(s)) << "seed " << seed << " trial " << trial;
  }
}

TEST(ByteLevelBpe, BadMetadataNamesTheKey) {
  ByteVocab v({});
  MemModelFile f;
  f.set_string("tokenizer.ggml.model", "gpt2");
  f.set_strings("tokenizer.ggml.tokens", v.pieces);
  f.set_strings("tokenizer.ggml.merges", {"x yz"});
  try {
    tokenizer_from_model_file(f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merge 0"), std::string::npos) << e.what();
  }
  f.set_strings("tokenizer.ggml.merges", {});
  f.set_string("tokenizer.ggml.pre", "no-such-pre");
  try {
    tokenizer_from_model_file(f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos) << e.what();
  }
  f.set_string("tokenizer.ggml.model", "bert");
  EXPECT_THROW(tokenizer_from_model_file(f), Error);
  f.set_string("tokenizer.ggml.model", "gpt2");
  f.set_string("tokenizer.ggml.pre", "gpt2");
  f.set_int("tokenizer.ggml.bos_token_id", 100000);
  try {
    tokenizer_from_model_file(f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bos_token_id"), std::string::npos) << e.what();
  }
}

TEST(ByteLevelBpe, LongInputsOfEveryKind) {
  // Long runs exercise the regex engine's backtracking (\s+(?!\S)) and the merge heap; every
  // pre-tokenizer must get through them and the bytes must come back unchanged.
  ByteVocab v({"ĠĠ", "ĠĠĠĠ", "aa", "aaaa", "11"});
  const std::vector<std::string> merges{"Ġ Ġ", "ĠĠ ĠĠ", "a a", "aa aa", "1 1"};
  std::string mixed;
  for (int i = 0; i < 2000; ++i) mixed += i % 7 == 0 ? "\n\t  " : i % 3 == 0 ? "123 " : "a\xC3\xA9 ";
  const std::vector<std::string> inputs{std::string(60000, ' '), std::string(60000, 'a'), std::string(30000, '1'),
                                        std::string(20000, '\n') + std::string(20000, ' ') + "x", mixed};
  for (const char* pre : {"gpt2", "llama-bpe", "qwen2", "smollm"}) {
    auto t = byte_level(v, merges, pre);
    for (const auto& s : inputs) {
      const auto ids = t->encode(s, false, false);
      ASSERT_EQ(t->decode(ids), s) << pre;
      ASSERT_LT(ids.size(), s.size() + 1) << pre;
    }
  }
}

TEST(StreamDecoder, HoldsSplitCharactersUntilComplete) {
  ByteVocab v({});
  auto t = byte_level(v, {});
  StreamDecoder sd(*t);
  // "é" = C3 A9 and "😀" = F0 9F 98 80, one byte per token.
  EXPECT_EQ(sd.push('a'), "a");
  EXPECT_EQ(sd.push(0xC3), "");
  EXPECT_EQ(sd.push(0xA9), "\xC3\xA9");
  EXPECT_EQ(sd.push(0xF0), "");
  EXPECT_EQ(sd.push(0x9F), "");
  EXPECT_EQ(sd.push(0x98), "");
  EXPECT_EQ(sd.push(0x80), "\xF0\x9F\x98\x80");
  // A byte that can never start a character is replaced at once; a cut-short one when it is clear.
  EXPECT_EQ(sd.push(0xFF), "\xEF\xBF\xBD");
  EXPECT_EQ(sd.push(0xE4), "");
  EXPECT_EQ(sd.push('z'), "\xEF\xBF\xBDz");
  EXPECT_EQ(sd.push(0xE4), "");
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(sd.flush(), "");
}

TEST(StreamDecoder, EqualsWholeDecodeOnRandomBytes) {
  ByteVocab v({});
  auto t = byte_level(v, {});
  const uint64_t seed = 12345;
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> ids;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) {
      // Mostly bytes that form or break multi-byte characters.
      const uint64_t k = rng() % 4;
      ids.push_back(k == 0 ? static_cast<int32_t>(rng() % 256) : k == 1 ? 0x80 + static_cast<int32_t>(rng() % 64)
                                                               : k == 2 ? 0xE0 + static_cast<int32_t>(rng() % 21)
                                                                        : 'a');
    }
    StreamDecoder sd(*t);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = sd.push(id);
      EXPECT_TRUE(tok::is_valid_utf8(piece));
      streamed += piece;
    }
    streamed += sd.flush();
    ASSERT_EQ(streamed, t->decode(ids)) << "seed " << seed << " trial " << trial;
  }
}

// SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens, then scored pieces.
struct SpmVocab {
  std::vector<std::string> pieces{"<unk>", "<s>", "</s>"};
  std::vector<int64_t> types{2, 3, 3};
  std::vector<double> scores{0, 0, 0};
  SpmVocab(const std::vector<std::pair<std::string, double>>& extra) {
    for (int b = 0; b < 256; ++b) {
      pieces.push_back(fmt::format("<0x{:02X}>", b)), types.push_back(6), scores.push_back(0);
    }
    for (const auto& [p, s] : extra) pieces.push_back(p), types.push_back(1), scores.push_back(s);
  }
  int32_t id(const std::string& p) const {
    for (size_t i = 0; i < pieces.size(); ++i)
      if (pieces[i] == p) return static_cast<int32_t>(i);
    return -1;
  }
  std::unique_ptr<Tokenizer> make(bool add_space_prefix, const std::string& arch = "llama") const {
    MemModelFile f;
    f.set_string("general.architecture", arch);
    f.set_string("tokenizer.ggml.model", "llama");
    f.set_strings("tokenizer.ggml.tokens", pieces);
    f.set_ints("tokenizer.ggml.token_type", types);
    f.set_floats("tokenizer.ggml.scores", scores);
    f.set_int("tokenizer.ggml.bos_token_id", 1);
    f.set_int("tokenizer.ggml.eos_token_id", 2);
    f.set_int("tokenizer.ggml.unknown_token_id", 0);
    f.set_bool("tokenizer.ggml.add_space_prefix", add_space_prefix);
    return tokenizer_from_model_file(f);
  }
};

TEST(SentencePiece, ScoresDecideTheMergeOrder) {
  const std::string sp = "\xE2\x96\x81";  // ▁
  SpmVocab v({{sp, -1}, {"a", -2}, {"b", -3}, {"c", -4}, {"ab", -10}, {"bc", -5}, {sp + "a", -6}});
  auto t = v.make(false);
  // "bc" scores higher than "ab".
  EXPECT_EQ(t->encode("abc", false, false), (std::vector<int32_t>{v.id("a"), v.id("bc")}));
  SpmVocab w({{sp, -1}, {"a", -2}, {"b", -3}, {"c", -4}, {"ab", -5}, {"bc", -10}});
  EXPECT_EQ(w.make(false)->encode("abc", false, false), (std::vector<int32_t>{w.id("ab"), w.id("c")}));
  // Spaces are ▁; BOS is added by default for this model type.
  EXPECT_EQ(t->encode("a a", true, false), (std::vector<int32_t>{1, v.id("a"), v.id(sp + "a")}));
  EXPECT_EQ(t->decode(t->encode("a a", true, false), true), "a a");
}

TEST(SentencePiece, LongInputs) {
  const std::string sp = "\xE2\x96\x81";
  SpmVocab v({{sp, -1}, {"a", -2}, {"aa", -3}, {"aaaa", -4}, {sp + sp, -5}});
  auto t = v.make(false);
  std::string s(100000, 'a');
  s += std::string(1000, ' ') + "\xE4\xBD\xA0" + std::string(1000, 'a');
  const auto ids = t->encode(s, false, false);
  EXPECT_EQ(t->decode(ids), s);
  EXPECT_LE(ids.size(), s.size() / 4 + 1000);  // the a's merge into aaaa
}

TEST(SentencePiece, RandomBytesRoundTripRepaired) {
  const std::string sp = "\xE2\x96\x81";
  SpmVocab v({{sp, -1}, {"a", -2}, {"b", -3}, {"ab", -4}, {sp + "a", -5}});
  auto t = v.make(false);
  const uint64_t seed = 4242;
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 300; ++trial) {
    std::string s(rng() % 40, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 3 == 0 ? "ab "[rng() % 3] : rng() % 256);
    const auto ids = t->encode(s, false, true);
    ASSERT_EQ(t->decode(ids), tok::sanitize_utf8(s)) << "seed " << seed << " trial " << trial;
  }
}

TEST(SentencePiece, ByteFallbackAndSpacePrefix) {
  const std::string sp = "\xE2\x96\x81";
  SpmVocab v({{sp, -1}, {"a", -2}, {sp + "a", -3}});
  auto t = v.make(true);
  // "é" has no piece: its two UTF-8 bytes become <0xC3> <0xA9>.
  const auto ids = t->encode("a\xC3\xA9", false, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{v.id(sp + "a"), v.id("<0xC3>"), v.id("<0xA9>")}));
  EXPECT_EQ(t->decode(ids), "a\xC3\xA9");  // the prefix space is dropped again
  StreamDecoder sd(*t);
  EXPECT_EQ(sd.push(ids[0]), "a");
  EXPECT_EQ(sd.push(ids[1]), "");
  EXPECT_EQ(sd.push(ids[2]), "\xC3\xA9");
  // Control text is split out only with parse_special.
  EXPECT_EQ(t->encode("</s>", false, true), (std::vector<int32_t>{2}));
  EXPECT_NE(t->encode("</s>", false, false), (std::vector<int32_t>{2}));
}

TEST(SentencePiece, GemmaOrdersMergesByIdAndRespellsSpaceRuns) {
  const std::string sp = "\xE2\x96\x81";
  // Scores say "bc" first, but for Gemma the vocabulary order (ab before bc) rules.
  SpmVocab v({{sp, -1}, {"a", -2}, {"b", -3}, {"c", -4}, {"ab", -10}, {"bc", -5}, {"  ", -1000}});
  v.types.back() = 4;  // Gemma marks whitespace runs user-defined
  auto t = v.make(false, "gemma3");
  EXPECT_EQ(t->encode("abc", false, false), (std::vector<int32_t>{v.id("ab"), v.id("c")}));
  EXPECT_EQ(t->encode("a  b", false, false), (std::vector<int32_t>{v.id("a"), v.id("  "), v.id("b")}));
  EXPECT_EQ(t->decode(t->encode("a  b", false, false)), "a  b");
}

TEST(ChatTemplate, FamiliesFromMetadata) {
  MemModelFile f;
  f.set_string("general.architecture", "gemma3");
  EXPECT_EQ(chat_family(f), ChatFamily::Gemma);
  f.set_string("tokenizer.chat_template", "{{ '<|im_start|>' + message['role'] }}");
  EXPECT_EQ(chat_family(f), ChatFamily::ChatML);
  MemModelFile g;
  g.set_string("general.architecture", "bert");
  EXPECT_THROW(chat_family(g), Error);
  const std::vector<ChatMessage> msgs{{"system", "S"}, {"user", " hi "}};
  EXPECT_EQ(apply_chat_template(f, msgs, true), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n hi <|im_end|>\n"
                                                "<|im_start|>assistant\n");
  EXPECT_THROW(apply_chat_template(f, {{"tool", "x"}}, false), Error);
}

TEST(ChatTemplate, GemmaSystemSeparatorFromTheTemplate) {
  MemModelFile f;
  f.set_string("general.architecture", "gemma3");
  const std::vector<ChatMessage> msgs{{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(apply_chat_template(f, msgs, false), "<bos><start_of_turn>user\nS\n\nU<end_of_turn>\n");
  // A converted file whose template joins with a single newline (written as \n inside the literal).
  f.set_string("tokenizer.chat_template",
               "{%- set first_user_prefix = messages[0]['content'] + '\\n' -%}{{ '<start_of_turn>' + role }}");
  EXPECT_EQ(apply_chat_template(f, msgs, true),
            "<bos><start_of_turn>user\nS\nU<end_of_turn>\n<start_of_turn>model\n");
}

}  // namespace
}  // namespace eft

namespace eft {
namespace {

// NFC against Python's unicodedata (the source of the tables; the algorithm is what is checked):
// strings dense in combining marks, decomposable characters and Hangul jamo.
TEST(Nfc, MatchesReferenceNormalization) {
  std::ifstream in(std::string(EFT_FIXTURES_DIR) + "/tokenizer/nfc.json");
  ASSERT_TRUE(in.good());
  const auto fx = nlohmann::json::parse(in);
  size_t ok = 0, n = 0;
  for (const auto& c : fx.at("cases")) {
    ++n;
    const std::string got = tok::nfc(c.at("text").get<std::string>());
    if (got == c.at("nfc").get<std::string>()) {
      ++ok;
    } else if (n - ok <= 5) {
      ADD_FAILURE() << "nfc(" << c["text"].dump() << ") = " << nlohmann::json(got).dump() << ", want " << c["nfc"].dump();
    }
  }
  EXPECT_EQ(ok, n);
  EXPECT_EQ(tok::nfc("plain ASCII"), "plain ASCII");
  EXPECT_EQ(tok::nfc("e\xCC\x81"), "\xC3\xA9");                 // e + U+0301 -> é
  EXPECT_EQ(tok::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // jamo L V -> 가
}

}  // namespace
}  // namespace eft
