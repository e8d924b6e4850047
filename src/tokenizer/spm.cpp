#include "tokenizer/spm.h"

#include <queue>

#include "eft/error.h"
#include "tokenizer/nfc.h"
#include "tokenizer/utf8.h"

namespace eft::tok {
namespace {

// Gemma stores whitespace-run pieces with real spaces ("  "); the text side writes spaces as "▁",
// so such pieces are looked up as "▁▁". Same rule as the HF conversion: the piece contains a space
// and is nothing but whitespace.
bool is_space_run(const std::string& s) {
  if (s.find(' ') == std::string::npos) return false;
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') return false;
  return true;
}

std::string spaces_to_marks(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (char c : s) {
    if (c == ' ') {
      out.append(kSpaceMark);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

int byte_token_value(const std::string& piece) {
  // "<0xAB>" -> 0xAB
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

SentencePieceBpe::SentencePieceBpe(SpmParams p)
    : VocabTokenizer(std::move(p.vocab)),
      scores_(std::move(p.scores)),
      priority_by_id_(p.priority_by_id),
      ignore_merges_(p.ignore_merges),
      split_words_(p.split_words),
      strip_leading_space_(p.strip_leading_space),
      byte_fallback_(p.byte_fallback),
      nfc_(p.nfc),
      prefix_(p.prefix) {
  const auto n = vocab_size();
  check(priority_by_id_ || !p.merges.empty() || scores_.size() == pieces_.size(), "{}: {} token scores for {} tokens",
        source_, scores_.size(), pieces_.size());
  byte_id_.fill(-1);
  piece_to_id_.reserve(static_cast<size_t>(n) * 2);
  for (int32_t id = 0; id < n; ++id) {
    const std::string& piece = pieces_[id];
    if (types_[id] == TokenType::Byte) {
      const int b = byte_token_value(piece);
      check(b >= 0, "{}: token {} has type BYTE but its text '{}' is not of the form <0xXX>", source_, id, piece);
      if (byte_id_[b] < 0) byte_id_[b] = id;
      continue;
    }
    if (p.respell_space_runs && is_space_run(piece)) {
      // An ordinary piece after all (see is_space_run): merged like any other, never cut out of raw text.
      types_[id] = TokenType::Normal;
      piece_to_id_.emplace(spaces_to_marks(piece), id);
      continue;
    }
    piece_to_id_.emplace(piece, id);  // first id wins for duplicate pieces
  }
  merges_.build(p.merges, [this](const std::string& piece) { return find_token(piece); }, source_);
}

int32_t SentencePieceBpe::find_token(const std::string& piece) const {
  auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

bool SentencePieceBpe::mergeable_target(int32_t id) const {
  // Control / unknown / unused pieces come only from their literal text with parse_special (or
  // never), not from merging ordinary text: user text must not be able to spell "<bos>".
  const TokenType t = types_[id];
  return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Undefined;
}

std::string SentencePieceBpe::piece_bytes(int32_t id, bool first) const {
  std::string out;
  const std::string& piece = pieces_[id];
  out.reserve(piece.size());
  if (types_[id] == TokenType::Byte) out.push_back(static_cast<char>(byte_token_value(piece)));
  for (size_t i = 0; i < piece.size() && types_[id] != TokenType::Byte;) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  // The space the encoder put in front of the text is not part of it (HF strips one leading space
  // of the decoded text, whichever token it came from).
  if (first && strip_leading_space_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

void SentencePieceBpe::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  std::string norm = spaces_to_marks(nfc_ ? std::string_view(nfc(text)) : text);
  const bool has_mark = norm.compare(0, kSpaceMark.size(), kSpaceMark) == 0;
  const bool prefix = !norm.empty() && (prefix_ == SpacePrefix::Prepend ||
                                        (prefix_ == SpacePrefix::Always && !has_mark) ||
                                        (prefix_ == SpacePrefix::First && at_start && !has_mark));
  if (prefix) norm.insert(0, kSpaceMark);
  if (!split_words_) {
    encode_word(norm, out);
    return;
  }
  // Metaspace(split=true): each "▁" starts a new word.
  size_t start = 0;
  for (size_t i = kSpaceMark.size(); i <= norm.size(); ++i) {
    if (i == norm.size() || norm.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      if (i > start) encode_word(std::string_view(norm).substr(start, i - start), out);
      start = i;
    }
  }
}

void SentencePieceBpe::encode_word(std::string_view norm, std::vector<int32_t>& out) const {
  if (norm.empty()) return;
  if (ignore_merges_) {
    auto it = piece_to_id_.find(norm);
    if (it != piece_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Symbols: spans of `norm`, linked; a byte-fallback symbol is a single token that never merges.
  struct Sym {
    uint32_t start, len, nchars;
    int32_t id;  // piece id; -1 once merged away
    int32_t prev, next;
    bool fallback;
  };
  std::vector<Sym> sym;
  sym.reserve(norm.size());
  for (size_t i = 0; i < norm.size();) {
    const Utf8Step st = utf8_step(norm, i);  // valid: the caller sanitized the text
    auto it = piece_to_id_.find(norm.substr(i, st.len));
    const auto idx = static_cast<int32_t>(sym.size());
    if (it != piece_to_id_.end()) {
      sym.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(st.len), 1, it->second, idx - 1, idx + 1, false});
    } else {
      bool all_bytes = byte_fallback_;
      for (size_t k = 0; k < st.len; ++k) all_bytes = all_bytes && byte_id_[static_cast<uint8_t>(norm[i + k])] >= 0;
      if (all_bytes) {
        for (size_t k = 0; k < st.len; ++k) {
          const auto j = static_cast<int32_t>(sym.size());
          sym.push_back({static_cast<uint32_t>(i + k), 1, 1, byte_id_[static_cast<uint8_t>(norm[i + k])], j - 1, j + 1,
                         true});
        }
      } else if (unk_ >= 0) {
        // Consecutive unknown characters become one unknown token (HF fuse_unk).
        if (!sym.empty() && sym.back().fallback && sym.back().id == unk_) {
          sym.back().len += static_cast<uint32_t>(st.len);
        } else {
          const auto j = static_cast<int32_t>(sym.size());
          sym.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(st.len), 1, unk_, j - 1, j + 1, true});
        }
      }
      // else: no piece, no byte tokens, no unknown token: the character is dropped, as HF's BPE does.
    }
    i += st.len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Cand {
    float score;
    uint32_t left_chars, right_chars;
    int32_t merged, pos;
    uint32_t left_len, right_len;  // to detect a stale entry: spans only ever grow
    bool operator<(const Cand& o) const {  // true when *this comes later than o
      if (score != o.score) return score < o.score;
      if (left_chars != o.left_chars) return left_chars < o.left_chars;
      if (right_chars != o.right_chars) return right_chars < o.right_chars;
      if (merged != o.merged) return merged > o.merged;
      return pos > o.pos;
    }
  };
  std::priority_queue<Cand> heap;
  std::string_view nv = norm;
  const auto push_pair = [&](int32_t left) {
    if (left < 0) return;
    const Sym& l = sym[left];
    if (l.next < 0 || l.fallback) return;
    const Sym& r = sym[l.next];
    if (r.fallback) return;
    if (!merges_.empty()) {
      // Explicit ranks: lowest first; the other keys tie, so position decides among equals.
      if (const auto* m = merges_.find(l.id, r.id))
        heap.push({-static_cast<float>(m->rank), 0, 0, m->merged, left, l.len, r.len});
      return;
    }
    std::string_view joined = nv.substr(l.start, l.len + r.len);
    auto it = piece_to_id_.find(joined);
    if (it == piece_to_id_.end() || !mergeable_target(it->second)) return;
    heap.push({priority(it->second), l.nchars, r.nchars, it->second, left, l.len, r.len});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.pos];
    if (l.id < 0 || l.next < 0 || l.len != c.left_len) continue;
    Sym& r = sym[l.next];
    if (r.len != c.right_len) continue;
    l.id = c.merged;
    l.len += r.len;
    l.nchars += r.nchars;
    r.id = -1;
    l.next = r.next;
    if (l.next >= 0) sym[l.next].prev = c.pos;
    push_pair(l.prev);
    push_pair(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace eft::tok
