#pragma once
// A decoder-only transformer loaded from GGUF or safetensors (+ config.json): hyperparameters,
// weights in one internal layout (quantized matrices stay views into the mapping), and one
// forward call over a batch of sequences mixing prefill and decode tokens.
//
// Supported architectures (one file each under src/model/arch/):
//   llama   — Llama 2/3, SmolLM2, Mistral (sliding window on every layer)
//   qwen2   — Llama with biases on the Q, K, V projections
//   gemma3  — QK-norm, sandwich norms, GeGLU, embeddings × √hidden, interleaved local (sliding
//             window, own RoPE base) and global layers
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eft/attention.h"
#include "eft/kv_cache.h"
#include "eft/quant.h"

namespace eft {

class ModelFile;

// How RoPE pairs the dimensions of a head.
//   interleaved: (x[2i], x[2i+1]) — GGUF Llama files, whose Q/K rows llama.cpp's converter permuted
//   neox:        (x[i], x[i + rot/2]) — HF checkpoints (rotate_half), and Qwen2/Gemma in GGUF
enum class RopeStyle : uint8_t { interleaved, neox };
enum class Activation : uint8_t { silu, gelu_tanh };  // gate activation: SwiGLU / GeGLU

struct ModelConfig {
  std::string arch;            // "llama", "qwen2", "gemma3" (Mistral loads as "llama")
  std::string source;          // "gguf" or "safetensors"
  int32_t vocab = 0;
  int32_t hidden = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t ffn = 0;             // MLP intermediate width
  int32_t max_context = 0;     // trained context length (0: unknown)
  float norm_eps = 1e-5f;
  float attn_scale = 0.f;      // 0: 1/sqrt(head_dim)
  float attn_softcap = 0.f;    // 0: off
  float final_softcap = 0.f;   // 0: off (logits = c * tanh(logits / c))
  float embed_scale = 1.f;     // Gemma: sqrt(hidden)
  RopeStyle rope_style = RopeStyle::neox;
  int32_t rope_dim = 0;        // rotated dims per head (<= head_dim)
  float rope_base = 10000.f;   // global layers
  float rope_base_local = 0.f; // sliding-window layers (0: same as rope_base)
  float rope_scale = 1.f;      // linear position scaling on global layers (positions / scale)
  Activation act = Activation::silu;
  bool qkv_bias = false;       // Qwen2
  bool qk_norm = false;        // Gemma 3: RMSNorm over each head of Q and K before RoPE
  bool sandwich_norm = false;  // Gemma 3: norms after attention and after the MLP as well
  bool tied_embeddings = false;
  // Per layer: 0 = global attention; w > 0 = the query sees itself and the w-1 tokens before it
  // (HF's sliding_window convention).
  std::vector<int32_t> layer_window;  // [n_layers]

  int64_t kv_bytes_per_token(DType kv = DType::f32) const {
    return 2ll * n_layers * n_kv_heads * head_dim * int64_t(dtype_size(kv));
  }
  // What multi-head attention of the same width (kv_heads = heads) would store per token.
  int64_t mha_kv_bytes_per_token(DType kv = DType::f32) const {
    return 2ll * n_layers * n_heads * head_dim * int64_t(dtype_size(kv));
  }
};

// A batch for one forward call. Sequence i contributes n_new[i] consecutive tokens that follow its
// cached ones: their positions are cache.length(seqs[i]) + 0 .. n_new[i]-1. A prompt is a prefill
// of many tokens, a decode step one token; both kinds mix freely in one batch.
struct ForwardBatch {
  std::vector<int32_t> tokens;  // [sum(n_new)] token ids, sequence by sequence
  std::vector<SeqId> seqs;      // [n_seqs] sequences of the paged cache
  std::vector<int32_t> n_new;   // [n_seqs] new tokens per sequence (>= 1)
  bool all_logits = false;      // logits for every token; otherwise the last token of each sequence
};

struct ForwardOptions {
  AttnMethod method = AttnMethod::flash;
  LinearParams linear;  // Performer features for --attention linear
  // Matrix products: automatic picks int8-activation dot kernels for small batches (decode) and
  // dequantized sgemm for large ones (prefill); sgemm everywhere is exact up to f32 rounding
  // (what the real-model reference checks use), dot everywhere shows the activation-quantization error.
  MatmulPath matmul = MatmulPath::automatic;
};

struct MemoryByKind {
  int64_t weights_mapped = 0;  // weight bytes read from the file mapping (quantized matrices)
  int64_t weights_owned = 0;   // f32 copies made at load (norms, biases)
  int64_t workspace = 0;       // activation buffers of the largest forward so far
};

class Model {
 public:
  // Opens the file (GGUF, safetensors file, directory or shard index) and loads the weights.
  static std::unique_ptr<Model> load(const std::string& path);
  // Loads from an already-open file (kept alive by the model).
  static std::unique_ptr<Model> load(std::shared_ptr<ModelFile> file);

  const ModelConfig& config() const { return cfg_; }
  const ModelFile& file() const { return *file_; }

  // The cache layout this model needs: kv_heads × head_dim per layer, and the per-layer windows.
  KvCacheConfig kv_cache_config(int32_t n_blocks, int32_t block_size, DType dtype = DType::f32) const;

  // Appends the batch's tokens to their sequences in `cache` (all or none: on eft::OutOfMemory
  // the cache is left as it was), runs every layer and writes logits:
  //   all_logits: [n_tokens, vocab], else [n_seqs, vocab], row-major f32.
  void forward(const ForwardBatch& batch, PagedKvCache& cache, const ForwardOptions& opt,
               std::vector<float>& logits);

  MemoryByKind memory() const;

  // Architecture-internal weight layout and activation buffers (src/model/weights.h, blocks.h).
  struct Weights;
  struct Workspace;
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

 private:
  Model();
  std::shared_ptr<ModelFile> file_;
  ModelConfig cfg_;
  std::unique_ptr<Weights> w_;
  std::unique_ptr<Workspace> ws_;
};

// Hyperparameters only (no weights): for `eft inspect` and for tests.
ModelConfig read_model_config(const ModelFile& f);

}  // namespace eft
