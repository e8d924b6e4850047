#pragma once
// Private interface between the host-side planner (plan.cpp, which may use fmt and throw) and the
// kernels (fwd.cu, which must not): plain structs and a few C-style launch functions.
//
// One kernel family serves prefill and decode. A thread block (CTA) owns a "row set": up to BM
// (query token, query head) pairs that share one KV head, and walks K/V tiles of BN keys:
//   prefill: one head per CTA, BM consecutive query tokens;          rows r -> token r
//   decode : the query heads of a KV head (or a chunk of them) times q_len tokens (1..8);
//            rows r -> token r / heads_per_cta, head r % heads_per_cta
// so K/V are read once per KV head in decode (GQA/MQA) and the warps split the keys of a tile.
#include <cstddef>
#include <cstdint>

#include <cuda.h>
#include <cuda_runtime.h>

#include "attention/cuda/io_params.h"
#include "eft/attention.h"
#include "eft/hd.h"

namespace eft::cuda::detail {

// The io part (pointers, strides, heads, KV view, batch) is AttnIoParams.
struct FwdParams : AttnIoParams {
  int32_t heads_per_cta = 1;   // query heads of one KV head in a CTA's row set
  int32_t head_chunks = 1;     // ceil(group / heads_per_cta); grid.y = kv_heads * head_chunks
  int32_t tokens_per_cta = 0;  // query tokens in a CTA's row set
  int32_t q_tiles = 1;         // grid.x = q_tiles * kv_splits
  int32_t kv_splits = 1;       // > 1: partial (o, lse) per split into part_o / part_lse, merged after
  float scale_log2 = 0.f;      // scale * log2(e): logits are kept in base-2 units (exp2 softmax)
  float scale_over_cap = 0.f;  // softcap: t = softcap_log2 * tanh(s * scale / softcap)
  float softcap_log2 = 0.f;    // 0 = no softcap
  Mask mask;                   // device pointers (global / layout)
  float* part_o = nullptr;     // [q_tokens, q_heads, kv_splits, D] normalized partial outputs
  float* part_lse = nullptr;   // [q_tokens, q_heads, kv_splits] natural-log partial LSE (-inf: empty)
  int32_t persistent_ctas = 0; // persistent instantiations: CTAs launched, each looping over work items
  int32_t* item_counter = nullptr;  // warp-specialized loop: the tile scheduler's counter (zeroed per call)
  int32_t tail_x = 0;               // prefill: grid columns run last, across rows (scheduled_item)
  // Warp-specialized prefill (D <= 128, O in the input type, one pass): O as a TMA tensor map
  // (tma_map.h), through which each consumer warpgroup stores its 64 finished rows from shared
  // memory when they are all rows of the sequence; o_tma = 0: every row from registers.
  int32_t o_tma = 0;
  CUtensorMap o_map{};
};

// The order in which a prefill runs its work items: the warp-specialized loop's tile scheduler
// hands out tickets 0, 1, ... (the CTA number first, then a global counter), the plain grids'
// blocks start in launch order (grid_item, fwd_common.cuh); ticket or place k runs the grid item
// scheduled_item(k). Grid items are numbered x + x_count * r, x the query tile (and split) with
// the heaviest tile of a causal mask at x = 0, r the (KV head, head chunk, sequence) row of the
// grid, yz rows in all. Tickets first walk the
// columns x < x_count - tail_x row by row (the CTAs running at once share one row's K/V in L2),
// then the last tail_x columns column by column across all rows, so that the lightest items of
// every row come last and fill the SMs that finish early; with the rows' items in row order to the
// end, the last rows' heaviest items started late and the grid waited on them (H200, 2026-11-28:
// causal prefill 3.5-8.5 % faster, bench/RESULTS.md). tail_x = 0 keeps row order throughout. A
// bijection of [0, x_count * yz).
EFT_HD int scheduled_item(int k, int x_count, int yz, int tail_x) {
  const int head_x = x_count - tail_x, head_n = head_x * yz;
  if (k < head_n) return k % head_x + x_count * (k / head_x);
  const int i = k - head_n;
  return head_x + i / yz + x_count * (i % yz);
}

// Most KV splits one call may use (the merge kernel holds two split lse values per lane).
constexpr int kMergeMaxSplits = 64;

// Decode on a paged cache: a CTA whose key range spans at most FwdConfig::table_cap blocks copies
// its slice of the block table to shared memory once; longer ranges read the table from global
// memory per tile row, which the planner avoids where it can (plan.cpp). The slice is at most
// kDecodeTableCap ids (4 KB), less where 4 KB would cost the kernel a resident CTA per SM.
constexpr int kDecodeTableCap = 1024;
// Shared memory per SM on Hopper (H100 / H200) and what the runtime reserves per CTA.
constexpr size_t kSm90SmemPerSm = 233472, kSmemPerCtaReserved = 1024;
// CTAs of `smem_bytes` dynamic shared memory that fit on one Hopper SM: the arithmetic behind each
// decode instantiation's table_cap (fwd.cu) and the planner's estimate when no device reports
// its occupancy (plan.cpp).
constexpr int smem_ctas_per_sm(size_t smem_bytes) { return int(kSm90SmemPerSm / (smem_bytes + kSmemPerCtaReserved)); }

// One compiled instantiation of the kernel (the table lives in fwd.cu).
struct FwdConfig {
  int head_dim;
  DType dtype;      // bf16 or f16 (Q, K, V)
  int block_m;      // rows per CTA (BM)
  int block_n;      // keys per tile (BN)
  int warps;        // warps per CTA
  bool decode;      // warps split keys (decode) rather than rows (prefill)
  int threads;
  size_t smem_bytes;
  bool persistent = false;  // a grid of persistent_ctas CTAs walks the work items (fwd_sm90_ws.cu)
  int stages = 2;           // K/V tiles in shared memory (decode: 2 or 3)
  int table_cap = 0;        // decode: block ids a CTA stages in shared memory (its range fits when <=)
};

// The table of instantiations; index = config id used by launch_fwd.
const FwdConfig* fwd_configs(int* count);

// Resident CTAs per SM of instantiation `config` on the current device (registers and shared
// memory both counted), or 0 when it cannot be queried (no device).
int fwd_ctas_per_sm(int config);

// Launches instantiation `config` on grid (q_tiles * kv_splits, kv_heads * head_chunks, n_seqs).
cudaError_t launch_fwd(int config, const FwdParams& p, int n_seqs, cudaStream_t stream);

// The Hopper main loop (fwd_sm90.cu; prefill, needs code built for sm_90a): its own table of
// instantiations (config ids index it) and launch, same grid and parameters as launch_fwd.
const FwdConfig* fwd_sm90_configs(int* count);
cudaError_t launch_fwd_sm90(int config, const FwdParams& p, int n_seqs, cudaStream_t stream);

// The warp-specialized Hopper main loop (fwd_sm90_ws.cu): persistent grid of p.persistent_ctas.
const FwdConfig* fwd_sm90_ws_configs(int* count);
cudaError_t launch_fwd_sm90_ws(int config, const FwdParams& p, cudaStream_t stream);
int fwd_sm90_ws_ctas_per_sm(int config);

// Merges kv_splits partials per (token, head) into o (o_dtype) and lse. early_launch (compute
// capability >= 9.0): launched as a programmatic dependent of the attention kernel before it.
cudaError_t launch_merge(const FwdParams& p, int64_t q_tokens, int head_dim, bool early_launch, cudaStream_t stream);

}  // namespace eft::cuda::detail
