// tokenizer_from_hf_json: BPE tokenizers written by HF tokenizers: byte-level (Llama 3, Qwen2,
// GPT-2 layouts) and SentencePiece-style with byte fallback (Llama 2, Mistral, Gemma layouts). Every part of the file that would change the result and that eft does not
// implement is refused with its JSON path, rather than silently ignored.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "eft/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"

namespace eft {
namespace {

using nlohmann::json;

struct Ctx {
  std::string file;
};

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Appends the regex steps of a pre_tokenizer node; returns whether a ByteLevel step was seen.
bool read_pre_tokenizer(const Ctx& cx, const json& node, const std::string& path, tok::PreTokenizer& pre,
                        bool& add_prefix_space) {
  if (node.is_null()) return false;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    bool byte_level = false;
    const auto& items = node.at("pretokenizers");
    for (size_t i = 0; i < items.size(); ++i)
      byte_level |= read_pre_tokenizer(cx, items[i], fmt::format("{}.pretokenizers[{}]", path, i), pre, add_prefix_space);
    return byte_level;
  }
  if (type == "ByteLevel") {
    if (node.value("use_regex", true)) pre.add(tok::kGpt2Pattern);
    add_prefix_space = node.value("add_prefix_space", false);
    return true;
  }
  if (type == "Split") {
    const std::string behavior = node.value("behavior", "");
    check(behavior == "Isolated", "{}: {}.behavior = '{}' is not supported (only Isolated)", cx.file, path, behavior);
    check(!node.value("invert", false), "{}: {}.invert = true is not supported", cx.file, path);
    const json& pat = node.at("pattern");
    std::string regex;
    if (pat.contains("Regex")) {
      regex = pat.at("Regex").get<std::string>();
    } else if (pat.contains("String")) {
      regex = regex_escape(pat.at("String").get<std::string>());
    } else {
      fail("{}: {}.pattern is neither {{\"Regex\": ...}} nor {{\"String\": ...}}", cx.file, path);
    }
    try {
      pre.add(regex);
    } catch (const Error& e) {
      fail("{}: {}.pattern: {}", cx.file, path, e.what());
    }
    return false;
  }
  if (type == "Digits") {
    pre.add(node.value("individual_digits", false) ? tok::kDigitPattern : "\\p{N}+");
    return false;
  }
  fail("{}: {}.type = '{}' is not a pre-tokenizer eft supports (Sequence, ByteLevel, Split, Digits)", cx.file, path,
       type);
}

// BOS / EOS added by the post-processor (TemplateProcessing, possibly inside a Sequence).
void read_post_processor(const Ctx& cx, const json& node, const std::string& path,
                         const std::unordered_map<std::string, int32_t>& ids, tok::VocabParams& v) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    const auto& items = node.at("processors");
    for (size_t i = 0; i < items.size(); ++i)
      read_post_processor(cx, items[i], fmt::format("{}.processors[{}]", path, i), ids, v);
    return;
  }
  if (type == "ByteLevel") return;  // offsets only
  if (type == "TemplateProcessing") {
    bool seen_a = false;
    const auto& single = node.at("single");
    for (size_t i = 0; i < single.size(); ++i) {
      const json& item = single[i];
      if (item.contains("Sequence")) {
        seen_a = true;
        continue;
      }
      check(item.contains("SpecialToken"), "{}: {}.single[{}] is neither a Sequence nor a SpecialToken", cx.file, path,
            i);
      const std::string name = item["SpecialToken"].at("id").get<std::string>();
      auto it = ids.find(name);
      int32_t id = it != ids.end() ? it->second : -1;
      if (node.contains("special_tokens") && node["special_tokens"].contains(name)) {
        const auto& sid = node["special_tokens"][name].at("ids");
        check(sid.size() == 1, "{}: {}.special_tokens['{}'] has {} ids; only one is supported", cx.file, path, name,
              sid.size());
        id = sid[0].get<int32_t>();
      }
      check(id >= 0, "{}: {}.single[{}] names token '{}', which is not in the vocabulary", cx.file, path, i, name);
      if (!seen_a) {
        v.bos = id, v.add_bos = true;
      } else {
        v.eos = id, v.add_eos = true;
      }
    }
    return;
  }
  fail("{}: {}.type = '{}' is not a post-processor eft supports (TemplateProcessing, ByteLevel, Sequence)", cx.file,
       path, type);
}

bool has_type(const json& node, const std::string& type) {
  if (!node.is_object()) return false;
  if (node.value("type", "") == type) return true;
  for (const char* key : {"pretokenizers", "normalizers", "decoders", "processors"}) {
    if (node.contains(key))
      for (const auto& c : node[key])
        if (has_type(c, type)) return true;
  }
  return false;
}

void read_normalizer(const Ctx& cx, const json& node, const std::string& path, bool& nfc, bool& replace_spaces,
                     bool& prepend) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    const auto& items = node.at("normalizers");
    for (size_t i = 0; i < items.size(); ++i)
      read_normalizer(cx, items[i], fmt::format("{}.normalizers[{}]", path, i), nfc, replace_spaces, prepend);
    return;
  }
  if (type == "NFC") {
    nfc = true;
    return;
  }
  if (type == "Replace") {
    const json& pat = node.at("pattern");
    const bool space = pat.contains("String") && pat["String"] == " ";
    check(space && node.value("content", "") == std::string(tok::kSpaceMark),
          "{}: {} replaces {} with '{}'; eft supports only \" \" -> \"\u2581\"", cx.file, path, pat.dump(),
          node.value("content", ""));
    replace_spaces = true;
    return;
  }
  if (type == "Prepend") {
    check(node.value("prepend", "") == std::string(tok::kSpaceMark), "{}: {}.prepend = '{}'; eft supports only \"\u2581\"",
          cx.file, path, node.value("prepend", ""));
    prepend = true;
    return;
  }
  fail("{}: {}.type = '{}' is not a normalizer eft supports (NFC, Replace \" \"->\"\u2581\", Prepend \"\u2581\", Sequence)",
       cx.file, path, type);
}

// SentencePiece-style BPE (Llama 2, Mistral, Gemma tokenizer.json): spaces become "▁" through a
// normalizer or a Metaspace pre-tokenizer; byte fallback; the decoder may strip the prefix space.
std::unique_ptr<Tokenizer> sentencepiece_style(const Ctx& cx, const json& j, tok::VocabParams vocab,
                                               std::vector<std::pair<std::string, std::string>> merges,
                                               bool ignore_merges, bool nfc, bool replace_spaces, bool prepend,
                                               const std::vector<std::pair<int32_t, bool>>& added_ids) {
  tok::SpmParams p;
  p.vocab = std::move(vocab);
  p.merges = std::move(merges);
  p.ignore_merges = ignore_merges;
  p.nfc = nfc;
  p.byte_fallback = j.at("model").value("byte_fallback", false);
  const json& model = j.at("model");
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"];
    for (size_t i = 0; i < p.vocab.pieces.size(); ++i)
      if (p.vocab.pieces[i] == unk) p.vocab.unk = static_cast<int32_t>(i);
  }
  if (prepend) p.prefix = tok::SpacePrefix::Prepend;
  // With byte fallback, HF looks byte tokens up by their spelling "<0xXX>".
  if (p.byte_fallback) {
    for (size_t i = 0; i < p.vocab.pieces.size(); ++i) {
      const std::string& s = p.vocab.pieces[i];
      if (p.vocab.types[i] == tok::TokenType::Normal && s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' &&
          std::isxdigit(static_cast<unsigned char>(s[3])) && std::isxdigit(static_cast<unsigned char>(s[4])))
        p.vocab.types[i] = tok::TokenType::Byte;
    }
  }
  const json pre = j.value("pre_tokenizer", json());
  const auto read_pre = [&](const json& node, const std::string& path) {
    const std::string type = node.value("type", "");
    if (type == "Metaspace") {
      check(node.value("replacement", "") == std::string(tok::kSpaceMark), "{}: {}.replacement is not \"\u2581\"",
            cx.file, path);
      replace_spaces = true;
      p.split_words = node.value("split", true);
      std::string scheme = node.value("prepend_scheme", "");
      if (scheme.empty()) scheme = node.value("add_prefix_space", true) ? "always" : "never";
      check(scheme == "first" || scheme == "always" || scheme == "never", "{}: {}.prepend_scheme = '{}' is unknown",
            cx.file, path, scheme);
      if (scheme != "never") p.prefix = scheme == "first" ? tok::SpacePrefix::First : tok::SpacePrefix::Always;
      return;
    }
    if (type == "Split") {
      // Gemma's Split(" ", MergedWithPrevious) runs after its normalizer has turned every space into "▁",
      // so it never finds one.
      const json& pat = node.at("pattern");
      check(replace_spaces && pat.contains("String") && pat["String"] == " ",
            "{}: {} is not supported in a SentencePiece-style tokenizer (only a Split on \" \" after spaces became "
            "\"\u2581\")",
            cx.file, path);
      return;
    }
    fail("{}: {}.type = '{}' is not supported in a SentencePiece-style tokenizer (Metaspace, Split)", cx.file, path,
         type);
  };
  if (pre.is_object()) {
    if (pre.value("type", "") == "Sequence") {
      for (size_t i = 0; i < pre["pretokenizers"].size(); ++i)
        read_pre(pre["pretokenizers"][i], fmt::format("pre_tokenizer.pretokenizers[{}]", i));
    } else {
      read_pre(pre, "pre_tokenizer");
    }
  }
  check(replace_spaces, "{}: neither a ByteLevel pre-tokenizer nor \"\u2581\" spaces (Metaspace or a Replace "
        "normalizer): not a tokenizer eft can read", cx.file);
  // Decoder: a Strip of one leading space, or a Metaspace decoder that adds a prefix, removes it again.
  const json dec = j.value("decoder", json());
  const std::function<bool(const json&)> strips = [&](const json& d) {
    if (!d.is_object()) return false;
    const std::string type = d.value("type", "");
    if (type == "Strip") return d.value("content", "") == " " && d.value("start", 0) > 0;
    if (type == "Metaspace") {
      const std::string scheme = d.value("prepend_scheme", d.value("add_prefix_space", true) ? "always" : "never");
      return scheme != "never";
    }
    if (type == "Sequence")
      for (const auto& c : d.at("decoders"))
        if (strips(c)) return true;
    return false;
  };
  p.strip_leading_space = strips(dec);
  auto tk = std::make_unique<tok::SentencePieceBpe>(std::move(p));
  for (auto [id, special] : added_ids) tk->mark_added_token(id, special);
  return tk;
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_hf_json(const std::string& path) {
  const Ctx cx{path};
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "{}: cannot open", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  try {
    const json& model = j.at("model");
    const std::string mtype = model.value("type", "BPE");
    check(mtype == "BPE", "{}: model.type = '{}' is not supported (only BPE)", path, mtype);
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      check(!model.contains(key) || model[key].is_null() || model[key].get<std::string>().empty(),
            "{}: model.{} is set; eft reads BPE without subword prefixes or suffixes", path, key);
    }
    check(!model.contains("dropout") || model["dropout"].is_null(), "{}: model.dropout is set; eft encodes deterministically",
          path);
    // Normalizers: NFC (Qwen2), and SentencePiece's space handling (Replace " " -> "▁", Prepend "▁").
    bool nfc = false, replace_spaces = false, prepend = false;
    read_normalizer(cx, j.value("normalizer", json()), "normalizer", nfc, replace_spaces, prepend);

    // Vocabulary: model.vocab plus added_tokens (which may extend it).
    std::unordered_map<std::string, int32_t> ids;
    int32_t n = 0;
    for (const auto& [piece, id] : model.at("vocab").items()) {
      const int32_t i = id.get<int32_t>();
      check(i >= 0, "{}: model.vocab['{}'] = {} is negative", path, piece, i);
      ids[piece] = i;
      n = std::max(n, i + 1);
    }
    const json added = j.value("added_tokens", json::array());
    for (const auto& a : added) n = std::max(n, a.at("id").get<int32_t>() + 1);
    // Ids must be dense, so there cannot be more of them than entries (checked before allocating).
    check(static_cast<size_t>(n) <= ids.size() + added.size(),
          "{}: token ids go up to {} but there are only {} vocabulary entries and {} added tokens", path, n - 1,
          ids.size(), added.size());
    tok::VocabParams v;
    v.source = path;
    v.pieces.assign(n, std::string());
    v.types.assign(n, tok::TokenType::Undefined);
    for (const auto& [piece, id] : ids) v.pieces[id] = piece, v.types[id] = tok::TokenType::Normal;
    std::vector<std::pair<int32_t, bool>> added_ids;
    for (size_t i = 0; i < added.size(); ++i) {
      const auto& a = added[i];
      const int32_t id = a.at("id").get<int32_t>();
      check(id >= 0, "{}: added_tokens[{}].id = {} is negative", path, i, id);
      const bool special = a.value("special", false);
      for (const char* flag : {"lstrip", "rstrip", "single_word"})
        check(!a.value(flag, false), "{}: added_tokens[{}].{} = true is not supported", path, i, flag);
      v.pieces[id] = a.at("content").get<std::string>();
      v.types[id] = special ? tok::TokenType::Control : tok::TokenType::UserDefined;
      ids[v.pieces[id]] = id;
      added_ids.emplace_back(id, special);
    }
    for (int32_t id = 0; id < n; ++id)
      check(v.types[id] != tok::TokenType::Undefined, "{}: no token has id {} (ids must be dense below {})", path, id, n);

    tok::BpeParams p;
    read_post_processor(cx, j.value("post_processor", json()), "post_processor", ids, v);
    // EOS: the tokenizer_config.json beside the file names it; otherwise a known end marker.
    const auto cfg_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(cfg_path)) {
      std::ifstream cin(cfg_path);
      const json cfg = json::parse(cin, nullptr, false);
      const auto name_of = [&](const char* key) -> std::string {
        if (!cfg.is_object() || !cfg.contains(key) || cfg[key].is_null()) return {};
        return cfg[key].is_string() ? cfg[key].get<std::string>() : cfg[key].value("content", "");
      };
      for (auto [key, dst] : {std::pair{"eos_token", &v.eos}, std::pair{"bos_token", &v.bos}}) {
        auto it = ids.find(name_of(key));
        if (it != ids.end() && *dst < 0) *dst = it->second;
      }
      if (cfg.is_object() && cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
        v.add_bos = cfg["add_bos_token"].get<bool>() && v.bos >= 0;
    }
    if (v.eos < 0) {
      for (const char* name : {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", "<|im_end|>"}) {
        auto it = ids.find(name);
        if (it != ids.end()) {
          v.eos = it->second;
          break;
        }
      }
    }
    v.extra_stops = tok::known_stop_tokens(v.pieces, v.eos);
    p.vocab = std::move(v);

    const json& merges = model.value("merges", json::array());
    p.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      if (m.is_string()) {  // "a b"
        const std::string s = m.get<std::string>();
        const auto sp = s.find(' ', 1);
        check(sp != std::string::npos, "{}: model.merges[{}] = '{}' has no separating space", path, i, s);
        p.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {  // ["a", "b"]
        check(m.is_array() && m.size() == 2, "{}: model.merges[{}] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
        p.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      }
    }
    p.ignore_merges = model.value("ignore_merges", false);
    p.nfc = nfc;
    const json pre_node = j.value("pre_tokenizer", json());
    if (!has_type(pre_node, "ByteLevel")) {
      return sentencepiece_style(cx, j, std::move(p.vocab), std::move(p.merges), p.ignore_merges, nfc, replace_spaces,
                                 prepend, added_ids);
    }
    check(!replace_spaces && !prepend, "{}: normalizer rewrites spaces, which a ByteLevel tokenizer does not expect",
          path);
    read_pre_tokenizer(cx, pre_node, "pre_tokenizer", p.pre, p.add_prefix_space);
    auto tk = std::make_unique<tok::ByteLevelBpe>(std::move(p));
    for (auto [id, special] : added_ids) tk->mark_added_token(id, special);
    return tk;
  } catch (const json::exception& e) {
    fail("{}: unexpected structure: {}", path, e.what());
  }
}

}  // namespace eft
