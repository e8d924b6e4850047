#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex_split.h"

#include <pcre2.h>

#include "eft/error.h"

namespace eft::tok {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 is Llama 3's pattern with single digits.
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kDigitPattern = R"(\p{N})";
// Mistral's Tekken: case-aware words, single digits.
const char* const kTekkenPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-4o / Llama 4: case-aware words with contractions attached, digits in threes.
const char* const kGpt4oPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {
pcre2_code* code_of(void* p) { return static_cast<pcre2_code*>(p); }
}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("tokenizer: cannot compile pre-tokenizer regex '{}' at offset {}: {}", pattern, off,
         reinterpret_cast<const char*>(msg));
  }
  code_ = code;
  // JIT is an optimisation only: without it (or where it is unsupported) the interpreter runs.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(code_of(code_)); }

void Regex::split(std::string_view text, std::vector<std::string_view>& out) const {
  pcre2_code* code = code_of(code_);
  // Per call, so one compiled pattern can serve several threads.
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  check(md != nullptr, "tokenizer: out of memory creating PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, last = 0;
  while (pos < text.size()) {
    // NO_UTF_CHECK: callers pass sanitized UTF-8, and the check would rescan the tail each time.
    const int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr)
                        : pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail("tokenizer: regex '{}' failed at byte {}: {}", pattern_, pos, reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t s = ov[0], e = ov[1];
    if (e == s) {  // empty match: step over one character so the loop always advances
      pos = s + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (s > last) out.push_back(text.substr(last, s - last));
    out.push_back(text.substr(s, e - s));
    last = pos = e;
  }
  pcre2_match_data_free(md);
  if (last < text.size()) out.push_back(text.substr(last));
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) add(p);
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> cur{text}, next;
  for (const auto& step : steps_) {
    next.clear();
    for (auto piece : cur) step->split(piece, next);
    cur.swap(next);
  }
  return cur;
}

bool gguf_pre_ignores_merges(const std::string& pre) {
  return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
}

bool gguf_pre_normalizes_nfc(const std::string& pre) {
  return pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez";
}

PreTokenizer pre_tokenizer_for_gguf(const std::string& pre, const std::string& file) {
  // "default" and "gpt2" mean GPT-2's own splitting, as the HF conversion of a GGUF treats them.
  if (pre == "default" || pre == "gpt2" || pre.empty()) return PreTokenizer({kGpt2Pattern});
  // SmolLM2's tokenizer.json: Digits(individual_digits) then ByteLevel's GPT-2 regex.
  if (pre == "smollm") return PreTokenizer({kDigitPattern, kGpt2Pattern});
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "falcon3" || pre == "smaug-bpe" ||
      pre == "dbrx" || pre == "pixtral")
    return PreTokenizer({kLlama3Pattern});
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez") return PreTokenizer({kQwen2Pattern});
  if (pre == "tekken") return PreTokenizer({kTekkenPattern});
  if (pre == "gpt-4o" || pre == "llama4") return PreTokenizer({kGpt4oPattern});
  fail("{}: tokenizer.ggml.pre = '{}' is not a pre-tokenizer eft knows (gpt2, default, smollm, llama-bpe, "
       "qwen2, tekken, gpt-4o and aliases)",
       file, pre);
}

}  // namespace eft::tok
