#include "kv/layer_groups.h"

#include <map>
#include <numeric>

#include "eft/error.h"

namespace eft::kv {

bool LayerGroups::any_window() const {
  for (int32_t w : window)
    if (w > 0) return true;
  return false;
}

LayerGroups make_layer_groups(int32_t n_layers, const std::vector<int32_t>& layer_window) {
  check(n_layers > 0, "KvCacheConfig.n_layers must be positive (got {})", n_layers);
  check(layer_window.empty() || int32_t(layer_window.size()) == n_layers,
        "KvCacheConfig.layer_window has {} entries for {} layers (expected 0 or n_layers)", layer_window.size(),
        n_layers);
  // Window classes in layer order of first appearance: window value -> its layers.
  std::map<int32_t, std::vector<int32_t>> classes;
  for (int32_t l = 0; l < n_layers; ++l) {
    int32_t w = layer_window.empty() ? 0 : layer_window[size_t(l)];
    check(w >= 0, "KvCacheConfig.layer_window[{}] = {} is negative (0 = full attention)", l, w);
    classes[w].push_back(l);
  }
  int32_t g = 0;
  for (auto& [w, layers] : classes) g = std::gcd(g, int32_t(layers.size()));
  LayerGroups r;
  r.group_size = g;
  r.group_of_layer.assign(size_t(n_layers), -1);
  r.slot_of_layer.assign(size_t(n_layers), -1);
  for (auto& [w, layers] : classes)
    for (size_t i = 0; i < layers.size(); i += size_t(g)) {
      const int32_t id = r.n_groups();
      r.window.push_back(w);
      for (int32_t j = 0; j < g; ++j) {
        r.group_of_layer[size_t(layers[i + size_t(j)])] = id;
        r.slot_of_layer[size_t(layers[i + size_t(j)])] = j;
      }
    }
  return r;
}

}  // namespace eft::kv
