#pragma once
// The internal weight layout every architecture loads into. Matrices stay QMatrix views into the
// file mapping (quantized or not); vectors (norms, biases) are f32 copies because they are small
// and read on every token. The token embedding stays a matrix too: rows are dequantized on lookup,
// which for Gemma 3 (262144 × 640) saves 670 MB over an f32 copy.
#include <cstdint>
#include <string>
#include <vector>

#include "eft/model.h"
#include "eft/quant.h"

namespace eft {

struct LayerWeights {
  std::vector<float> attn_norm;       // [hidden] before attention
  QMatrix wq, wk, wv, wo;             // [heads*hd, hidden], [kv*hd, hidden] ×2, [hidden, heads*hd]
  std::vector<float> bq, bk, bv;      // [heads*hd], [kv*hd] ×2 — Qwen2 only, else empty
  std::vector<float> q_norm, k_norm;  // [head_dim] — Gemma 3 only, else empty
  std::vector<float> post_attn_norm;  // [hidden] — sandwich norm (Gemma 3), else empty
  std::vector<float> ffn_norm;        // [hidden] before the MLP
  std::vector<float> post_ffn_norm;   // [hidden] — sandwich norm (Gemma 3), else empty
  QMatrix w_gate, w_up, w_down;       // [ffn, hidden] ×2, [hidden, ffn]
};

struct Model::Weights {
  QMatrix tok_embd;               // [vocab, hidden]
  QMatrix output;                 // [vocab, hidden]; the same view as tok_embd when tied
  std::vector<float> out_norm;    // [hidden]
  std::vector<LayerWeights> layers;
  int64_t mapped_bytes = 0;       // bytes of the mapping the matrices cover
  int64_t owned_bytes = 0;        // bytes of the f32 vectors
};

// Loads every tensor the config asks for through the name map, checking shapes.
void load_weights(const ModelFile& f, const ModelConfig& cfg, Model::Weights& w);

// Name map: the file's name of an internal tensor, for GGUF and for HF safetensors.
enum class TensorRole : uint8_t {
  tok_embd, output, out_norm,
  attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm, post_attn_norm,
  ffn_norm, post_ffn_norm, w_gate, w_up, w_down,
};
std::string tensor_name(const ModelConfig& cfg, TensorRole role, int32_t layer = -1);

}  // namespace eft
