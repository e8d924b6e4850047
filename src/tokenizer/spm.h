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
// vocabulary, so for Gemma the priority is -id (priority_by_id).
#include <array>
#include <unordered_map>

#include "tokenizer/vocab.h"

namespace eft::tok {

struct SpmParams {
  VocabParams vocab;
  std::vector<float> scores;  // id -> score (empty: priority_by_id must be set)
  bool add_space_prefix = false;
  bool priority_by_id = false;
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

  std::unordered_map<std::string, int32_t> piece_to_id_;  // spaces spelled "▁"
  std::vector<float> scores_;
  std::array<int32_t, 256> byte_id_;  // <0xXX> token per byte, -1 if absent
  bool add_space_prefix_, priority_by_id_;
};

// "▁" in UTF-8.
inline constexpr std::string_view kSpaceMark = "\xE2\x96\x81";

}  // namespace eft::tok
