#pragma once
// Paged KV cache (vLLM PagedAttention): a fixed pool of blocks of `block_size` tokens, per-sequence
// block tables, reference counts, copy-on-write on fork, truncate for speculative rollback, and
// per-layer sliding windows that free blocks once every token in them has left the window.
//
// Pool layout per layer (K and V separately):
//   [n_blocks, block_size, kv_heads, head_dim] in `dtype`
// All layers share one block table per sequence (a block id names the same slot in every layer's
// pool), so one allocation serves the whole model.
#include <cstdint>
#include <vector>

#include "eft/attention.h"
#include "eft/dtype.h"
#include "eft/tensor.h"

namespace eft {

struct KvCacheConfig {
  int32_t n_layers = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 16;
  int32_t n_blocks = 0;            // pool size in blocks
  DType dtype = DType::f32;
  Device device = Device::cpu;
  // Per layer: 0 = full attention; w > 0 = the layer attends only to the last w positions, so
  // blocks wholly before (length - w) can be released for that layer.
  std::vector<int32_t> layer_window;
};

using SeqId = int32_t;

class PagedKvCache {
 public:
  explicit PagedKvCache(const KvCacheConfig& cfg);

  const KvCacheConfig& config() const;
  SeqId create();                         // a new empty sequence
  void free(SeqId s);                     // releases its blocks (shared ones drop a reference)
  SeqId fork(SeqId parent);               // shares every block; copy-on-write on the next append
  // Makes room for n more tokens at the end of s (allocating, and copying shared tail blocks
  // first); throws eft::OutOfMemory, leaving s unchanged, if the pool cannot hold them.
  void append(SeqId s, int32_t n);
  void truncate(SeqId s, int32_t new_len);  // drop tokens from the end (speculative rollback)
  int32_t length(SeqId s) const;

  // Where token t of sequence s lives for layer l: row index into that layer's pools.
  int64_t slot(SeqId s, int32_t t) const;
  void* k_pool(int32_t layer) const;
  void* v_pool(int32_t layer) const;

  // Builds the KvView + block tables for a batch of sequences, for the attention call of `layer`.
  struct BatchView {
    std::vector<int32_t> block_table;  // [n_seqs, max_blocks]
    int32_t max_blocks = 0;
    KvView kv(int32_t layer, const PagedKvCache& c) const;
  };
  BatchView batch_view(const std::vector<SeqId>& seqs) const;

  // Memory accounting.
  int32_t free_blocks() const;
  int32_t used_blocks() const;
  int64_t bytes_per_block() const;         // all layers, K and V
  int64_t pool_bytes() const;
  int64_t bytes_per_token() const;         // 2 * layers * kv_heads * head_dim * dtype size

  ~PagedKvCache();
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace eft
