// tokenizer_from_hf_json: byte-level BPE tokenizers written by HF tokenizers (Llama 3, Qwen2,
// GPT-2 layouts). Every part of the file that would change the result and that eft does not
// implement is refused with its JSON path, rather than silently ignored.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eft/error.h"
#include "tokenizer/bpe.h"

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
    check(mtype == "BPE", "{}: model.type = '{}' is not supported (only byte-level BPE)", path, mtype);
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      check(!model.contains(key) || model[key].is_null() || model[key].get<std::string>().empty(),
            "{}: model.{} is set; byte-level BPE does not use one", path, key);
    }
    check(!model.contains("dropout") || model["dropout"].is_null(), "{}: model.dropout is set; eft encodes deterministically",
          path);
    bool nfc = false;
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      const json& nz = j["normalizer"];
      const std::string type = nz.value("type", "");
      const bool single_nfc = nz.is_object() && type == "Sequence" && nz.contains("normalizers") &&
                              nz["normalizers"].size() == 1 && nz["normalizers"][0].value("type", "") == "NFC";
      check(type == "NFC" || single_nfc, "{}: normalizer.type = '{}' is not supported (eft reads NFC or none)", path,
            type);
      nfc = true;
    }

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
      for (const char* name : {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>"}) {
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
    const bool byte_level = read_pre_tokenizer(cx, j.value("pre_tokenizer", json()), "pre_tokenizer", p.pre,
                                               p.add_prefix_space);
    check(byte_level, "{}: pre_tokenizer has no ByteLevel step; eft reads byte-level BPE tokenizer.json files only",
          path);
    auto tk = std::make_unique<tok::ByteLevelBpe>(std::move(p));
    for (auto [id, special] : added_ids) tk->mark_added_token(id, special);
    return tk;
  } catch (const json::exception& e) {
    fail("{}: unexpected structure: {}", path, e.what());
  }
}

}  // namespace eft
