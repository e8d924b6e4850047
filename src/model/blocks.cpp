// Shared blocks: norms, RoPE, attention through the paged cache, gated MLPs.
#include "model/blocks.h"

#include <cmath>

#include "eft/error.h"
#include "eft/parallel.h"

namespace eft {

int64_t Model::Workspace::bytes() const {
  int64_t b = 0;
  for (const auto* v : {&x, &h, &q, &k, &v, &att, &o, &gate, &up, &rope_cos_global, &rope_sin_global,
                        &rope_cos_local, &rope_sin_local})
    b += int64_t(v->capacity() * sizeof(float));
  b += int64_t((pos.capacity() + q_start.capacity() + kv_len.capacity() + q_pos0.capacity()) * 4);
  b += int64_t(kv_stage.capacity());
  return b;
}

void Model::Workspace::reserve(const ModelConfig& c, int64_t T) {
  const int64_t qd = int64_t(c.n_heads) * c.head_dim, kvd = int64_t(c.n_kv_heads) * c.head_dim;
  const int64_t half = c.rope_dim / 2;
  x.resize(T * c.hidden);
  h.resize(T * c.hidden);
  q.resize(T * qd);
  k.resize(T * kvd);
  v.resize(T * kvd);
  att.resize(T * qd);
  o.resize(T * c.hidden);
  gate.resize(T * c.ffn);
  up.resize(T * c.ffn);
  rope_cos_global.resize(T * half);
  rope_sin_global.resize(T * half);
  rope_cos_local.resize(T * half);
  rope_sin_local.resize(T * half);
  pos.resize(T);
}

void rms_norm(const float* x, const float* w, int64_t T, int64_t n, float eps, float* y) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * n;
    float* yr = y + t * n;
    // Sum of squares in double: the HF reference sums in float32 with a pairwise reduction, so
    // the more exact sum keeps us within rounding of it for every width.
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
    const float r = 1.0f / std::sqrt(float(ss / double(n)) + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * r) * w[i];
  }
}

void rope_table(const int32_t* pos, int64_t T, int32_t rot, float base, float scale, float* cos_out,
                float* sin_out) {
  const int32_t half = rot / 2;
  std::vector<float> inv(half);
  for (int32_t i = 0; i < half; ++i) inv[i] = 1.0f / std::pow(base, float(2 * i) / float(rot));
  for (int64_t t = 0; t < T; ++t)
    for (int32_t i = 0; i < half; ++i) {
      // Linear scaling divides the position (HF divides inv_freq by the factor: the same angle).
      const float ang = (inv[i] / scale) * float(pos[t]);
      cos_out[t * half + i] = float(std::cos(double(ang)));
      sin_out[t * half + i] = float(std::sin(double(ang)));
    }
}

void rope_apply(float* x, int64_t T, int32_t heads, int32_t head_dim, int32_t rot, RopeStyle style,
                const float* cos_t, const float* sin_t) {
  const int32_t half = rot / 2;
  for (int64_t t = 0; t < T; ++t) {
    const float* c = cos_t + t * half;
    const float* s = sin_t + t * half;
    for (int32_t hh = 0; hh < heads; ++hh) {
      float* p = x + (t * heads + hh) * head_dim;
      if (style == RopeStyle::neox) {
        for (int32_t i = 0; i < half; ++i) {
          const float a = p[i], b = p[i + half];
          p[i] = a * c[i] - b * s[i];
          p[i + half] = b * c[i] + a * s[i];
        }
      } else {
        for (int32_t i = 0; i < half; ++i) {
          const float a = p[2 * i], b = p[2 * i + 1];
          p[2 * i] = a * c[i] - b * s[i];
          p[2 * i + 1] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

void add_bias(float* x, const float* b, int64_t T, int64_t n) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += b[i];
}

void add_inplace(float* x, const float* y, int64_t n_total) {
  for (int64_t i = 0; i < n_total; ++i) x[i] += y[i];
}

namespace {

// Stores the new tokens' K and V rows [T, kv_heads * head_dim] (f32) in the layer's pages, one
// sequence at a time: with sliding windows the page of a token depends on the layer's group.
void write_cache(LayerCtx& ctx, const float* k, const float* v, int64_t row) {
  auto& ws = ctx.ws;
  const DType dt = ctx.cache.config().dtype;
  for (int32_t s = 0; s < ctx.n_seqs; ++s) {
    const int32_t r0 = ws.q_start[size_t(s)], n = ws.q_start[size_t(s) + 1] - r0;
    const float* ks = k + int64_t(r0) * row;
    const float* vs = v + int64_t(r0) * row;
    if (dt == DType::f32) {
      ctx.cache.write(ctx.layer, ctx.seqs[size_t(s)], ws.q_pos0[size_t(s)], n, ks, vs);
    } else {  // f16 / bf16 pools: convert into staging rows first
      const size_t bytes = size_t(n) * size_t(row) * dtype_size(dt);
      ws.kv_stage.resize(2 * bytes);
      convert(ks, DType::f32, ws.kv_stage.data(), dt, size_t(n) * size_t(row));
      convert(vs, DType::f32, ws.kv_stage.data() + bytes, dt, size_t(n) * size_t(row));
      ctx.cache.write(ctx.layer, ctx.seqs[size_t(s)], ws.q_pos0[size_t(s)], n, ws.kv_stage.data(),
                      ws.kv_stage.data() + bytes);
    }
  }
}

}  // namespace

void attention_block(LayerCtx& ctx) {
  const ModelConfig& c = ctx.cfg;
  const LayerWeights& w = ctx.w;
  auto& ws = ctx.ws;
  const int64_t T = ctx.T;
  const int64_t qd = int64_t(c.n_heads) * c.head_dim, kvd = int64_t(c.n_kv_heads) * c.head_dim;

  matmul(w.wq, ws.h.data(), T, ws.q.data(), ctx.opt.matmul);
  matmul(w.wk, ws.h.data(), T, ws.k.data(), ctx.opt.matmul);
  matmul(w.wv, ws.h.data(), T, ws.v.data(), ctx.opt.matmul);
  if (!w.bq.empty()) add_bias(ws.q.data(), w.bq.data(), T, qd);
  if (!w.bk.empty()) add_bias(ws.k.data(), w.bk.data(), T, kvd);
  if (!w.bv.empty()) add_bias(ws.v.data(), w.bv.data(), T, kvd);
  if (!w.q_norm.empty()) {  // QK-norm: every head row normalized on its own
    rms_norm(ws.q.data(), w.q_norm.data(), T * c.n_heads, c.head_dim, c.norm_eps, ws.q.data());
    rms_norm(ws.k.data(), w.k_norm.data(), T * c.n_kv_heads, c.head_dim, c.norm_eps, ws.k.data());
  }
  const int32_t window = c.layer_window[ctx.layer];
  const bool local = window > 0 && c.rope_base_local > 0.f;
  const float* cs = local ? ws.rope_cos_local.data() : ws.rope_cos_global.data();
  const float* sn = local ? ws.rope_sin_local.data() : ws.rope_sin_global.data();
  rope_apply(ws.q.data(), T, c.n_heads, c.head_dim, c.rope_dim, c.rope_style, cs, sn);
  rope_apply(ws.k.data(), T, c.n_kv_heads, c.head_dim, c.rope_dim, c.rope_style, cs, sn);

  write_cache(ctx, ws.k.data(), ws.v.data(), kvd);

  AttentionParams p;
  p.q_heads = c.n_heads;
  p.kv_heads = c.n_kv_heads;
  p.head_dim = c.head_dim;
  p.scale = c.attn_scale;
  p.softcap = c.attn_softcap;
  p.method = ctx.opt.method;
  p.linear = ctx.opt.linear;
  // A sliding window of w tokens: the query itself and the w-1 before it (HF: kv > q - w).
  // Linear attention knows only causal masks; it approximates the local layers with causal
  // attention over the whole prefix (the CLI warns that linear is an approximation).
  if (window > 0 && p.method != AttnMethod::linear) p.mask = mask_window(window - 1, 0);
  else p.mask = mask_causal();

  AttentionArgs a;
  a.q = ws.q.data();
  a.q_dtype = DType::f32;
  a.kv = ctx.view.kv(ctx.layer, ctx.cache);
  a.o = ws.att.data();
  a.o_dtype = DType::f32;
  a.batch.n_seqs = ctx.n_seqs;
  a.batch.q_start = ws.q_start.data();
  a.batch.kv_len = ws.kv_len.data();
  a.batch.q_pos0 = ws.q_pos0.data();
  attention_cpu(p, a);

  matmul(w.wo, ws.att.data(), T, ws.o.data(), ctx.opt.matmul);
}

namespace {
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
// GELU with the tanh approximation (PyTorch's approximate="tanh", Gemma's gelu_pytorch_tanh).
inline float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}
}  // namespace

void gated_mlp(LayerCtx& ctx) {
  const ModelConfig& c = ctx.cfg;
  auto& ws = ctx.ws;
  const int64_t T = ctx.T, n = T * c.ffn;
  matmul(ctx.w.w_gate, ws.h.data(), T, ws.gate.data(), ctx.opt.matmul);
  matmul(ctx.w.w_up, ws.h.data(), T, ws.up.data(), ctx.opt.matmul);
  float* g = ws.gate.data();
  const float* u = ws.up.data();
  if (c.act == Activation::silu)
    for (int64_t i = 0; i < n; ++i) g[i] = silu(g[i]) * u[i];
  else
    for (int64_t i = 0; i < n; ++i) g[i] = gelu_tanh(g[i]) * u[i];
  matmul(ctx.w.w_down, ws.gate.data(), T, ws.o.data(), ctx.opt.matmul);
}

void prenorm_layer(LayerCtx& ctx) {
  const ModelConfig& c = ctx.cfg;
  auto& ws = ctx.ws;
  const int64_t n = ctx.T * c.hidden;
  rms_norm(ws.x.data(), ctx.w.attn_norm.data(), ctx.T, c.hidden, c.norm_eps, ws.h.data());
  attention_block(ctx);
  add_inplace(ws.x.data(), ws.o.data(), n);
  rms_norm(ws.x.data(), ctx.w.ffn_norm.data(), ctx.T, c.hidden, c.norm_eps, ws.h.data());
  gated_mlp(ctx);
  add_inplace(ws.x.data(), ws.o.data(), n);
}

}  // namespace eft
