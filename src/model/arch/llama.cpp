// Llama family: Llama 2/3, SmolLM2 and Mistral (a sliding window on every layer).
// Pre-norm layers, SwiGLU MLP, RoPE, GQA.
#include "model/arch.h"

namespace eft {
namespace {

void llama_gguf(const ModelFile& f, const std::string& p, ModelConfig& c) {
  // llama.cpp's converter permutes the rows of Q and K so that RoPE pairs adjacent dimensions.
  c.rope_style = RopeStyle::interleaved;
  c.act = Activation::silu;
  // Mistral GGUFs may carry a sliding window; it applies to every layer.
  if (f.has(p + "attention.sliding_window")) {
    const int64_t w = f.get_int(p + "attention.sliding_window");
    check(w > 0 && w < (1ll << 30), "{}: {}attention.sliding_window = {} is out of range", f.path(), p, w);
    c.layer_window.assign(size_t(c.n_layers), int32_t(w));
  }
}

void llama_hf(const nlohmann::json& j, ModelConfig& c) {
  c.act = Activation::silu;
  // Mistral: "sliding_window" (null when off) applies to every layer unless layer_types said more.
  if (c.layer_window.empty() && j.value("model_type", "") == "mistral" && j.contains("sliding_window") &&
      j["sliding_window"].is_number_integer())
    c.layer_window.assign(size_t(c.n_layers), j["sliding_window"].get<int32_t>());
}

}  // namespace

const ArchSpec& llama_arch() {
  static const ArchSpec a{"llama", {"llama", "mistral"}, {"llama", "mistral"}, llama_gguf, llama_hf, prenorm_layer};
  return a;
}

}  // namespace eft
