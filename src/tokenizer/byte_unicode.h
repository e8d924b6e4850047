#pragma once
// GPT-2's reversible byte <-> unicode mapping used by every byte-level BPE vocabulary: printable
// bytes stand for themselves, the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) are shifted to
// U+0100.. in byte order, so every token is printable text and any byte string can be spelled.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace eft::tok {

// UTF-8 spelling of each byte's stand-in character.
const std::array<std::string, 256>& byte_to_unicode();
// Stand-in codepoint -> byte, or -1 if cp is not a stand-in.
int unicode_to_byte(char32_t cp);

// bytes -> byte-level spelling; spelling -> bytes (characters that are not stand-ins are kept as
// their own UTF-8, as HF's ByteLevel decoder does for added tokens written in plain text).
std::string bytes_to_byte_level(std::string_view bytes);
std::string byte_level_to_bytes(std::string_view spelled);
// True when every character of s is a stand-in (a token that byte-level BPE can produce).
bool is_byte_level_spelling(std::string_view s);

}  // namespace eft::tok
