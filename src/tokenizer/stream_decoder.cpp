// StreamDecoder and the Tokenizer defaults.
#include "eft/tokenizer.h"
#include "tokenizer/utf8.h"

namespace eft {

std::string Tokenizer::token_bytes(int32_t id, bool skip_special, bool) const { return decode({id}, skip_special); }

std::string StreamDecoder::push(int32_t id) {
  pending_ += tok_.token_bytes(id, skip_special_, first_);
  // As in decode(): a special token skipped at the start does not count as the first token.
  if (!(skip_special_ && tok_.is_special(id))) first_ = false;
  // Emit every complete character; an ill-formed subpart is replaced as soon as it is known to be
  // ill-formed (that never depends on later bytes), so the output equals a lossy decode of the
  // whole; only a sequence still waiting for its continuation bytes stays pending.
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const tok::Utf8Step st = tok::utf8_step(pending_, i);
    if (st.kind == tok::Utf8Step::kIncomplete) break;
    if (st.kind == tok::Utf8Step::kValid) {
      out.append(pending_, i, st.len);
    } else {
      tok::append_utf8(out, tok::kReplacement);
    }
    i += st.len;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = tok::sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace eft
