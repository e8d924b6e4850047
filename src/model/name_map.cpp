// One name map from both file formats to the internal layout (weights.h).
#include <fmt/format.h>

#include "eft/error.h"
#include "model/weights.h"

namespace eft {

namespace {

const char* gguf_layer(TensorRole r) {
  switch (r) {
    case TensorRole::attn_norm: return "attn_norm.weight";
    case TensorRole::wq: return "attn_q.weight";
    case TensorRole::wk: return "attn_k.weight";
    case TensorRole::wv: return "attn_v.weight";
    case TensorRole::wo: return "attn_output.weight";
    case TensorRole::bq: return "attn_q.bias";
    case TensorRole::bk: return "attn_k.bias";
    case TensorRole::bv: return "attn_v.bias";
    case TensorRole::q_norm: return "attn_q_norm.weight";
    case TensorRole::k_norm: return "attn_k_norm.weight";
    case TensorRole::post_attn_norm: return "post_attention_norm.weight";
    case TensorRole::ffn_norm: return "ffn_norm.weight";
    case TensorRole::post_ffn_norm: return "post_ffw_norm.weight";
    case TensorRole::w_gate: return "ffn_gate.weight";
    case TensorRole::w_up: return "ffn_up.weight";
    case TensorRole::w_down: return "ffn_down.weight";
    default: return nullptr;
  }
}

// HF names differ by family in one place: "post_attention_layernorm" is the norm before the MLP
// in Llama/Qwen2 but the norm after attention in Gemma 3 (which calls its pre-MLP norm
// "pre_feedforward_layernorm").
const char* hf_layer(TensorRole r, bool sandwich) {
  switch (r) {
    case TensorRole::attn_norm: return "input_layernorm.weight";
    case TensorRole::wq: return "self_attn.q_proj.weight";
    case TensorRole::wk: return "self_attn.k_proj.weight";
    case TensorRole::wv: return "self_attn.v_proj.weight";
    case TensorRole::wo: return "self_attn.o_proj.weight";
    case TensorRole::bq: return "self_attn.q_proj.bias";
    case TensorRole::bk: return "self_attn.k_proj.bias";
    case TensorRole::bv: return "self_attn.v_proj.bias";
    case TensorRole::q_norm: return "self_attn.q_norm.weight";
    case TensorRole::k_norm: return "self_attn.k_norm.weight";
    case TensorRole::post_attn_norm: return sandwich ? "post_attention_layernorm.weight" : nullptr;
    case TensorRole::ffn_norm: return sandwich ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
    case TensorRole::post_ffn_norm: return sandwich ? "post_feedforward_layernorm.weight" : nullptr;
    case TensorRole::w_gate: return "mlp.gate_proj.weight";
    case TensorRole::w_up: return "mlp.up_proj.weight";
    case TensorRole::w_down: return "mlp.down_proj.weight";
    default: return nullptr;
  }
}

}  // namespace

std::string tensor_name(const ModelConfig& cfg, TensorRole role, int32_t layer) {
  const bool gguf = cfg.source == "gguf";
  switch (role) {
    case TensorRole::tok_embd: return gguf ? "token_embd.weight" : "model.embed_tokens.weight";
    case TensorRole::output: return gguf ? "output.weight" : "lm_head.weight";
    case TensorRole::out_norm: return gguf ? "output_norm.weight" : "model.norm.weight";
    default: break;
  }
  check(layer >= 0 && layer < cfg.n_layers, "tensor_name: layer {} out of range (model has {})", layer, cfg.n_layers);
  const char* n = gguf ? gguf_layer(role) : hf_layer(role, cfg.sandwich_norm);
  check(n != nullptr, "tensor_name: role {} has no name in a {} {} model", int(role), cfg.source, cfg.arch);
  return gguf ? fmt::format("blk.{}.{}", layer, n) : fmt::format("model.layers.{}.{}", layer, n);
}

}  // namespace eft
