#include "tokenizer/bpe.h"

#include <queue>

#include "eft/error.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/nfc.h"

namespace eft::tok {

ByteLevelBpe::ByteLevelBpe(BpeParams p)
    : VocabTokenizer(std::move(p.vocab)),
      pre_(std::move(p.pre)),
      ignore_merges_(p.ignore_merges),
      add_prefix_space_(p.add_prefix_space),
      nfc_(p.nfc) {
  const auto n = vocab_size();
  spelled_to_id_.reserve(static_cast<size_t>(n) * 2);
  for (int32_t id = 0; id < n; ++id) {
    // A piece written with characters outside the byte alphabet (some converters store added
    // tokens as plain text) is looked up by its byte-level spelling, as HF's GGUF conversion does.
    const std::string& piece = pieces_[id];
    std::string spelled = is_byte_level_spelling(piece) ? piece : bytes_to_byte_level(piece);
    spelled_to_id_.emplace(std::move(spelled), id);  // first id wins for duplicate pieces
  }
  const auto& spell = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    auto it = spelled_to_id_.find(spell[b]);
    byte_id_[b] = it == spelled_to_id_.end() ? -1 : it->second;
  }
  merges_.build(p.merges, [this](const std::string& piece) { return find_token(piece); }, source_);
}

int32_t ByteLevelBpe::find_token(const std::string& piece) const {
  auto it = spelled_to_id_.find(piece);
  return it == spelled_to_id_.end() ? -1 : it->second;
}

std::string ByteLevelBpe::piece_bytes(int32_t id, bool) const { return byte_level_to_bytes(pieces_[id]); }

void ByteLevelBpe::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  // Added tokens were cut out of the raw text before this point; normalization applies to the
  // rest only, as in HF (their added tokens are marked normalized = false).
  std::string normalized;
  if (nfc_) {
    normalized = nfc(text);
    text = normalized;
  }
  std::string prefixed;
  if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
    prefixed = " ";
    prefixed.append(text);
    text = prefixed;
  }
  if (pre_.empty()) {
    encode_word(text, out);
    return;
  }
  for (std::string_view word : pre_.split(text)) encode_word(word, out);
}

void ByteLevelBpe::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = spelled_to_id_.find(bytes_to_byte_level(word));
    if (it != spelled_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

void ByteLevelBpe::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  // Symbols form a doubly linked list over the word's bytes; a merged-away symbol gets id -1.
  struct Sym {
    int32_t id, prev, next;
  };
  std::vector<Sym> sym;
  sym.reserve(word.size());
  for (unsigned char c : word) {
    // A byte with no token (a vocabulary missing part of the alphabet) is dropped, as HF's BPE
    // does when it has no unknown token.
    if (byte_id_[c] < 0) continue;
    const auto i = static_cast<int32_t>(sym.size());
    sym.push_back({byte_id_[c], i - 1, i + 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  // Candidate merges: lowest rank first, then leftmost. Entries go stale when a neighbour
  // merges; they are checked again when popped (lazy deletion keeps each step O(log n)).
  struct Cand {
    int32_t rank, pos, merged;
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand> heap;
  const auto push_pair = [&](int32_t left) {
    if (left < 0 || sym[left].next < 0) return;
    if (const auto* m = merges_.find(sym[left].id, sym[sym[left].next].id)) heap.push({m->rank, left, m->merged});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& left = sym[c.pos];
    if (left.id < 0 || left.next < 0) continue;
    Sym& right = sym[left.next];
    const auto* m = merges_.find(left.id, right.id);
    if (!m || m->merged != c.merged) continue;  // stale
    left.id = c.merged;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) sym[left.next].prev = c.pos;
    push_pair(left.prev);
    push_pair(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace eft::tok
