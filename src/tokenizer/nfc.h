#pragma once
// Unicode Normalization Form C, for tokenizers whose tokenizer.json asks for it (Qwen2).
#include <string>
#include <string_view>

namespace eft::tok {

// NFC of valid UTF-8 text. Text made only of characters below U+0300 is returned unchanged
// without work: no such character decomposes or combines.
std::string nfc(std::string_view text);

}  // namespace eft::tok
