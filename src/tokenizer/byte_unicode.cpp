#include "tokenizer/byte_unicode.h"

#include "tokenizer/utf8.h"

namespace eft::tok {
namespace {

struct Tables {
  std::array<std::string, 256> spell;
  std::array<int16_t, 324> back;  // stand-ins are all below U+0144
  Tables() {
    back.fill(-1);
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + shifted++);
      append_utf8(spell[b], cp);
      back[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() { return tables().spell; }

int unicode_to_byte(char32_t cp) { return cp < tables().back.size() ? tables().back[cp] : -1; }

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& spell = tables().spell;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += spell[c];
  return out;
}

std::string byte_level_to_bytes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    const int b = st.kind == Utf8Step::kValid ? unicode_to_byte(st.cp) : -1;
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(s.substr(i, st.len));
    }
    i += st.len;
  }
  return out;
}

bool is_byte_level_spelling(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    if (st.kind != Utf8Step::kValid || unicode_to_byte(st.cp) < 0) return false;
    i += st.len;
  }
  return true;
}

}  // namespace eft::tok
