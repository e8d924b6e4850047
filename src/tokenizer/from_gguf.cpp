// tokenizer_from_model_file: the tokenizer a GGUF describes in its tokenizer.ggml.* metadata.
#include <algorithm>

#include "eft/error.h"
#include "eft/model_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/meta.h"
#include "tokenizer/spm.h"

namespace eft {
namespace {

using tok::TokenType;

tok::VocabParams vocab_from_gguf(const tok::Meta& m, bool default_add_bos) {
  tok::VocabParams v;
  v.source = m.file;
  v.pieces = m.strings("tokenizer.ggml.tokens");
  const auto n = static_cast<int64_t>(v.pieces.size());
  if (m.has("tokenizer.ggml.token_type")) {
    const auto types = m.ints("tokenizer.ggml.token_type");
    check(static_cast<int64_t>(types.size()) == n, "{}: tokenizer.ggml.token_type has {} entries for {} tokens",
          m.file, types.size(), n);
    v.types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      check(types[i] >= 0 && types[i] <= 6, "{}: tokenizer.ggml.token_type[{}] = {} is not a token type (0..6)",
            m.file, i, types[i]);
      v.types.push_back(static_cast<TokenType>(types[i]));
    }
  } else {
    v.types.assign(v.pieces.size(), TokenType::Normal);
  }
  const auto id = [&](const char* key) -> int32_t {
    if (!m.has(key)) return -1;
    const int64_t x = m.integer(key);
    check(x >= 0 && x < n, "{}: {} = {} is outside the vocabulary of {} tokens", m.file, key, x, n);
    return static_cast<int32_t>(x);
  };
  v.bos = id("tokenizer.ggml.bos_token_id");
  v.eos = id("tokenizer.ggml.eos_token_id");
  v.unk = id("tokenizer.ggml.unknown_token_id");
  v.add_bos = m.boolean_or("tokenizer.ggml.add_bos_token", default_add_bos) && v.bos >= 0;
  v.add_eos = m.boolean_or("tokenizer.ggml.add_eos_token", false) && v.eos >= 0;
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    const int32_t x = id(key);
    if (x >= 0) v.extra_stops.push_back(x);
  }
  for (int32_t x : tok::known_stop_tokens(v.pieces, v.eos)) v.extra_stops.push_back(x);
  return v;
}

std::unique_ptr<Tokenizer> byte_level_from_gguf(const tok::Meta& m) {
  tok::BpeParams p;
  // HF's GPT2Tokenizer, which the reference builds for these files, adds no BOS unless told to.
  p.vocab = vocab_from_gguf(m, false);
  const auto merges = m.strings("tokenizer.ggml.merges");
  p.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    // "a b": the separating space is never inside a byte-level piece (a space is spelled "Ġ").
    const auto sp = merges[i].find(' ', 1);
    check(sp != std::string::npos && sp + 1 < merges[i].size(),
          "{}: tokenizer.ggml.merges[{}] = '{}' is not two pieces separated by a space", m.file, i, merges[i]);
    p.merges.emplace_back(merges[i].substr(0, sp), merges[i].substr(sp + 1));
  }
  const std::string pre = m.string_or("tokenizer.ggml.pre", "default");
  p.pre = tok::pre_tokenizer_for_gguf(pre, m.file);
  p.ignore_merges = tok::gguf_pre_ignores_merges(pre);
  p.nfc = tok::gguf_pre_normalizes_nfc(pre);
  std::vector<std::pair<int32_t, bool>> added;
  for (size_t id = 0; id < p.vocab.pieces.size(); ++id) {
    const TokenType t = p.vocab.types[id];
    // A control token spelled outside the byte alphabet cannot be a real byte-level token (a
    // converter mislabel); the reference leaves it out, and so do we.
    if ((t == TokenType::Control || t == TokenType::UserDefined) && tok::is_byte_level_spelling(p.vocab.pieces[id]))
      added.emplace_back(static_cast<int32_t>(id), t == TokenType::Control);
  }
  auto tk = std::make_unique<tok::ByteLevelBpe>(std::move(p));
  for (auto [id, special] : added) tk->mark_added_token(id, special);
  return tk;
}

std::unique_ptr<Tokenizer> sentencepiece_from_gguf(const tok::Meta& m, const std::string& arch) {
  tok::SpmParams p;
  // llama.cpp and the HF conversion both add BOS to a SentencePiece vocabulary that does not say.
  p.vocab = vocab_from_gguf(m, true);
  const bool add_space_prefix = m.boolean_or("tokenizer.ggml.add_space_prefix", true);
  p.prefix = add_space_prefix ? tok::SpacePrefix::First : tok::SpacePrefix::None;
  p.strip_leading_space = add_space_prefix;
  p.priority_by_id = arch.rfind("gemma", 0) == 0;
  p.respell_space_runs = p.priority_by_id;
  if (!p.priority_by_id) {
    const auto scores = m.floats("tokenizer.ggml.scores");
    p.scores.assign(scores.begin(), scores.end());
  }
  std::vector<std::pair<int32_t, bool>> added;
  for (size_t id = 0; id < p.vocab.pieces.size(); ++id) {
    const TokenType t = p.vocab.types[id];
    if (t == TokenType::Control || t == TokenType::UserDefined)
      added.emplace_back(static_cast<int32_t>(id), t == TokenType::Control);
  }
  auto tk = std::make_unique<tok::SentencePieceBpe>(std::move(p));
  // A whitespace-run piece was turned into an ordinary one by the constructor: not cut out of text.
  for (auto [id, special] : added)
    if (tk->type(id) != TokenType::Normal) tk->mark_added_token(id, special);
  return tk;
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_model_file(const ModelFile& f) {
  const tok::Meta m(f);
  const std::string model = m.string("tokenizer.ggml.model");
  const std::string arch = m.string_or("general.architecture", "");
  if (model == "gpt2") return byte_level_from_gguf(m);
  if (model == "llama") return sentencepiece_from_gguf(m, arch);
  fail("{}: tokenizer.ggml.model = '{}' is not supported (eft reads 'gpt2' byte-level BPE and 'llama' "
       "SentencePiece BPE)",
       m.file, model);
}

}  // namespace eft
