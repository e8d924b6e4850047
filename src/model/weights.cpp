// Loads the internal weight layout from a model file through the name map, checking every shape
// against the hyperparameters so a wrong file fails at load with the tensor's name, not later.
#include <fmt/ranges.h>

#include "eft/error.h"
#include "eft/model_file.h"
#include "model/weights.h"

namespace eft {

namespace {

struct Loader {
  const ModelFile& f;
  const ModelConfig& c;
  Model::Weights& w;

  const TensorInfo& get(TensorRole r, int32_t layer) { return f.get(tensor_name(c, r, layer)); }

  void check_shape(const TensorInfo& t, std::vector<int64_t> want) {
    check(t.shape == want, "{}: tensor {} has shape [{}], expected [{}] for this {} model", f.path(), t.name,
          fmt::join(t.shape, ", "), fmt::join(want, ", "), c.arch);
  }

  QMatrix matrix(TensorRole r, int32_t layer, int64_t rows, int64_t cols) {
    const TensorInfo& t = get(r, layer);
    check_shape(t, {rows, cols});
    check(t.nbytes == size_t(rows) * qtype_row_bytes(t.type, cols),
          "{}: tensor {} holds {} bytes, expected {} for [{}, {}] of type {}", f.path(), t.name, t.nbytes,
          size_t(rows) * qtype_row_bytes(t.type, cols), rows, cols, qtype_name(t.type));
    w.mapped_bytes += int64_t(t.nbytes);
    return QMatrix{t.type, t.data, rows, cols};
  }

  // A vector dequantized to f32; `plus_one` folds Gemma's (1 + w) into HF checkpoints' norms.
  std::vector<float> vec(TensorRole r, int32_t layer, int64_t n, bool plus_one = false) {
    const TensorInfo& t = get(r, layer);
    check_shape(t, {n});
    check(t.nbytes == qtype_row_bytes(t.type, n), "{}: tensor {} holds {} bytes, expected {}", f.path(), t.name,
          t.nbytes, qtype_row_bytes(t.type, n));
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(t.type, t.data, out.data(), n);
    if (plus_one)
      for (float& x : out) x += 1.f;
    w.owned_bytes += n * 4;
    return out;
  }
};

}  // namespace

void load_weights(const ModelFile& f, const ModelConfig& c, Model::Weights& w) {
  Loader L{f, c, w};
  const int64_t H = c.hidden, qd = int64_t(c.n_heads) * c.head_dim, kvd = int64_t(c.n_kv_heads) * c.head_dim;
  // HF Gemma stores w and computes x · (1 + w); GGUF stores 1 + w already.
  const bool plus_one = c.arch == "gemma3" && c.source != "gguf";
  w.tok_embd = L.matrix(TensorRole::tok_embd, -1, c.vocab, H);
  if (c.tied_embeddings) {
    w.output = w.tok_embd;
  } else {
    w.output = L.matrix(TensorRole::output, -1, c.vocab, H);
  }
  w.out_norm = L.vec(TensorRole::out_norm, -1, H, plus_one);
  w.layers.resize(size_t(c.n_layers));
  for (int32_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& lw = w.layers[size_t(l)];
    lw.attn_norm = L.vec(TensorRole::attn_norm, l, H, plus_one);
    lw.wq = L.matrix(TensorRole::wq, l, qd, H);
    lw.wk = L.matrix(TensorRole::wk, l, kvd, H);
    lw.wv = L.matrix(TensorRole::wv, l, kvd, H);
    lw.wo = L.matrix(TensorRole::wo, l, H, qd);
    if (c.qkv_bias) {
      lw.bq = L.vec(TensorRole::bq, l, qd);
      lw.bk = L.vec(TensorRole::bk, l, kvd);
      lw.bv = L.vec(TensorRole::bv, l, kvd);
    }
    if (c.qk_norm) {
      lw.q_norm = L.vec(TensorRole::q_norm, l, c.head_dim, plus_one);
      lw.k_norm = L.vec(TensorRole::k_norm, l, c.head_dim, plus_one);
    }
    lw.ffn_norm = L.vec(TensorRole::ffn_norm, l, H, plus_one);
    if (c.sandwich_norm) {
      lw.post_attn_norm = L.vec(TensorRole::post_attn_norm, l, H, plus_one);
      lw.post_ffn_norm = L.vec(TensorRole::post_ffn_norm, l, H, plus_one);
    }
    lw.w_gate = L.matrix(TensorRole::w_gate, l, c.ffn, H);
    lw.w_up = L.matrix(TensorRole::w_up, l, c.ffn, H);
    lw.w_down = L.matrix(TensorRole::w_down, l, H, c.ffn);
  }
}

}  // namespace eft
