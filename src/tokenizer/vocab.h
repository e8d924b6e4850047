#pragma once
// What every vocabulary-based tokenizer shares: pieces and their types, added/special tokens cut
// out before the model's algorithm, BOS/EOS rules, stop tokens, and decode by concatenating each
// token's bytes.
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eft/tokenizer.h"
#include "tokenizer/added_tokens.h"

namespace eft::tok {

// GGUF tokenizer.ggml.token_type values (llama.cpp's numbering).
enum class TokenType : int8_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct VocabParams {
  std::string source;               // file name, for error messages
  std::vector<std::string> pieces;  // id -> text as the file spells it
  std::vector<TokenType> types;     // id -> type (same size as pieces)
  int32_t bos = -1, eos = -1, unk = -1;
  bool add_bos = false, add_eos = false;
  std::vector<int32_t> extra_stops;  // besides eos (e.g. <|im_end|>, <end_of_turn>, <|eot_id|>)
};

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(VocabParams p);

  std::vector<int32_t> encode(const std::string& text, bool add_special, bool parse_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  std::string token_text(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos() const override { return bos_; }
  int32_t eos() const override { return eos_; }
  std::vector<int32_t> stop_tokens() const override { return stops_; }
  bool is_special(int32_t id) const override;
  std::string token_bytes(int32_t id, bool skip_special, bool first) const override;
  TokenType type(int32_t id) const { return types_.at(static_cast<size_t>(id)); }
  const std::string& source() const { return source_; }

 protected:
  // Ordinary text (no added tokens in it, valid UTF-8) -> ids. `at_start`: the text begins the
  // input (SentencePiece's space prefix goes there).
  virtual void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const = 0;
  // Bytes of a normal piece (type Normal/Byte/Unknown/Unused).
  virtual std::string piece_bytes(int32_t id, bool first) const = 0;
  // Bytes of an added / control / user-defined token: its text as written (byte-level
  // vocabularies map stand-in characters back to bytes, as HF's ByteLevel decoder does).
  virtual std::string literal_bytes(int32_t id) const { return pieces_[id]; }
  // Registers an added token recognized in raw text; special ones only with parse_special.
  void add_token_text(const std::string& text, int32_t id, bool special) { added_.add(text, id, special); }
  void check_id(int32_t id) const;

  std::string source_;
  std::vector<std::string> pieces_;
  std::vector<TokenType> types_;
  std::vector<bool> added_special_;  // id -> HF "special" added token (skipped by skip_special)
  std::vector<bool> is_added_;       // id -> decoded as its literal text
  int32_t bos_, eos_, unk_;
  bool add_bos_, add_eos_;
  std::vector<int32_t> stops_;
  AddedTokens added_;

 public:
  // Marks id as an added token written literally in text (control tokens as special).
  void mark_added_token(int32_t id, bool special, bool match_in_text = true);
};

// Ids of end-of-turn tokens a vocabulary defines by name ("<|im_end|>", "<end_of_turn>",
// "<|eot_id|>", "<|end|>", "<|endoftext|>"...), looked up in `pieces`.
std::vector<int32_t> known_stop_tokens(const std::vector<std::string>& pieces, int32_t eos);

}  // namespace eft::tok
