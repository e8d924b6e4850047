// NFC = canonical decomposition, canonical ordering of combining marks, canonical composition
// (Unicode Standard Annex #15). Hangul syllables are decomposed and composed arithmetically.
#include "tokenizer/nfc.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode_nfc_data.h"
#include "tokenizer/utf8.h"

namespace eft::tok {
namespace {

using namespace nfc_data;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc(char32_t cp) {
  if (cp < 0x300) return 0;
  const CccRange* end = kCcc + kCccCount;
  const CccRange* it = std::upper_bound(kCcc, end, cp, [](char32_t v, const CccRange& r) { return v < r.first; });
  if (it == kCcc) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const int s = static_cast<int>(cp - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomp* end = kDecomp + kDecompCount;
  const Decomp* it = std::lower_bound(kDecomp, end, cp, [](const Decomp& d, char32_t v) { return d.cp < v; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->a, out);  // decompositions nest (e.g. U+1E69 -> U+1E63 U+0307 -> s U+0323 U+0307)
  if (it->b) decompose(it->b, out);
}

// Composite of a starter and a following character, or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Compose* end = kCompose + kComposeCount;
  const Compose* it = std::lower_bound(kCompose, end, std::pair{a, b}, [](const Compose& c, std::pair<char32_t, char32_t> v) {
    return c.a != v.first ? c.a < v.first : c.b < v.second;
  });
  return it != end && it->a == a && it->b == b ? it->composite : 0;
}

}  // namespace

std::string nfc(std::string_view text) {
  bool simple = true;
  for (unsigned char c : text) {
    // Lead bytes >= 0xCC start characters >= U+0300.
    if (c >= 0xCC) {
      simple = false;
      break;
    }
  }
  if (simple) return std::string(text);

  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Utf8Step st = utf8_step(text, i);
    decompose(st.kind == Utf8Step::kValid ? st.cp : kReplacement, cps);
    i += st.len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j, [](char32_t x, char32_t y) { return ccc(x) < ccc(y); });
    i = j;
  }
  // Composition: each character joins the last starter unless a character between them blocks it
  // (has a combining class of 0 or >= its own).
  std::vector<char32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;
  int between = -1;  // class of the last character kept after the starter; -1: none kept yet
  for (char32_t cp : cps) {
    const int c = ccc(cp);
    // Characters kept between the starter and cp are non-starters in class order, so the last
    // one has the highest class: cp is blocked exactly when that class is 0 or >= its own.
    if (starter != SIZE_MAX && (between < 0 || (between > 0 && between < c))) {
      if (const char32_t comp = compose(out[starter], cp)) {
        out[starter] = comp;
        continue;
      }
    }
    if (c == 0) {
      starter = out.size();
      between = -1;
    } else {
      between = c;
    }
    out.push_back(cp);
  }
  std::string s;
  s.reserve(text.size());
  for (char32_t cp : out) append_utf8(s, cp);
  return s;
}

}  // namespace eft::tok
