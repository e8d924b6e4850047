// Model: load, and the forward pass over a batch of sequences mixing prefill and decode tokens.
#include <cmath>
#include <cstring>
#include <set>

#include "eft/error.h"
#include "eft/model_file.h"
#include "model/arch.h"

namespace eft {

Model::Model() = default;
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path) {
  return load(std::shared_ptr<ModelFile>(open_model_file(path)));
}

std::unique_ptr<Model> Model::load(std::shared_ptr<ModelFile> file) {
  check(file != nullptr, "Model::load: no model file");
  std::unique_ptr<Model> m(new Model());
  m->file_ = std::move(file);
  m->cfg_ = read_model_config(*m->file_);
  m->w_ = std::make_unique<Weights>();
  load_weights(*m->file_, m->cfg_, *m->w_);
  m->ws_ = std::make_unique<Workspace>();
  return m;
}

KvCacheConfig Model::kv_cache_config(int32_t n_blocks, int32_t block_size, DType dtype) const {
  KvCacheConfig k;
  k.n_layers = cfg_.n_layers;
  k.kv_heads = cfg_.n_kv_heads;  // MQA/GQA: the cache holds kv_heads, never one copy per query head
  k.head_dim = cfg_.head_dim;
  k.block_size = block_size;
  k.n_blocks = n_blocks;
  k.dtype = dtype;
  k.layer_window = cfg_.layer_window;
  return k;
}

MemoryByKind Model::memory() const {
  MemoryByKind m;
  m.weights_mapped = w_->mapped_bytes;
  m.weights_owned = w_->owned_bytes;
  m.workspace = ws_->bytes();
  return m;
}

namespace {

void validate_batch(const ForwardBatch& b, const ModelConfig& c, const PagedKvCache& cache) {
  check(!b.seqs.empty(), "forward: the batch has no sequences");
  check(b.seqs.size() == b.n_new.size(), "forward: {} sequences but {} n_new entries", b.seqs.size(),
        b.n_new.size());
  int64_t total = 0;
  std::set<SeqId> seen;
  for (size_t i = 0; i < b.seqs.size(); ++i) {
    check(b.n_new[i] >= 1, "forward: n_new[{}] = {} (each sequence needs at least one new token)", i, b.n_new[i]);
    check(seen.insert(b.seqs[i]).second, "forward: sequence {} appears twice in one batch", b.seqs[i]);
    total += b.n_new[i];
  }
  check(int64_t(b.tokens.size()) == total, "forward: {} tokens given but n_new sums to {}", b.tokens.size(), total);
  for (size_t i = 0; i < b.tokens.size(); ++i)
    check(b.tokens[i] >= 0 && b.tokens[i] < c.vocab, "forward: token id {} at index {} is outside the vocabulary (0 .. {})",
          b.tokens[i], i, c.vocab - 1);
  const KvCacheConfig& k = cache.config();
  check(k.n_layers == c.n_layers && k.kv_heads == c.n_kv_heads && k.head_dim == c.head_dim,
        "forward: cache layout (layers {}, kv_heads {}, head_dim {}) does not match the model ({}, {}, {})", k.n_layers,
        k.kv_heads, k.head_dim, c.n_layers, c.n_kv_heads, c.head_dim);
}

}  // namespace

void Model::forward(const ForwardBatch& b, PagedKvCache& cache, const ForwardOptions& opt, std::vector<float>& logits) {
  const ModelConfig& c = cfg_;
  validate_batch(b, c, cache);
  const int32_t n_seqs = int32_t(b.seqs.size());
  const int64_t T = int64_t(b.tokens.size());
  Workspace& ws = *ws_;
  ws.reserve(c, T);
  ws.q_start.assign(size_t(n_seqs) + 1, 0);
  ws.kv_len.assign(size_t(n_seqs), 0);
  ws.q_pos0.assign(size_t(n_seqs), 0);

  // Room in the cache for every sequence, all or none.
  std::vector<int32_t> old_len(static_cast<size_t>(n_seqs));
  for (int32_t s = 0; s < n_seqs; ++s) old_len[size_t(s)] = cache.length(b.seqs[size_t(s)]);
  int32_t appended = 0;
  auto rollback = [&] {
    for (int32_t s = 0; s < appended; ++s) cache.truncate(b.seqs[size_t(s)], old_len[size_t(s)]);
  };
  try {
    for (; appended < n_seqs; ++appended) cache.append(b.seqs[size_t(appended)], b.n_new[size_t(appended)]);
  } catch (...) {
    rollback();
    throw;
  }

  try {
    int64_t t = 0;
    for (int32_t s = 0; s < n_seqs; ++s) {
      const int32_t n = b.n_new[size_t(s)], p0 = old_len[size_t(s)];
      ws.q_start[size_t(s) + 1] = ws.q_start[size_t(s)] + n;
      ws.kv_len[size_t(s)] = p0 + n;
      ws.q_pos0[size_t(s)] = p0;
      for (int32_t r = 0; r < n; ++r, ++t) {
        ws.pos[size_t(t)] = p0 + r;
      }
    }
    // RoPE tables once per call: global layers (with linear scaling) and local layers.
    rope_table(ws.pos.data(), T, c.rope_dim, c.rope_base, c.rope_scale, ws.rope_cos_global.data(),
               ws.rope_sin_global.data());
    if (c.rope_base_local > 0.f)
      rope_table(ws.pos.data(), T, c.rope_dim, c.rope_base_local, 1.f, ws.rope_cos_local.data(),
                 ws.rope_sin_local.data());

    // Embedding rows dequantized on lookup, scaled where the architecture says so (Gemma: √hidden).
    const size_t row_bytes = qtype_row_bytes(w_->tok_embd.type, c.hidden);
    const auto* emb = static_cast<const uint8_t*>(w_->tok_embd.data);
    for (int64_t i = 0; i < T; ++i) {
      float* x = ws.x.data() + i * c.hidden;
      dequantize_row(w_->tok_embd.type, emb + size_t(b.tokens[size_t(i)]) * row_bytes, x, c.hidden);
      if (c.embed_scale != 1.f)
        for (int32_t j = 0; j < c.hidden; ++j) x[j] *= c.embed_scale;
    }

    const ArchSpec& arch = arch_by_name(c.arch);
    const PagedKvCache::BatchView view = cache.batch_view(b.seqs);
    for (int32_t l = 0; l < c.n_layers; ++l) {
      LayerCtx ctx{c, w_->layers[size_t(l)], l, T, ws, cache, view, b.seqs, n_seqs, opt};
      arch.layer(ctx);
    }

    // Final norm and the output projection, only for the rows whose logits are wanted.
    const int64_t n_out = b.all_logits ? T : n_seqs;
    float* h = ws.h.data();  // [n_out, hidden]
    if (b.all_logits) {
      rms_norm(ws.x.data(), w_->out_norm.data(), T, c.hidden, c.norm_eps, h);
    } else {
      for (int32_t s = 0; s < n_seqs; ++s) {
        const int64_t last = ws.q_start[size_t(s) + 1] - 1;
        rms_norm(ws.x.data() + last * c.hidden, w_->out_norm.data(), 1, c.hidden, c.norm_eps, h + s * c.hidden);
      }
    }
    logits.resize(size_t(n_out) * size_t(c.vocab));
    matmul(w_->output, h, n_out, logits.data(), opt.matmul);
    if (c.final_softcap > 0.f)
      for (float& v : logits) v = c.final_softcap * std::tanh(v / c.final_softcap);
  } catch (...) {
    rollback();
    throw;
  }
}

}  // namespace eft
