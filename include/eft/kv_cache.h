#pragma once
// Paged KV cache (vLLM PagedAttention ideas): a fixed pool of blocks of `block_size` tokens,
// per-sequence block tables, reference counts, copy-on-write on fork, truncate for speculative
// rollback, and per-layer sliding windows whose out-of-window blocks really go back to the pool.
//
// Layer groups (why: windowed layers must free memory that global layers can reuse).
//   Layers are partitioned into groups of G layers that share one window value; G is the gcd of
//   the layer counts of the window classes, so every group has the same size. A "block" (page)
//   holds block_size tokens of K and V for the G layers of ONE group. The pool is G slot tensors
//   per K and V, each
//     [n_pages, block_size, kv_heads, head_dim] in `dtype`
//   and layer l (slot j of its group) reads K/V from slot tensor j with its group's block table.
//   A page id belongs to one group at a time, so a page released by a windowed group goes back to
//   the one free list and may next serve a global group of another sequence.
//   - No windows (or one window for all layers): one group of all layers, G = n_layers — the
//     classic design, one block id names the slot in every layer's pool.
//   - Gemma 3 (e.g. 15 local + 3 global layers): G = 3, five local groups and one global group.
//   Pool size: n_pages = n_blocks * n_groups (the bytes of n_blocks all-layer blocks), plus one
//   zeroed "null page" when any layer is windowed: table entries of released blocks point at it,
//   so every table entry below a sequence's length is a valid id and a kernel that touches a
//   masked-out position reads zeros (never another sequence's data, never garbage).
//
// Sliding-window release. A layer with window w attends only to keys >= q - w + 1 (the last w
// positions). append(s, n) on a sequence of length L is followed by queries at positions >= L,
// which need keys >= L - w, so append first releases, for each windowed group, every block lying
// wholly before L - w. truncate(s, n) must keep keys >= n - w alive: it throws if they were
// released (except n == 0, which empties the sequence).
#include <cstddef>
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
  int32_t n_blocks = 0;            // pool size in all-layer blocks (n_blocks * n_groups pages)
  DType dtype = DType::f32;
  Device device = Device::cpu;
  // Per layer: 0 = full attention; w > 0 = the layer attends only to the last w positions, so
  // blocks wholly before (length - w) can be released for that layer. Empty = all full.
  std::vector<int32_t> layer_window;
  // false: keep every block of windowed layers too (one layer group, nothing released) — the
  // baseline that shows what the release saves, and what a method that reads the whole prefix
  // on local layers (linear attention's causal approximation) needs: released blocks read as zeros.
  bool release_windows = true;
};

using SeqId = int32_t;

// Device-side copies for pools on Device::cuda (installed by the CUDA backend, like
// set_device_allocator). CPU pools use memcpy/memset and never call these.
struct KvDeviceOps {
  void (*copy)(void* dst, const void* src, size_t bytes) = nullptr;  // device to device
  void (*zero)(void* dst, size_t bytes) = nullptr;                   // device memset 0
};
void set_kv_device_ops(KvDeviceOps ops);

// Memory accounting of the pool. Units: pages (see above) and bytes.
struct KvMemoryStats {
  int32_t total_blocks = 0;    // usable pages (null page excluded)
  int32_t used_blocks = 0;
  int32_t free_blocks = 0;
  int64_t block_bytes = 0;     // one page: G layers, K and V
  int64_t pool_bytes = 0;      // every page, null page included
  int64_t used_bytes = 0;      // used pages
  int64_t allocated_slots = 0; // token rows in used pages (per group: a row covers G layers)
  int64_t filled_slots = 0;    // rows of used pages that hold a live token of some sequence
  int64_t waste_slots = 0;     // allocated - filled: internal fragmentation of the last blocks
  int64_t waste_bytes = 0;
  int64_t logical_tokens = 0;  // sum of sequence lengths (what unshared, unwindowed storage holds)
  int64_t logical_bytes = 0;   // logical_tokens * bytes_per_token
  int32_t n_seqs = 0;
  int32_t max_len = 0;
  // What a contiguous per-request cache reserving `reserve_len` tokens per sequence would take.
  int64_t contiguous_bytes(int64_t reserve_len, int64_t bytes_per_token) const {
    return int64_t(n_seqs) * reserve_len * bytes_per_token;
  }
};

class PagedKvCache {
 public:
  explicit PagedKvCache(const KvCacheConfig& cfg);

  const KvCacheConfig& config() const;
  SeqId create();                         // a new empty sequence
  void free(SeqId s);                     // releases its blocks (shared ones drop a reference)
  SeqId fork(SeqId parent);               // shares every block; copy-on-write on the next append
  // Makes room for n more tokens at the end of s (releasing out-of-window blocks, copying a
  // shared tail block, allocating); throws eft::OutOfMemory, leaving the cache unchanged, if the
  // pool cannot hold them.
  void append(SeqId s, int32_t n);
  // Pages append(s, n) would take from the free list, net of pages its window releases give back
  // (negative when it frees more than it takes); lets a scheduler admit or preempt without trying.
  int32_t append_cost(SeqId s, int32_t n) const;
  bool can_append(SeqId s, int32_t n) const;  // append_cost(s, n) <= free_blocks()
  void truncate(SeqId s, int32_t new_len);  // drop tokens from the end (speculative rollback)
  int32_t length(SeqId s) const;
  bool contains(SeqId s) const;
  std::vector<SeqId> sequences() const;   // live ids, ascending

  // Where token t of sequence s lives: row index into the pools of `layer`. Throws if t is past
  // the length or was released by the layer's window.
  int64_t slot(SeqId s, int32_t t, int32_t layer) const;
  // Old form: the row for layer 0 — valid for every layer when there is one layer group
  // (no sliding windows); with windows use the three-argument form.
  int64_t slot(SeqId s, int32_t t) const;
  void* k_pool(int32_t layer) const;      // [n_pages, block_size, kv_heads, head_dim]
  void* v_pool(int32_t layer) const;
  int64_t row_elems() const;              // kv_heads * head_dim (elements per token row)
  // Copies n rows [n, kv_heads, head_dim] (pool dtype, CPU pools) into tokens t0 .. t0+n-1 of s.
  void write(int32_t layer, SeqId s, int32_t t0, int32_t n, const void* k, const void* v);

  // Layer groups (see the top of this file).
  int32_t n_groups() const;
  int32_t group_of(int32_t layer) const;
  int32_t group_window(int32_t group) const;  // 0 = full
  int32_t layers_per_group() const;           // G
  int32_t null_block() const;                 // id of the zeroed null page, -1 if none
  // Block ids of s for a group ([ceil(length / block_size)]; released blocks show null_block()).
  std::vector<int32_t> block_ids(SeqId s, int32_t group) const;
  int32_t released_blocks(SeqId s, int32_t group) const;  // leading blocks released by the window
  int32_t refcount(int32_t block) const;

  // Builds the KvView + block tables for a batch of sequences, for the attention call of `layer`.
  // The KvView points into this BatchView and the cache: keep both alive while it is used.
  struct BatchView {
    std::vector<int32_t> block_table;  // [n_seqs, max_blocks] of layer 0's group (old form)
    int32_t max_blocks = 0;
    std::vector<std::vector<int32_t>> tables;  // [n_groups][n_seqs * max_blocks]; -1 past the end
    std::vector<int32_t> kv_len;               // [n_seqs] current lengths
    KvView kv(int32_t layer, const PagedKvCache& c) const;
  };
  BatchView batch_view(const std::vector<SeqId>& seqs) const;

  // Memory accounting (blocks = pages; see the top of this file).
  int32_t free_blocks() const;
  int32_t used_blocks() const;
  int32_t total_blocks() const;            // usable pages
  int64_t bytes_per_block() const;         // one page: G layers, K and V (all layers if no windows)
  int64_t pool_bytes() const;
  int64_t bytes_per_token() const;         // 2 * layers * kv_heads * head_dim * dtype size
  KvMemoryStats memory() const;

  ~PagedKvCache();
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace eft
