#pragma once
// Tables for Unicode canonical composition (NFC), one generated file each
// (unicode_{ccc,decomp,compose}_data.cpp, from tools/gen_tokenizer_golden.py --nfc-tables).
// All three tables are sorted by their first field.
#include <cstddef>
#include <cstdint>

namespace eft::tok::nfc_data {

struct CccRange {
  uint32_t first, last;
  uint8_t ccc;  // canonical combining class, non-zero
};
struct Decomp {
  uint32_t cp, a, b;  // cp -> a b (b = 0: singleton), one level
};
struct Compose {
  uint32_t a, b, composite;  // primary composites only (exclusions left out)
};

extern const CccRange kCcc[];
extern const size_t kCccCount;
extern const Decomp kDecomp[];
extern const size_t kDecompCount;
extern const Compose kCompose[];
extern const size_t kComposeCount;

}  // namespace eft::tok::nfc_data
