#pragma once
// Shared building blocks of every architecture: RMSNorm, RoPE (interleaved / NeoX, per-layer
// base), the attention block through attention_cpu over the paged cache, and gated MLPs.
// All activations are f32, rows of one token each.
#include <cstdint>
#include <vector>

#include "eft/attention.h"
#include "eft/kv_cache.h"
#include "eft/model.h"
#include "model/weights.h"

namespace eft {

// Activation buffers of one forward call, grown to the largest batch seen and then reused.
struct Model::Workspace {
  std::vector<float> x;      // [T, hidden] residual stream
  std::vector<float> h;      // [T, hidden] normed input of a block
  std::vector<float> q;      // [T, heads * head_dim]
  std::vector<float> k;      // [T, kv_heads * head_dim]
  std::vector<float> v;      // [T, kv_heads * head_dim]
  std::vector<float> att;    // [T, heads * head_dim] attention output
  std::vector<float> o;      // [T, hidden] block output before the residual add
  std::vector<float> gate;   // [T, ffn]
  std::vector<float> up;     // [T, ffn]
  std::vector<float> rope_cos_global, rope_sin_global;  // [T, rope_dim / 2]
  std::vector<float> rope_cos_local, rope_sin_local;    // [T, rope_dim / 2]
  std::vector<int32_t> pos;       // [T] absolute position of each token
  std::vector<uint8_t> kv_stage;  // [2, T, kv_heads * head_dim] K then V in a 16-bit cache dtype
  std::vector<int32_t> q_start;   // [n_seqs + 1]
  std::vector<int32_t> kv_len;    // [n_seqs]
  std::vector<int32_t> q_pos0;    // [n_seqs]
  int64_t bytes() const;
  void reserve(const ModelConfig& c, int64_t T);
};

struct LayerCtx {
  const ModelConfig& cfg;
  const LayerWeights& w;
  int32_t layer;
  int64_t T;  // tokens in the batch
  Model::Workspace& ws;
  PagedKvCache& cache;
  const PagedKvCache::BatchView& view;
  const std::vector<SeqId>& seqs;  // [n_seqs]
  int32_t n_seqs;
  const ForwardOptions& opt;
};

// y[T, n] = rmsnorm(x[T, n]) * w. Gemma's (1 + w) is folded into w at load.
void rms_norm(const float* x, const float* w, int64_t T, int64_t n, float eps, float* y);
// Precomputes cos/sin [T, rot/2] for the tokens' positions with the given base and scaling,
// rounding as HF does in float32 (inv_freq = 1 / base^(2i/rot), angle = inv_freq · pos).
void rope_table(const int32_t* pos, int64_t T, int32_t rot, float base, float scale, float* cos_out,
                float* sin_out);
// Rotates the first `rot` dims of each of `heads` heads in x[T, heads * head_dim] in place.
void rope_apply(float* x, int64_t T, int32_t heads, int32_t head_dim, int32_t rot, RopeStyle style,
                const float* cos_t, const float* sin_t);
// x[T, n] += b[n]
void add_bias(float* x, const float* b, int64_t T, int64_t n);
// x[T, n] += y[T, n]
void add_inplace(float* x, const float* y, int64_t n_total);

// The attention block on ctx.ws.h: projections, biases, QK-norm, RoPE, cache write, attention,
// output projection into ctx.ws.o [T, hidden].
void attention_block(LayerCtx& ctx);
// The gated MLP on ctx.ws.h: o = down(act(gate(h)) * up(h)) into ctx.ws.o [T, hidden].
void gated_mlp(LayerCtx& ctx);
// The pre-norm layer of Llama and Qwen2: x += attn(norm(x)); x += mlp(norm(x)).
void prenorm_layer(LayerCtx& ctx);

}  // namespace eft
