// `eft inspect MODEL`: architecture, hyperparameters, tensor types, and what the KV cache costs
// per token with this model's layout (GQA/MQA, sliding windows) against MHA of the same width.
#include <algorithm>
#include <cstdio>
#include <map>

#include "commands.h"
#include "eft/error.h"
#include "eft/model.h"
#include "eft/model_file.h"

namespace eft::cli {
namespace {

std::string human(double b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) b /= 1024, ++i;
  return fmt::format("{:.1f} {}", b, u[i]);
}

// KV bytes a sequence of `ctx` tokens holds: global layers keep every token, sliding-window layers
// at most their window (the paged cache frees blocks that left the window).
double kv_bytes_at(const ModelConfig& c, int64_t ctx, int32_t kv_heads, int64_t elem) {
  double b = 0;
  for (int32_t w : c.layer_window) b += double(w > 0 ? std::min<int64_t>(ctx, w) : ctx);
  return b * 2.0 * kv_heads * c.head_dim * elem;
}

void inspect(const std::string& path) {
  auto f = open_model_file(path);
  const ModelConfig c = read_model_config(*f);
  std::printf("file:          %s (%s)\n", path.c_str(), f->format().c_str());
  if (f->has("general.name")) std::printf("name:          %s\n", f->get_string("general.name").c_str());
  std::printf("architecture:  %s\n", c.arch.c_str());
  std::printf("layers:        %d\nhidden:        %d\nffn:           %d (%s)\n", c.n_layers, c.hidden, c.ffn,
              c.act == Activation::silu ? "SwiGLU" : "GeGLU, tanh GELU");
  const char* kind = c.n_kv_heads == 1 ? "MQA" : c.n_kv_heads == c.n_heads ? "MHA" : "GQA";
  std::printf("heads:         %d query, %d key/value (%s, %d queries per KV head), head_dim %d\n", c.n_heads,
              c.n_kv_heads, kind, c.n_heads / c.n_kv_heads, c.head_dim);
  std::printf("vocab:         %d%s\n", c.vocab, c.tied_embeddings ? " (output tied to the embedding)" : "");
  std::printf("context:       %d\n", c.max_context);
  std::printf("norm:          RMSNorm eps %g%s%s\n", c.norm_eps, c.sandwich_norm ? ", sandwich (pre + post)" : "",
              c.qk_norm ? ", QK-norm" : "");
  std::printf("rope:          %s pairing, %d dims, base %g%s", c.rope_style == RopeStyle::neox ? "NeoX" : "interleaved",
              c.rope_dim, c.rope_base, c.rope_scale != 1.f ? fmt::format(" (linear scale {})", c.rope_scale).c_str() : "");
  if (c.rope_base_local > 0.f) std::printf(", local layers base %g", c.rope_base_local);
  std::printf("\n");
  if (c.qkv_bias) std::printf("bias:          Q, K, V projections\n");
  if (c.embed_scale != 1.f) std::printf("embed scale:   %g (sqrt(hidden))\n", c.embed_scale);
  int32_t n_local = 0, window = 0;
  std::string pattern;
  for (int32_t w : c.layer_window) {
    n_local += w > 0;
    window = std::max(window, w);
    pattern += w > 0 ? 'L' : 'G';
  }
  if (n_local > 0)
    std::printf("attention:     %d sliding-window layers (window %d) and %d global: %s\n", n_local, window,
                c.n_layers - n_local, pattern.c_str());

  std::map<std::string, std::pair<int, int64_t>> types;
  int64_t params = 0, bytes = 0;
  for (const TensorInfo& t : f->tensors()) {
    auto& e = types[std::string(qtype_name(t.type))];
    e.first += 1;
    e.second += int64_t(t.nbytes);
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
    bytes += int64_t(t.nbytes);
  }
  std::printf("tensors:       %zu, %.1f M parameters, %s (%.2f bits/parameter)\n", f->tensors().size(), params / 1e6,
              human(double(bytes)).c_str(), 8.0 * double(bytes) / double(std::max<int64_t>(params, 1)));
  for (const auto& [name, e] : types)
    std::printf("  %-6s %4d tensors  %s\n", name.c_str(), e.first, human(double(e.second)).c_str());

  // The lecture's formula: 2 (K and V) × layers × kv_heads × head_dim × bytes per element.
  for (int64_t elem : {4, 2}) {
    const char* dt = elem == 4 ? "f32" : "f16";
    std::printf("KV cache per token (%s): 2 x %d layers x %d kv_heads x %d head_dim x %lld B = %s;"
                " MHA (%d kv_heads) would be %s (%.0fx)\n",
                dt, c.n_layers, c.n_kv_heads, c.head_dim, (long long)elem,
                human(double(c.kv_bytes_per_token(elem == 4 ? DType::f32 : DType::f16))).c_str(), c.n_heads,
                human(double(c.mha_kv_bytes_per_token(elem == 4 ? DType::f32 : DType::f16))).c_str(),
                double(c.n_heads) / c.n_kv_heads);
  }
  std::printf("KV cache per sequence (f16)%s:\n  %8s %14s %14s\n", n_local ? ", sliding layers capped at the window" : "",
              "context", "this model", "MHA");
  for (int64_t ctx : {512, 2048, 8192, 32768})
    std::printf("  %8lld %14s %14s\n", (long long)ctx, human(kv_bytes_at(c, ctx, c.n_kv_heads, 2)).c_str(),
                human(kv_bytes_at(c, ctx, c.n_heads, 2)).c_str());
}

CommandRegistrar reg([](CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* sc = app.add_subcommand("inspect", "architecture, hyperparameters, tensor types and KV-cache cost");
  sc->add_option("model", *path, "GGUF file, safetensors file or directory")->required();
  sc->callback([path] { inspect(*path); });
});

}  // namespace
}  // namespace eft::cli
