#pragma once
// Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2): text -> pre-tokenizer words -> bytes spelled
// with GPT-2's byte alphabet -> merges applied lowest rank first. Per word the merge loop keeps a
// heap of candidate adjacent pairs (O(n log n)); finished words are cached.
#include <array>
#include <mutex>
#include <unordered_map>

#include "tokenizer/regex_split.h"
#include "tokenizer/merge_table.h"
#include "tokenizer/vocab.h"

namespace eft::tok {

struct BpeParams {
  VocabParams vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // rank = position
  PreTokenizer pre;
  // Llama 3's tokenizer.json sets ignore_merges: a word that is itself in the vocabulary is taken
  // whole, without running merges (which could otherwise reach a different split).
  bool ignore_merges = false;
  // HF ByteLevel(add_prefix_space): a space is put before text that does not start with one.
  bool add_prefix_space = false;
  // Unicode NFC before pre-tokenization (Qwen2's tokenizer.json normalizer).
  bool nfc = false;
};

class ByteLevelBpe : public VocabTokenizer {
 public:
  explicit ByteLevelBpe(BpeParams p);
  int32_t find_token(const std::string& piece) const override;

 protected:
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const override;
  std::string piece_bytes(int32_t id, bool first) const override;
  std::string literal_bytes(int32_t id) const override { return piece_bytes(id, false); }

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  MergeTable merges_;
  std::unordered_map<std::string, int32_t> spelled_to_id_;  // byte-level spelling -> id
  std::array<int32_t, 256> byte_id_;                        // id of each byte's one-character token, -1 if none
  PreTokenizer pre_;
  bool ignore_merges_, add_prefix_space_, nfc_;

  // Word cache: a text repeats words constantly. Guarded because encode() is const and may be
  // called from several threads; cleared when it grows past kCacheMax entries.
  static constexpr size_t kCacheMax = 65536;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace eft::tok
