// Gemma 3 (text): MQA/GQA, QK-norm, sandwich norms (after attention and after the MLP as well as
// before), GeGLU (tanh GELU), embeddings × √hidden, RMSNorm with (1 + w) — GGUF files store 1 + w
// already (llama.cpp's converter adds the one), HF checkpoints store w and get the one added at
// load — and interleaved layers: every `pattern`-th layer is global, the others slide over a
// window with their own RoPE base (10000 against 1e6 for the global ones).
#include <cmath>

#include "model/arch.h"

namespace eft {
namespace {

constexpr float kLocalRopeBase = 10000.f;  // Gemma 3's local layers (HF rope_local_base_freq default)
constexpr int32_t kDefaultPattern = 6;     // five local layers, then one global

void common(ModelConfig& c) {
  c.rope_style = RopeStyle::neox;
  c.act = Activation::gelu_tanh;
  c.qk_norm = true;
  c.sandwich_norm = true;
  c.embed_scale = std::sqrt(float(c.hidden));
}

void pattern_windows(ModelConfig& c, int32_t window, int32_t pattern) {
  c.layer_window.clear();
  for (int32_t l = 0; l < c.n_layers; ++l) c.layer_window.push_back((l + 1) % pattern != 0 ? window : 0);
}

void gemma3_gguf(const ModelFile& f, const std::string& p, ModelConfig& c) {
  common(c);
  const int32_t hd = c.head_dim ? c.head_dim : c.hidden / c.n_heads;
  // Gemma 3 scales queries by query_pre_attn_scalar^-1/2, which GGUF does not record; it equals
  // head_dim for every size but 27B, where it is hidden / heads (llama.cpp makes the same choice).
  c.attn_scale = c.hidden == 5376 ? 1.f / std::sqrt(float(c.hidden / c.n_heads)) : 1.f / std::sqrt(float(hd));
  c.rope_base_local = kLocalRopeBase;
  const std::string wk = p + "attention.sliding_window";
  check(f.has(wk), "{}: gemma3 file has no {}", f.path(), wk);
  const int64_t w = f.get_int(wk);
  check(w > 0 && w < (1ll << 30), "{}: {} = {} is out of range", f.path(), wk, w);
  int32_t pattern = kDefaultPattern;
  const std::string pk = p + "attention.sliding_window_pattern";
  const bool per_layer = f.has(pk) && std::holds_alternative<MetaValue::Array>(f.metadata().at(pk).v);
  if (f.has(pk) && !per_layer) {
    const int64_t v = f.get_int(pk);
    check(v > 0 && v <= c.n_layers, "{}: {} = {} is out of range (1 .. {})", f.path(), pk, v, c.n_layers);
    pattern = int32_t(v);
  }
  if (per_layer) {
    // Newer converters write one flag per layer (true = sliding window).
    const auto& arr = f.get_array(pk);
    check(std::holds_alternative<std::vector<bool>>(arr), "{}: {} is not an array of booleans", f.path(), pk);
    const auto& flags = std::get<std::vector<bool>>(arr);
    check(int64_t(flags.size()) == c.n_layers, "{}: {} has {} entries for {} layers", f.path(), pk, flags.size(),
          c.n_layers);
    c.layer_window.clear();
    for (bool b : flags) c.layer_window.push_back(b ? int32_t(w) : 0);
  } else {
    pattern_windows(c, int32_t(w), pattern);
  }
}

void gemma3_hf(const nlohmann::json& j, ModelConfig& c) {
  common(c);
  c.attn_scale = 1.f / std::sqrt(float(j.value("query_pre_attn_scalar", double(c.head_dim ? c.head_dim : 256))));
  c.rope_base_local = float(j.value("rope_local_base_freq", double(kLocalRopeBase)));
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    if (rp.contains("full_attention")) {
      c.rope_base = float(rp["full_attention"].value("rope_theta", double(c.rope_base)));
      if (rp["full_attention"].value("rope_type", "default") == "linear")
        c.rope_scale = float(rp["full_attention"].value("factor", 1.0));
    }
    if (rp.contains("sliding_attention"))
      c.rope_base_local = float(rp["sliding_attention"].value("rope_theta", double(c.rope_base_local)));
  }
  if (c.layer_window.empty()) {
    check(j.contains("sliding_window") && j["sliding_window"].is_number_integer(),
          "gemma3 config.json has no integer sliding_window");
    pattern_windows(c, j["sliding_window"].get<int32_t>(), j.value("sliding_window_pattern", kDefaultPattern));
  }
}

// x += post_attn_norm(attn(attn_norm(x))); x += post_ffn_norm(mlp(ffn_norm(x)))
void gemma3_layer(LayerCtx& ctx) {
  const ModelConfig& c = ctx.cfg;
  auto& ws = ctx.ws;
  const int64_t T = ctx.T, n = T * c.hidden;
  rms_norm(ws.x.data(), ctx.w.attn_norm.data(), T, c.hidden, c.norm_eps, ws.h.data());
  attention_block(ctx);
  rms_norm(ws.o.data(), ctx.w.post_attn_norm.data(), T, c.hidden, c.norm_eps, ws.o.data());
  add_inplace(ws.x.data(), ws.o.data(), n);
  rms_norm(ws.x.data(), ctx.w.ffn_norm.data(), T, c.hidden, c.norm_eps, ws.h.data());
  gated_mlp(ctx);
  rms_norm(ws.o.data(), ctx.w.post_ffn_norm.data(), T, c.hidden, c.norm_eps, ws.o.data());
  add_inplace(ws.x.data(), ws.o.data(), n);
}

}  // namespace

const ArchSpec& gemma3_arch() {
  static const ArchSpec a{"gemma3", {"gemma3"}, {"gemma3_text"}, gemma3_gguf, gemma3_hf, gemma3_layer};
  return a;
}

}  // namespace eft
