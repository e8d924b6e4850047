// Encodings of the real models' tokenizers (and of small tokenizer.json files) against the HF
// tokenizers reference: tests/fixtures/tokenizer/*.json, made by tools/gen_tokenizer_golden.py.
// Every string must encode to exactly the reference ids, and decode to the reference text.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <nlohmann/json.hpp>

#include "eft/model_file.h"
#include "eft/tokenizer.h"
#include "mem_model_file.h"

namespace eft {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kFixtures = std::string(EFT_FIXTURES_DIR) + "/tokenizer/";

json load(const std::string& name) {
  std::ifstream in(kFixtures + name);
  EXPECT_TRUE(in.good()) << "missing fixture " << kFixtures + name;
  return json::parse(in);
}

std::string model_cache() {
  if (const char* c = std::getenv("EFT_CACHE")) return c;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/eft";
}

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// Every mismatch counts; the first 10 of each kind are shown in detail.
void check_cases(const Tokenizer& t, const json& fx, const std::string& name) {
  size_t total = 0, enc_ok = 0, dec_ok = 0, special_ok = 0, specials = 0, round_trips = 0;
  for (const auto& c : fx.at("cases")) {
    ++total;
    const std::string text = c.contains("text") ? c["text"].get<std::string>() : from_hex(c["bytes_hex"]);
    const auto want = c.at("ids").get<std::vector<int32_t>>();
    const auto got = t.encode(text, false, true);
    if (got == want) {
      ++enc_ok;
    } else if (total - enc_ok <= 10) {
      ADD_FAILURE() << name << ": encode(" << json(c.contains("text") ? c["text"] : c["bytes_hex"]).dump()
                    << ")\n  got  " << show(got) << "\n  want " << show(want);
    }
    const std::string dec = t.decode(want, false);
    // Where the reference round-trips, so must we (decode(encode(s)) == s).
    if (c.contains("text") && c["decoded"].get<std::string>() == text) {
      ++round_trips;
      EXPECT_EQ(t.decode(got, false), text) << name << ": round trip";
    }
    if (dec == c.at("decoded").get<std::string>()) {
      ++dec_ok;
    } else if (total - dec_ok <= 10) {
      ADD_FAILURE() << name << ": decode of " << show(want) << " = " << json(dec).dump() << ", want "
                    << c["decoded"].dump();
    }
    if (c.contains("decoded_skip")) {
      EXPECT_EQ(t.decode(want, true), c["decoded_skip"].get<std::string>()) << name << ": skip_special " << show(want);
    }
    const auto want_sp = c.contains("ids_special") ? c["ids_special"].get<std::vector<int32_t>>() : want;
    ++specials;
    if (t.encode(text, true, true) == want_sp) ++special_ok;
    // Streaming gives the same text as a whole decode.
    StreamDecoder sd(t);
    std::string streamed;
    for (int32_t id : want) streamed += sd.push(id);
    streamed += sd.flush();
    EXPECT_EQ(streamed, dec) << name << ": stream decode of " << show(want);
  }
  std::printf("[%s] %zu strings: encode %zu/%zu identical, decode %zu/%zu, with BOS/EOS %zu/%zu; %zu round-trip\n",
              name.c_str(), total, enc_ok, total, dec_ok, total, special_ok, specials, round_trips);
  EXPECT_EQ(enc_ok, total) << name;
  EXPECT_EQ(dec_ok, total) << name;
  EXPECT_EQ(special_ok, specials) << name;
}

void gguf_golden(const std::string& fixture) {
  const json fx = load(fixture);
  const std::string path = model_cache() + "/" + fx.at("model").get<std::string>();
  if (!fs::exists(path)) GTEST_SKIP() << path << " is not cached; run tools/fetch_models.sh all";
  auto f = open_model_file(path);
  auto t = tokenizer_from_model_file(*f);
  check_cases(*t, fx, fixture);
}

TEST(Golden, SmolLM2) { gguf_golden("smollm2.json"); }
TEST(Golden, Gemma3) { gguf_golden("gemma3.json"); }

// A Llama-2-style SentencePiece vocabulary (scores decide, space prefix) cut from Gemma 3's; the
// fixture carries its metadata.
TEST(Golden, SentencePieceLlamaStyle) {
  const json fx = load("spm_llama.json");
  test::MemModelFile f;
  for (const auto& [key, v] : fx.at("meta").items()) {
    if (v.is_string()) {
      f.set_string(key, v);
    } else if (v.is_boolean()) {
      f.set_bool(key, v);
    } else if (v.is_number_integer()) {
      f.set_int(key, v);
    } else if (key == "tokenizer.ggml.tokens") {
      f.set_strings(key, v);
    } else if (key == "tokenizer.ggml.token_type") {
      f.set_ints(key, v);
    } else {
      f.set_floats(key, v);
    }
  }
  auto t = tokenizer_from_model_file(f);
  check_cases(*t, fx, "spm_llama.json");
}

// The real files: stop tokens, chat family and template from their own metadata, and encoding
// from several threads at once (the word cache is shared) equal to encoding alone.
TEST(RealModels, StopTokensChatAndThreads) {
  for (const std::string name : {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"}) {
    const std::string path = model_cache() + "/" + name;
    if (!fs::exists(path)) GTEST_SKIP() << path << " is not cached; run tools/fetch_models.sh all";
    auto f = open_model_file(path);
    auto t = tokenizer_from_model_file(*f);
    const bool gemma = name.find("gemma") != std::string::npos;
    const auto stops = t->stop_tokens();
    const auto has_stop = [&](const char* piece) {
      for (int32_t id : stops)
        if (t->token_text(id) == piece) return true;
      return false;
    };
    EXPECT_TRUE(has_stop(gemma ? "<eos>" : "<|im_end|>")) << name;
    EXPECT_TRUE(has_stop(gemma ? "<end_of_turn>" : "<|endoftext|>")) << name;
    EXPECT_EQ(chat_family(*f), gemma ? ChatFamily::Gemma : ChatFamily::ChatML);
    const json chat = load(gemma ? "gemma3_chat.json" : "smollm2_chat.json");
    for (const auto& c : chat.at("cases")) {
      std::vector<ChatMessage> msgs;
      for (const auto& m : c.at("messages")) msgs.push_back({m.at("role"), m.at("content")});
      const std::string text = apply_chat_template(*f, msgs, c.at("add_generation_prompt").get<bool>());
      EXPECT_EQ(text, c.at("text").get<std::string>()) << name;
      // The rendered prompt tokenizes with its markers as single special tokens.
      const auto ids = t->encode(text, false, true);
      const int32_t turn = t->find_token(gemma ? "<start_of_turn>" : "<|im_start|>");
      ASSERT_GE(turn, 0);
      EXPECT_NE(std::find(ids.begin(), ids.end(), turn), ids.end());
    }
    const json fx = load(gemma ? "gemma3.json" : "smollm2.json");
    std::vector<std::string> texts;
    for (const auto& c : fx.at("cases"))
      if (c.contains("text")) texts.push_back(c["text"]);
    std::vector<std::vector<int32_t>> alone;
    for (const auto& s : texts) alone.push_back(t->encode(s, false, true));
    std::vector<std::thread> pool;
    std::vector<int> bad(4, 0);
    for (int k = 0; k < 4; ++k) {
      pool.emplace_back([&, k] {
        for (size_t i = k; i < texts.size(); i += 2)
          if (t->encode(texts[i], false, true) != alone[i]) ++bad[k];
      });
    }
    for (auto& th : pool) th.join();
    for (int k = 0; k < 4; ++k) EXPECT_EQ(bad[k], 0) << name << " thread " << k;
  }
}

void hf_golden(const std::string& fixture) {
  const json fx = load(fixture);
  auto t = tokenizer_from_hf_json(kFixtures + fx.at("tokenizer_json").get<std::string>());
  check_cases(*t, fx, fixture);
}

TEST(Golden, HfJsonLlama3) { hf_golden("hf_llama3.json"); }
TEST(Golden, HfJsonQwen2) { hf_golden("hf_qwen2.json"); }
TEST(Golden, HfJsonGpt2) { hf_golden("hf_gpt2.json"); }
TEST(Golden, HfJsonTekken) { hf_golden("hf_tekken.json"); }
TEST(Golden, HfJsonGpt4o) { hf_golden("hf_gpt4o.json"); }
// SentencePiece-style tokenizer.json layouts (byte fallback, "▁" spaces).
TEST(Golden, HfJsonSpmLlamaMetaspace) { hf_golden("hf_spm_llama.json"); }
TEST(Golden, HfJsonSpmLlamaLegacyNormalizer) { hf_golden("hf_spm_legacy.json"); }
TEST(Golden, HfJsonSpmMetaspaceSplitAlways) { hf_golden("hf_spm_split.json"); }
TEST(Golden, HfJsonSpmGemma) { hf_golden("hf_spm_gemma.json"); }

// The same trained vocabularies read as GGUF metadata with the matching tokenizer.ggml.pre name.
void gguf_pre_golden(const std::string& fixture, const std::string& pre) {
  const json fx = load(fixture);
  std::ifstream in(kFixtures + fx.at("tokenizer_json").get<std::string>());
  const json tj = json::parse(in);
  std::vector<std::string> pieces;
  std::vector<int64_t> types;
  for (const auto& [piece, id] : tj["model"]["vocab"].items()) {
    const auto i = id.get<size_t>();
    if (pieces.size() <= i) pieces.resize(i + 1), types.resize(i + 1, 1);
    pieces[i] = piece;
  }
  for (const auto& a : tj["added_tokens"]) {
    const auto i = a["id"].get<size_t>();
    if (pieces.size() <= i) pieces.resize(i + 1), types.resize(i + 1, 1);
    pieces[i] = a["content"];
    types[i] = a["special"].get<bool>() ? 3 : 4;
  }
  std::vector<std::string> merges;
  for (const auto& m : tj["model"]["merges"])
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  test::MemModelFile f;
  f.set_string("tokenizer.ggml.model", "gpt2");
  f.set_string("tokenizer.ggml.pre", pre);
  f.set_strings("tokenizer.ggml.tokens", pieces);
  f.set_ints("tokenizer.ggml.token_type", types);
  f.set_strings("tokenizer.ggml.merges", merges);
  auto t = tokenizer_from_model_file(f);
  // BOS is the tokenizer.json post-processor's business; compare the plain encodings only.
  size_t ok = 0, total = 0;
  for (const auto& c : fx.at("cases")) {
    ++total;
    const std::string text = c.contains("text") ? c["text"].get<std::string>() : from_hex(c["bytes_hex"]);
    if (t->encode(text, false, true) == c.at("ids").get<std::vector<int32_t>>()) ++ok;
  }
  std::printf("[%s as GGUF pre=%s] encode %zu/%zu identical\n", fixture.c_str(), pre.c_str(), ok, total);
  EXPECT_EQ(ok, total);
}

// "llama-bpe" brings Llama 3's ignore_merges with it, as the Llama 3 tokenizer.json has it.
TEST(Golden, GgufPreLlama3) { gguf_pre_golden("hf_llama3.json", "llama-bpe"); }
TEST(Golden, GgufPreQwen2) { gguf_pre_golden("hf_qwen2.json", "qwen2"); }
TEST(Golden, GgufPreGpt2) { gguf_pre_golden("hf_gpt2.json", "gpt2"); }
TEST(Golden, GgufPreTekken) { gguf_pre_golden("hf_tekken.json", "tekken"); }
TEST(Golden, GgufPreGpt4o) { gguf_pre_golden("hf_gpt4o.json", "gpt-4o"); }

void chat_golden(const std::string& fixture, const std::function<void(test::MemModelFile&, const json&)>& setup) {
  const json fx = load(fixture);
  test::MemModelFile f;
  setup(f, fx);
  for (const auto& c : fx.at("cases")) {
    std::vector<ChatMessage> msgs;
    for (const auto& m : c.at("messages")) msgs.push_back({m.at("role"), m.at("content")});
    EXPECT_EQ(apply_chat_template(f, msgs, c.at("add_generation_prompt").get<bool>()), c.at("text").get<std::string>())
        << fixture << ": " << c["messages"].dump();
  }
}

TEST(ChatGolden, SmolLM2FromItsOwnTemplate) {
  chat_golden("smollm2_chat.json", [](test::MemModelFile& f, const json& fx) {
    f.set_string("general.architecture", "llama");
    f.set_string("tokenizer.chat_template", fx.at("template"));
  });
}

TEST(ChatGolden, Qwen2) {
  chat_golden("qwen2_chat.json", [](test::MemModelFile& f, const json& fx) {
    f.set_string("general.architecture", "qwen2");
    f.set_string("tokenizer.chat_template", fx.at("template"));
  });
}

TEST(ChatGolden, Gemma3WithoutTemplateInTheFile) {
  chat_golden("gemma3_chat.json", [](test::MemModelFile& f, const json&) {
    f.set_string("general.architecture", "gemma3");
    f.set_strings("tokenizer.ggml.tokens", {"<pad>", "<eos>", "<bos>"});
    f.set_int("tokenizer.ggml.bos_token_id", 2);
  });
}

TEST(ChatGolden, Llama3) {
  chat_golden("llama3_chat.json", [](test::MemModelFile& f, const json& fx) {
    f.set_string("general.architecture", "llama");
    f.set_string("tokenizer.chat_template", fx.at("template"));
    f.set_strings("tokenizer.ggml.tokens", {"<|begin_of_text|>"});
    f.set_int("tokenizer.ggml.bos_token_id", 0);
  });
}

TEST(ChatGolden, Llama31DatedSystemTurn) {
  chat_golden("llama31_chat.json", [](test::MemModelFile& f, const json& fx) {
    f.set_string("general.architecture", "llama");
    f.set_string("tokenizer.chat_template", fx.at("template"));
    f.set_strings("tokenizer.ggml.tokens", {"<|begin_of_text|>"});
    f.set_int("tokenizer.ggml.bos_token_id", 0);
  });
}

}  // namespace
}  // namespace eft
