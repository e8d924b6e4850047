#pragma once
// Linear attention (Performer FAVOR+, see eft/linear_attention.h for the math) on NVIDIA GPUs:
// the same function as attention_cpu(method = linear) and LinearAttentionState, computed with
// tensor cores (tf32 mma.sync, f32 accumulation) from bf16 / f16 Q, K, V.
//
// Like CUDA softmax attention (eft/attention_cuda.h) a call is split in two:
//
//   1. plan_linear_attention(host_params, host_args) — host only: validates, reads the batch
//      metadata on the host and sizes the workspace. No launch, copy or allocation.
//   2. linear_attention(params, args, plan, map, workspace, stream) — launches only (graph-
//      capturable): args hold DEVICE pointers with the contents the plan saw.
//
// The projection W lives on the device in a LinearFeatureMap, made once per (seed or projection,
// features, head_dim, scale) from favor::make_feature_map, so GPU and CPU use the same features.
//
// Prefill (any mix of ragged sequences, q_len <= kv_len or explicit q_pos0):
//   - feature exponents u = x~ W^T - |x~|^2/2 - ln(m)/2 of every query and key row (3xTF32: W is
//     split into two tf32 halves so u is f32-exact), kept in the workspace with each row's max;
//   - each sequence's keys are cut into `segments` runs of whole chunks (C = 32 keys); one CTA per
//     (segment, KV head, sequence, 64-column slice of d) sums its run's state S = phi(K)^T V,
//     z = sum phi(K) with the run's own key offset;
//   - causal: one CTA per (segment, ...) starts from the prefix of the earlier runs' states
//     (rescaled to a common offset) and walks its chunks: the queries of a chunk read the state of
//     the keys before it plus the exact masked quadratic term of their own chunk, then the chunk
//     is absorbed (S += phi(K_c)^T V_c); the key offset is the running max, raised chunk by chunk
//     with S and z rescaled, as on the CPU. Mask none: every query reads the full state.
//   Queries of a GQA/MQA group read their KV head's state in the same CTA.
// Decode: LinearDecodeState keeps S [m, d], z [m] and the key offset per (sequence, KV head) in
// f32; one step costs O(heads m d) whatever the length. A prefill can hand its final state to a
// LinearDecodeState, and decode continues the same sums.
//
// Supported: Q/K/V bf16 or f16 (same type), O bf16 / f16 / f32, head_dim 64 / 128 / 256,
// features a multiple of 16 up to 256, masks none and causal, any q_heads / kv_heads ratio,
// contiguous or paged K/V. Alignment: Q, K, V, O 16-byte aligned, row strides multiples of 8.
#include <cstddef>
#include <cstdint>

#include "eft/attention.h"
#include "eft/attention_cuda.h"  // Workspace, cudaStream_t

namespace eft::cuda {

// Device copy of the FAVOR+ projection W [m, d] (row r = feature r), f32.
class LinearFeatureMap {
 public:
  // favor::make_feature_map(p) (p.linear.projection, else drawn from p.linear.seed), uploaded with
  // a synchronous copy. Throws eft::Error on bad parameters or a CUDA failure.
  explicit LinearFeatureMap(const AttentionParams& p);
  ~LinearFeatureMap();
  LinearFeatureMap(LinearFeatureMap&& o) noexcept;
  LinearFeatureMap& operator=(LinearFeatureMap&&) = delete;
  LinearFeatureMap(const LinearFeatureMap&) = delete;
  LinearFeatureMap& operator=(const LinearFeatureMap&) = delete;

  const float* w() const { return w_; }  // [m, d] device
  int32_t features() const { return m_; }
  int32_t head_dim() const { return d_; }
  float x_scale() const { return x_scale_; }  // sqrt(effective_scale)

 private:
  float* w_ = nullptr;
  int32_t m_ = 0, d_ = 0;
  float x_scale_ = 1.f;
};

struct LinearPlanOptions {
  int segments = 0;  // 0: chosen to fill the GPU; >= 1: forced (clamped to the longest sequence's chunks)
  int sm_count = 0;  // 0: the current device's (132 without a device)
};

struct LinearAttentionPlan {
  // What the plan was made for; linear_attention() checks the call against it.
  int32_t q_heads = 0, kv_heads = 0, head_dim = 0, features = 0, n_seqs = 0;
  DType dtype = DType::bf16;
  KvLayout layout = KvLayout::contiguous;
  int32_t block_size = 0;
  bool causal = false;
  float x_scale = 0.f;           // sqrt(effective_scale): must equal the feature map's
  int64_t q_tokens = 0;
  int32_t max_q_len = 0, max_kv_len = 0;
  int64_t kv_rows = 0;           // K/V rows the batch touches (largest row index + 1)
  // What to launch.
  int32_t segments = 1;          // runs of chunks per sequence (parallelism along the sequence)
  int32_t d_tiles = 1;           // 64-column slices of d per CTA
  // Workspace: [uq | qmax | uk | kmax | seg_s | seg_z | seg_off], each 256-byte aligned.
  size_t off_qmax = 0, off_uk = 0, off_kmax = 0, off_seg_s = 0, off_seg_z = 0, off_seg_off = 0;
  size_t workspace_bytes = 0;
  bool valid = false;
};

LinearAttentionPlan plan_linear_attention(const AttentionParams& host_params, const AttentionArgs& host_args,
                                          const LinearPlanOptions& options = {});

class LinearDecodeState;

// Prefill / stateless linear attention (O and the optional LSE, as attention_cpu). `final_state`
// (optional): every sequence's state after all of its keys is written there (n_seqs must match),
// so a decode loop continues from the prompt. Throws eft::Error before any launch when the call
// does not match the plan or the feature map, a pointer is misaligned or the workspace too small.
void linear_attention(const AttentionParams& params, const AttentionArgs& args, const LinearAttentionPlan& plan,
                      const LinearFeatureMap& map, Workspace workspace, cudaStream_t stream,
                      LinearDecodeState* final_state = nullptr);

// Decode state of a batch of n_seqs sequences (device memory, f32):
//   S [n_seqs, kv_heads, m, d]; z and the key offset replicated per 32-column slice of d
//   ([n_seqs, kv_heads, d/32, m] and [n_seqs, kv_heads, d/32]) so the CTAs of one (sequence,
//   KV head) never wait on each other.
class LinearDecodeState {
 public:
  LinearDecodeState(const AttentionParams& p, int32_t n_seqs);  // allocates and reset()s
  ~LinearDecodeState();
  LinearDecodeState(const LinearDecodeState&) = delete;
  LinearDecodeState& operator=(const LinearDecodeState&) = delete;

  // Empty state (no keys): S = z = 0, offsets -inf. Asynchronous on `stream`.
  void reset(cudaStream_t stream = nullptr);

  // One token per sequence (device pointers): q [n_seqs, q_heads, d], k and v [n_seqs, kv_heads, d]
  // in `dtype` (bf16 / f16), contiguous; o [n_seqs, q_heads, d] in o_dtype; lse optional
  // [n_seqs, q_heads]. Absorbs k/v into the state, then reads out q (causal: the token sees
  // itself). Launch only: graph-capturable.
  void step(const LinearFeatureMap& map, const void* q, const void* k, const void* v, DType dtype, void* o,
            DType o_dtype, float* lse, cudaStream_t stream);

  int32_t n_seqs() const { return n_seqs_; }
  int32_t q_heads() const { return q_heads_; }
  int32_t kv_heads() const { return kv_heads_; }
  int32_t head_dim() const { return d_; }
  int32_t features() const { return m_; }
  size_t state_bytes() const;  // independent of the sequence length
  float* s() const { return s_; }
  float* z() const { return z_; }
  float* offset() const { return off_; }

 private:
  int32_t n_seqs_, q_heads_, kv_heads_, d_, m_;
  float x_scale_;
  float* s_ = nullptr;    // [n_seqs, kv_heads, m, d]
  float* z_ = nullptr;    // [n_seqs, kv_heads, d/32, m]
  float* off_ = nullptr;  // [n_seqs, kv_heads, d/32]
};

}  // namespace eft::cuda
