// Qwen2 / Qwen2.5: the Llama layer with biases on the Q, K and V projections, RoPE in NeoX
// pairing (llama.cpp does not permute Qwen2's Q/K), optional sliding window on the upper layers.
#include "model/arch.h"

namespace eft {
namespace {

void qwen2_gguf(const ModelFile&, const std::string&, ModelConfig& c) {
  c.rope_style = RopeStyle::neox;
  c.act = Activation::silu;
  c.qkv_bias = true;
}

void qwen2_hf(const nlohmann::json& j, ModelConfig& c) {
  c.act = Activation::silu;
  c.qkv_bias = true;
  // Older configs: use_sliding_window + max_window_layers (layers >= it slide) instead of layer_types.
  if (c.layer_window.empty() && j.value("use_sliding_window", false) && j.contains("sliding_window") &&
      j["sliding_window"].is_number_integer()) {
    const int32_t w = j["sliding_window"].get<int32_t>();
    const int32_t from = j.value("max_window_layers", c.n_layers);
    for (int32_t l = 0; l < c.n_layers; ++l) c.layer_window.push_back(l >= from ? w : 0);
  }
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec a{"qwen2", {"qwen2"}, {"qwen2"}, qwen2_gguf, qwen2_hf, prenorm_layer};
  return a;
}

}  // namespace eft
