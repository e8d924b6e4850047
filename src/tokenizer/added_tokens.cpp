#include "tokenizer/added_tokens.h"

#include <algorithm>

namespace eft::tok {

int32_t AddedTokens::child(int32_t node, uint8_t b) const {
  const auto& nx = nodes_[node].next;
  auto it = std::lower_bound(nx.begin(), nx.end(), b, [](const auto& p, uint8_t v) { return p.first < v; });
  return it != nx.end() && it->first == b ? it->second : -1;
}

void AddedTokens::add(const std::string& text, int32_t id, bool special) {
  if (text.empty()) return;  // an empty token could never be matched
  int32_t node = 0;
  for (unsigned char b : text) {
    int32_t c = child(node, b);
    if (c < 0) {
      c = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      auto& nx = nodes_[node].next;
      auto it = std::lower_bound(nx.begin(), nx.end(), b, [](const auto& p, uint8_t v) { return p.first < v; });
      nx.insert(it, {b, c});
    }
    node = c;
  }
  // The same text twice (a vocabulary may list it twice): the first id stays, as HF's would.
  if (nodes_[node].id < 0) {
    nodes_[node].id = id;
    nodes_[node].special = special;
    ++count_;
  }
}

std::vector<Segment> AddedTokens::split(std::string_view text, bool parse_special) const {
  std::vector<Segment> out;
  size_t last = 0, i = 0;
  while (i < text.size()) {
    // Longest token starting at i.
    int32_t node = 0, best_id = -1;
    size_t best_len = 0;
    for (size_t k = i; k < text.size(); ++k) {
      node = child(node, static_cast<uint8_t>(text[k]));
      if (node < 0) break;
      const Node& n = nodes_[node];
      if (n.id >= 0 && (parse_special || !n.special)) best_id = n.id, best_len = k + 1 - i;
    }
    if (best_id < 0) {
      ++i;
      continue;
    }
    if (i > last) out.push_back({text.substr(last, i - last), -1});
    out.push_back({text.substr(i, best_len), best_id});
    i += best_len;
    last = i;
  }
  if (last < text.size()) out.push_back({text.substr(last), -1});
  return out;
}

}  // namespace eft::tok
