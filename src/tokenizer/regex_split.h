#pragma once
// Pre-tokenization: cutting text into words before BPE, by a sequence of regexes compiled with
// PCRE2 (UTF + UCP so \p{L}, \s and friends are Unicode-aware; JIT when the library has it). Each
// step works like HF's Split(behavior=Isolated): every match and every gap between matches becomes
// its own piece, and the next step splits each piece again.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace eft::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws eft::Error naming the pattern and offset
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  const std::string& pattern() const { return pattern_; }
  // Isolated split of `text` (valid UTF-8), appending the pieces to `out`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(const std::vector<std::string>& patterns);
  void add(const std::string& pattern) { steps_.push_back(std::make_shared<Regex>(pattern)); }
  std::vector<std::string_view> split(std::string_view text) const;
  bool empty() const { return steps_.empty(); }

 private:
  std::vector<std::shared_ptr<Regex>> steps_;
};

// Patterns known by name. The GPT-2 pattern is also what HF's ByteLevel(use_regex=true) applies.
extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;
extern const char* const kQwen2Pattern;
extern const char* const kDigitPattern;  // every numeric character alone (HF Digits(individual))

// The pre-tokenizer for a GGUF tokenizer.ggml.pre name; throws naming the file and value for an
// unknown one (a wrong split would silently give wrong tokens).
PreTokenizer pre_tokenizer_for_gguf(const std::string& pre, const std::string& file);
// Llama 3's own tokenizer (tokenizer.json "ignore_merges": true, and llama.cpp for these names)
// takes a word that is itself in the vocabulary whole instead of merging it.
bool gguf_pre_ignores_merges(const std::string& pre);
// Qwen2's tokenizer.json normalizes to NFC; its GGUF names bring that along.
bool gguf_pre_normalizes_nfc(const std::string& pre);

}  // namespace eft::tok
