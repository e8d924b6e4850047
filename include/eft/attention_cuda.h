#pragma once
// Exact softmax attention on NVIDIA GPUs (sm_80 / sm_90): FlashAttention-2-style prefill and
// flash-decoding, over the same AttentionParams / AttentionArgs as the CPU backends.
//
// Two steps, so that decode launches can be captured in CUDA graphs:
//
//   1. plan_attention(host_params, host_args)  — host only: no launch, copy or allocation (it may
//      ask the runtime once per kernel how many CTAs fit on an SM). Reads the batch
//      metadata on the host (q_start, kv_len, q_pos0, kv_start or block_table, and the mask's
//      global / layout arrays), validates everything, picks the kernel (prefill or decode), the
//      tile shape, the number of KV splits, and the workspace size. `host_args` is the same call
//      description with those metadata arrays pointing to host copies; its Q/K/V/O pointers are
//      never dereferenced (they may be the device pointers).
//   2. attention(params, args, plan, workspace, stream) — launches only. `args` (and the mask
//      arrays in `params`) hold DEVICE pointers with the same contents the plan saw; nothing is
//      read back, allocated or copied, so the call can be captured and replayed as long as the
//      shapes the plan saw (batch layout, lengths) are unchanged.
//
// A plan stays valid for any call with the same batch metadata (the data may change). Lengths
// that grow (decode steps) need a new plan, which is cheap (microseconds, host only).
//
// Supported: Q/K/V in bf16 or f16 (same type), O in bf16, f16 or f32, fp32 accumulation;
// head_dim 64, 128, 256; any q_heads / kv_heads ratio (MHA, GQA, MQA); every Mask type; softcap;
// contiguous or paged K/V (any block size); explicit query positions (chunked prefill).
// Alignment: Q, K, V, O base pointers 16-byte aligned and row strides multiples of 8 elements.
// Methods flash, sparse and standard all run the same exact kernel (empty tiles are always
// skipped, nothing O(N^2) is stored); linear is not implemented on CUDA (throws).
#include <cstddef>
#include <cstdint>

#include "eft/attention.h"

typedef struct CUstream_st* cudaStream_t;

namespace eft::cuda {

enum class AttnKernel : uint8_t {
  automatic,  // decode when every sequence has <= 8 queries, else prefill
  prefill,    // one CTA per (query tile of 64/128 tokens, query head, sequence)
  decode,     // one CTA per (KV head, sequence, KV split); the heads of a group share K/V reads
};

// The tensor-core main loop of the prefill kernel (decode always uses mma.sync: it is memory-bound).
enum class MainLoop : uint8_t {
  automatic,  // prefill on sm_90a builds on Hopper: wgmma_ws (head_dim 128, 256) or wgmma (64);
              // else, and for decode, mma_sync
  mma_sync,   // sm_80+ warp MMAs (FlashAttention-2 structure), 128 rows x 64 keys per tile
  wgmma,      // Hopper warpgroup MMAs (sm_90 device, code built for sm_90a), 128 rows x 128 keys
  wgmma_ws,   // the same MMAs, warp-specialized: a producer warpgroup loading through mbarriers,
              // two consumer warpgroups, a persistent grid with a dynamic tile scheduler (its
              // tile counter lives in the workspace: workspace_bytes > 0 for every such plan)
};

struct AttentionPlanOptions {
  AttnKernel kernel = AttnKernel::automatic;
  MainLoop main_loop = MainLoop::automatic;
  int kv_splits = 0;  // 0: chosen to fill the GPU; >= 1: forced (clamped to the KV tiles and 64)
  int sm_count = 0;   // 0: the current device's (132 when no device is present)
  int block_n = 0;    // 0: the main loop's default key tile; else one of its compiled widths (tuning)
  bool tma_store_o = true;  // warp-specialized prefill: O leaves through TMA stores where it can
                            // (AttentionPlan::tma_store_o); false: from registers, for A/B
};

struct Workspace {
  void* data = nullptr;  // device memory, 16-byte aligned
  size_t bytes = 0;
};

struct AttentionPlan {
  // What the plan was made for; attention() checks the call against it.
  int32_t q_heads = 0, kv_heads = 0, head_dim = 0, n_seqs = 0;
  DType dtype = DType::bf16;
  KvLayout layout = KvLayout::contiguous;
  int32_t block_size = 0;       // paged only
  MaskType mask = MaskType::none;
  int64_t q_tokens = 0;
  int32_t max_q_len = 0, max_kv_len = 0;
  // What to launch.
  AttnKernel kernel = AttnKernel::prefill;
  MainLoop main_loop = MainLoop::mma_sync;  // never automatic once planned
  int config = -1;              // instantiation index (internal, into the main loop's table)
  int32_t block_m = 0, block_n = 0;
  int32_t heads_per_cta = 1, head_chunks = 1, tokens_per_cta = 0, q_tiles = 0;
  int32_t kv_splits = 1;
  int64_t wave_ctas = 0;        // decode: CTAs of this kernel resident on the device at once, as the
                                // split choice assumed (SMs x CTAs per SM)
  int64_t ctas = 0;             // CTAs of the main kernel (some exit at once on short sequences;
                                // persistent: the CTAs launched, each walking several work items)
  bool persistent = false;
  bool tma_store_o = false;     // wgmma_ws, one pass, O in the input type, head_dim <= 128: each
                                // consumer warpgroup's 64 finished rows leave by a TMA store
  int32_t tail_x = 0;           // masked prefill: the last query-tile columns, run across all heads
                                // and sequences so that the lightest items run last (0: head by head)
  size_t smem_bytes = 0;        // dynamic shared memory per CTA
  size_t workspace_bytes = 0;   // split-KV partials, and the wgmma_ws tile counter (256 B); 0 otherwise
};

AttentionPlan plan_attention(const AttentionParams& host_params, const AttentionArgs& host_args,
                             const AttentionPlanOptions& options = {});

// Throws eft::Error (before any launch) when the call does not match the plan, a pointer is
// misaligned, or the workspace is too small; eft::Error with the CUDA message if a launch fails.
void attention(const AttentionParams& params, const AttentionArgs& args, const AttentionPlan& plan,
               Workspace workspace, cudaStream_t stream);

}  // namespace eft::cuda
