#pragma once
// The cost of attention, exactly, in integers: the table behind `eft cost` and the FLOP counts
// behind `eft bench attention`'s GFLOP/s.
//
// Conventions (all per layer unless the name says otherwise):
//   - a multiply-add is 2 FLOPs; softmax, exp and masking are not counted;
//   - QK^T over the attended (query, key) entries costs 2*d per entry, PV another 2*d;
//   - causal attention over N tokens attends N(N+1)/2 entries per head (the diagonal included);
//   - a sliding window of w keys lets query i see keys max(0, i-w+1) .. i (itself and the w-1
//     before it): sum_i min(i+1, w) entries per head, ~ N*w for N >> w;
//   - scores of standard attention are stored in f32 (4 bytes), whatever the input dtype;
//   - linear attention (FAVOR+ with m features): feature map 2*m*d per query row and per key row,
//     state update 2*m*(d+1) per key, readout 2*m*(d+1) per query (numerator and denominator);
//     keys are mapped once per KV head, queries once per query head. Causal linear attention has
//     the same count (the running sums do the same work);
//   - KV cache: 2 (K and V) * layers * kv_heads * head_dim * bytes(dtype) per token.
// Every function throws eft::Error naming the value when a count would overflow int64.
#include <cstdint>
#include <string>
#include <vector>

#include "eft/dtype.h"

namespace eft {

struct CostConfig {
  int64_t heads = 32;      // query heads
  int64_t kv_heads = 8;    // the GQA column's KV heads (MHA = heads, MQA = 1)
  int64_t head_dim = 128;
  int64_t layers = 32;
  DType dtype = DType::f16;  // K/V cache element type
  int64_t window = 4096;     // sliding window w (keys per query)
  int64_t features = 256;    // linear attention m
  bool causal = true;        // dense attention's mask (the window is causal by definition)
  // Flash working memory: each worker holds a query tile, a score tile, an output accumulator and
  // the row max / sum in f32: (tile_q*d + tile_q*tile_k + tile_q*d + 2*tile_q) * 4 bytes.
  int64_t tile_q = 64, tile_k = 64, workers = 1;
};

// Attended (query, key) entries of one head: N queries over N keys.
int64_t dense_entries(int64_t n, bool causal);
int64_t window_entries(int64_t n, int64_t w);  // causal sliding window of w keys

// FLOPs of exact attention over `entries` attended entries of one head: 4 * d * entries.
int64_t exact_attention_flops(int64_t entries, int64_t head_dim);

// FAVOR+ FLOPs (conventions above) for a call with n_q queries and n_kv keys.
struct LinearFlopsArgs {
  int64_t n_q = 0, n_kv = 0, features = 0, head_dim = 0, q_heads = 1, kv_heads = 1;
};
int64_t linear_attention_flops(const LinearFlopsArgs& a);

int64_t kv_bytes_per_token(int64_t layers, int64_t kv_heads, int64_t head_dim, DType dtype);

struct CostRow {
  int64_t n = 0;
  int64_t score_entries = 0;        // N^2 * heads (the full score matrix standard attention stores)
  int64_t attended_entries = 0;     // per the mask (causal: N(N+1)/2 * heads)
  int64_t flops_qk = 0;             // 2 * d * attended * heads
  int64_t flops_pv = 0;             // same
  int64_t flops_attention = 0;      // qk + pv, per layer
  int64_t flops_attention_model = 0;  // * layers
  int64_t standard_score_bytes = 0;   // N^2 * heads * 4
  int64_t flash_work_bytes = 0;       // workers * tile working set (independent of N)
  int64_t window_entries = 0;         // * heads
  int64_t window_flops = 0;           // 4 * d * window entries * heads
  int64_t linear_flops = 0;           // FAVOR+, heads = kv_heads = heads (MHA)
  int64_t linear_state_bytes = 0;     // per sequence, all layers: layers * heads * m * (d+1) * 4
  int64_t kv_bytes_mha = 0, kv_bytes_gqa = 0, kv_bytes_mqa = 0;  // per context of N tokens
};

struct CostTable {
  CostConfig cfg;
  int64_t kv_token_mha = 0, kv_token_gqa = 0, kv_token_mqa = 0;  // bytes per token, all layers
  std::vector<CostRow> rows;
};

// Validates cfg (every count positive, kv_heads dividing heads, dtype f32/f16/bf16) and fills one
// row per N.
CostTable attention_cost(const CostConfig& cfg, const std::vector<int64_t>& ns);

// The table for people (units scaled: KiB/MiB/GiB, M/G/T) and for machines (exact integers).
std::string cost_table_text(const CostTable& t);
std::string cost_table_json(const CostTable& t);  // {"config": {...}, "per_token": {...}, "rows": [...]}

// "1.50 GiB", "512 B"; "8.60 G" (SI, 3 significant digits) — shared with `eft bench`.
std::string format_bytes(int64_t bytes);
std::string format_si(double x);

}  // namespace eft
