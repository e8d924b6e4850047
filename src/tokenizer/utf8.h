#pragma once
// UTF-8 helpers shared by the tokenizers. Invalid input is handled the way Python's
// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy (which HF tokenizers uses
// when decoding) do: each maximal ill-formed subpart becomes one U+FFFD. Using the same rule for
// encode input, decode output and streaming makes all three agree with the reference.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eft::tok {

inline constexpr char32_t kReplacement = 0xFFFD;

// Appends the UTF-8 encoding of cp (which must be a scalar value) to out.
void append_utf8(std::string& out, char32_t cp);

// Result of looking at the bytes starting at s[i].
struct Utf8Step {
  enum Kind { kValid, kInvalid, kIncomplete } kind;
  size_t len;     // kValid: sequence length; kInvalid: maximal ill-formed subpart length (>= 1);
                  // kIncomplete: bytes present, all a valid prefix that the end of input cut short
  char32_t cp;    // kValid only
};
Utf8Step utf8_step(std::string_view s, size_t i);

// Replaces ill-formed subparts with U+FFFD (an incomplete sequence at the end too).
std::string sanitize_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);

// Length of the longest prefix of s that ends on a sequence boundary, after which only an
// incomplete (but so far valid) sequence remains. Used by streaming decode.
size_t complete_prefix(std::string_view s);

}  // namespace eft::tok
