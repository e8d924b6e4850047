#pragma once
// The ranked merge rules of a BPE vocabulary — (left id, right id) -> (rank, merged id) — shared by
// the byte-level and the SentencePiece-style tokenizers, which differ only in how pieces are spelled.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eft/error.h"

namespace eft::tok {

class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };

  // id_of(piece): the id of a spelled piece, or -1 when it is not in the vocabulary.
  template <typename IdOf>
  void build(const std::vector<std::pair<std::string, std::string>>& merges, IdOf id_of, const std::string& source) {
    map_.reserve(merges.size() * 2);
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      const int32_t ia = id_of(a), ib = id_of(b), im = id_of(a + b);
      check(ia >= 0 && ib >= 0 && im >= 0, "{}: merge {} ('{}' '{}') uses a token that is not in the vocabulary",
            source, r, a, b);
      // A pair listed twice keeps its later rank, as HF's merge map (built by later-wins insertion) does.
      map_[key(ia, ib)] = Merge{static_cast<int32_t>(r), im};
    }
  }
  const Merge* find(int32_t a, int32_t b) const {
    auto it = map_.find(key(a, b));
    return it == map_.end() ? nullptr : &it->second;
  }
  bool empty() const { return map_.empty(); }

 private:
  static uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }
  std::unordered_map<uint64_t, Merge> map_;
};

}  // namespace eft::tok
