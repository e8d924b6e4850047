#include "tokenizer/vocab.h"

#include <algorithm>

#include "eft/error.h"
#include "tokenizer/utf8.h"

namespace eft::tok {

VocabTokenizer::VocabTokenizer(VocabParams p)
    : source_(std::move(p.source)),
      pieces_(std::move(p.pieces)),
      types_(std::move(p.types)),
      bos_(p.bos),
      eos_(p.eos),
      unk_(p.unk),
      add_bos_(p.add_bos),
      add_eos_(p.add_eos) {
  const auto n = static_cast<int32_t>(pieces_.size());
  check(n > 0, "{}: the vocabulary is empty", source_);
  check(types_.size() == pieces_.size(), "{}: {} token types for {} tokens", source_, types_.size(), pieces_.size());
  const auto in_range = [&](int32_t id, const char* what) {
    check(id >= -1 && id < n, "{}: {} token id {} is outside the vocabulary of {} tokens", source_, what, id, n);
  };
  in_range(bos_, "BOS");
  in_range(eos_, "EOS");
  in_range(unk_, "unknown");
  check(!add_bos_ || bos_ >= 0, "{}: add_bos_token is set but there is no BOS token id", source_);
  check(!add_eos_ || eos_ >= 0, "{}: add_eos_token is set but there is no EOS token id", source_);
  added_special_.assign(pieces_.size(), false);
  is_added_.assign(pieces_.size(), false);
  if (eos_ >= 0) stops_.push_back(eos_);
  for (int32_t id : p.extra_stops) {
    in_range(id, "stop");
    if (id >= 0 && std::find(stops_.begin(), stops_.end(), id) == stops_.end()) stops_.push_back(id);
  }
}

void VocabTokenizer::mark_added_token(int32_t id, bool special, bool match_in_text) {
  check_id(id);
  is_added_[id] = true;
  added_special_[id] = special;
  if (match_in_text) add_token_text(pieces_[id], id, special);
}

void VocabTokenizer::check_id(int32_t id) const {
  check(id >= 0 && id < vocab_size(), "{}: token id {} is outside the vocabulary of {} tokens", source_, id,
        vocab_size());
}

std::vector<int32_t> VocabTokenizer::encode(const std::string& text, bool add_special, bool parse_special) const {
  // The reference tokenizers only take valid Unicode; repairing here is what a caller holding
  // bytes would do before calling them (see tokenizer.h).
  std::string repaired;
  std::string_view s = text;
  if (!is_valid_utf8(s)) {
    repaired = sanitize_utf8(s);
    s = repaired;
  }
  std::vector<int32_t> out;
  out.reserve(s.size() / 3 + 2);
  if (add_special && add_bos_) out.push_back(bos_);
  if (added_.empty()) {
    if (!s.empty()) encode_text(s, true, out);
  } else {
    bool at_start = true;
    for (const Segment& seg : added_.split(s, parse_special)) {
      if (seg.id >= 0) {
        out.push_back(seg.id);
      } else {
        encode_text(seg.text, at_start, out);
      }
      at_start = false;
    }
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

bool VocabTokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const TokenType t = types_[id];
  return added_special_[id] || t == TokenType::Control || t == TokenType::Unknown;
}

std::string VocabTokenizer::token_bytes(int32_t id, bool skip_special, bool first) const {
  check_id(id);
  if (skip_special && is_special(id)) return {};
  if (is_added_[id] || types_[id] == TokenType::Control || types_[id] == TokenType::UserDefined) return literal_bytes(id);
  return piece_bytes(id, first);
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    check_id(id);
    if (skip_special && is_special(id)) continue;
    bytes += token_bytes(id, skip_special, first);
    first = false;
  }
  return sanitize_utf8(bytes);
}

std::string VocabTokenizer::token_text(int32_t id) const {
  check_id(id);
  return pieces_[id];
}

std::vector<int32_t> known_stop_tokens(const std::vector<std::string>& pieces, int32_t eos) {
  // End-of-turn markers of the chat formats eft supports; a model stops on whichever its
  // vocabulary has, besides its EOS.
  static const char* const kNames[] = {"<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>",
                                       "<|endoftext|>", "<|end_of_text|>", "<eos>", "</s>"};
  std::vector<int32_t> out;
  for (const char* name : kNames) {
    auto it = std::find(pieces.begin(), pieces.end(), name);
    if (it != pieces.end()) {
      const auto id = static_cast<int32_t>(it - pieces.begin());
      if (id != eos) out.push_back(id);
    }
  }
  return out;
}

}  // namespace eft::tok
