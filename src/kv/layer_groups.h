#pragma once
// Partition of the model's layers into equal-size groups sharing a window value, so that one
// page size serves every group (see include/eft/kv_cache.h for why).
#include <cstdint>
#include <vector>

namespace eft::kv {

struct LayerGroups {
  int32_t group_size = 0;                 // G: layers per group
  std::vector<int32_t> window;            // [n_groups] 0 = full attention
  std::vector<int32_t> group_of_layer;    // [n_layers]
  std::vector<int32_t> slot_of_layer;     // [n_layers] index within its group, in [0, G)
  int32_t n_groups() const { return int32_t(window.size()); }
  bool any_window() const;
};

// layer_window: [n_layers] (empty = all full). Throws naming the bad layer on a negative window.
LayerGroups make_layer_groups(int32_t n_layers, const std::vector<int32_t>& layer_window);

}  // namespace eft::kv
