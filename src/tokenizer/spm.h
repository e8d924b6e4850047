#pragma once
// SentencePiece-style BPE over pieces with scores (GGUF tokenizer.ggml.model "llama": Llama 2,
// Gemma). Spaces are written "▁" (U+2581); the text is cut into characters, then adjacent
// symbols whose concatenation is a piece are merged, best piece score first; characters with no
// piece become <0xXX> byte tokens (byte fallback) and never merge.
//
// Order of merges, as the HF tokenizers reference built from the same vocabulary has it: higher
// score of the merged piece first; for one piece reachable by several splits, the longer left part
// first (then the longer right part); equal candidates leftmost first. Gemma's scores are
// placeholders for some pieces (-1000 on whitespace runs) and its merge order is the order of the
// vocabulary, so for Gemma the priority is -id (priority_by_id). A tokenizer.json gives its merges
// explicitly: then the rank of the pair decides (lowest first), as in any BPE.
#include <array>
#include <unordered_map>

#include "tokenizer/merge_table.h"
#include "tokenizer/vocab.h"

namespace eft::tok {

// Where a "▁" goes in front of the text (HF: Metaspace's prepend_scheme, or a Prepend normalizer).
enum class SpacePrefix {
  None,
  First,    // the segment at the start of the input, unless it already starts with "▁"
  Always,   // every text segment (between added tokens), unless it already starts with "▁"
  Prepend,  // every text segment, unconditionally (normalizer Prepend("▁"))
};

struct SpmParams {
  VocabParams vocab;
  std::vector<float> scores;  // id -> score (empty: priority_by_id or merges must be given)
  bool priority_by_id = false;
  // Explicit merges (tokenizer.json), rank = position; when non-empty they replace scores.
  std::vector<std::pair<std::string, std::string>> merges;
  bool ignore_merges = false;  // a whole word in the vocabulary is taken as is
  SpacePrefix prefix = SpacePrefix::None;
  bool split_words = false;          // Metaspace(split=true): merges stay inside "▁word" units
  bool strip_leading_space = false;  // decode: drop one space at the start of the text
  bool byte_fallback = true;         // characters without a piece -> <0xXX> tokens (else unknown)
  bool nfc = false;
  // Gemma: whitespace-run pieces stored with real spaces are ordinary pieces spelled with "▁".
  bool respell_space_runs = false;
};

class SentencePieceBpe : public VocabTokenizer {
 public:
  explicit SentencePieceBpe(SpmParams p);
  int32_t find_token(const std::string& piece) const override;

 protected:
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const override;
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  float priority(int32_t id) const { return priority_by_id_ ? -static_cast<float>(id) : scores_[id]; }
  bool mergeable_target(int32_t id) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;


  // Looked up by string_view (heterogeneous lookup) so the merge loop allocates nothing.
  struct SvHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, SvHash, std::equal_to<>> piece_to_id_;  // spaces spelled "▁"
  MergeTable merges_;            // explicit merges only
  std::vector<float> scores_;
  std::array<int32_t, 256> byte_id_;  // <0xXX> token per byte, -1 if absent
  bool priority_by_id_, ignore_merges_, split_words_, strip_leading_space_, byte_fallback_, nfc_;
  SpacePrefix prefix_;
};

// "▁" in UTF-8.
inline constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

}  // namespace eft::tok
