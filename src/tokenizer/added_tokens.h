#pragma once
// Added / special tokens written literally in the text ("<|im_start|>", "<start_of_turn>", "\n\n"
// in Gemma) are cut out before the model's own algorithm sees the text, as HF tokenizers does:
// leftmost match first, and the longest token among those starting there.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eft::tok {

struct Segment {
  std::string_view text;  // the raw text (for a token, the text it matched)
  int32_t id = -1;        // -1: ordinary text for the model's algorithm
};

class AddedTokens {
 public:
  // special: recognized only when the caller asks for parse_special (control tokens);
  // otherwise always (user-defined tokens, HF's non-special added tokens).
  void add(const std::string& text, int32_t id, bool special);
  std::vector<Segment> split(std::string_view text, bool parse_special) const;
  bool empty() const { return count_ == 0; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte: child node index
    int32_t id = -1;
    bool special = false;
  };
  std::vector<Node> nodes_{Node{}};
  size_t count_ = 0;
  int32_t child(int32_t node, uint8_t b) const;
};

}  // namespace eft::tok
