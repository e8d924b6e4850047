#pragma once
// One description of an attention call, shared by every method (standard, flash, sparse, linear)
// and every backend (CPU, CUDA).
//
//   Q   [q_tokens, q_heads, head_dim]    rows of all sequences stacked (varlen / ragged)
//   K,V through a KvView: contiguous [kv_tokens, kv_heads, head_dim] or paged
//       [n_blocks, block_size, kv_heads, head_dim] with a block table per sequence
//   O   [q_tokens, q_heads, head_dim]
//   LSE [q_tokens, q_heads] (optional) natural log of sum(exp(scaled logits)) per row
//
// Query r of sequence s (r in [0, q_len)) sits at absolute position q_pos0[s] + r and sees keys
// 0 .. kv_len[s]-1 of its sequence, filtered by the mask. Prefill (q_len = kv_len), chunked
// prefill (q_len < kv_len, history before) and decode (q_len = 1) are the same call.
// GQA/MQA: query head h reads kv head h / (q_heads / kv_heads); K/V are never copied per head.
// A row whose mask allows no key gets O = 0 and LSE = -inf.
#include <cstdint>
#include <string_view>
#include <vector>

#include "eft/dtype.h"
#include "eft/hd.h"
#include "eft/mask.h"

namespace eft {

enum class AttnMethod : uint8_t {
  standard,  // materializes the [q_len, kv_len] scores: the O(N^2)-memory baseline
  flash,     // tiled online softmax, one tile of scores at a time (FA2 work partitioning)
  sparse,    // flash that skips every KV tile the mask excludes: cost follows attended entries
  linear,    // Performer FAVOR+ (approximate); masks none and causal only
};
std::string_view method_name(AttnMethod m);
AttnMethod method_from_name(std::string_view name);  // throws naming the bad value

enum class KvLayout : uint8_t { contiguous, paged };

struct KvView {
  KvLayout layout = KvLayout::contiguous;
  DType dtype = DType::f32;
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t row_stride = 0;       // elements between consecutive tokens; 0 = kv_heads * head_dim
  // contiguous: token t of sequence s is row kv_start[s] + t of K and V.
  const int32_t* kv_start = nullptr;  // [n_seqs]
  // paged: token t of sequence s is slot t % block_size of block block_table[s][t / block_size].
  const int32_t* block_table = nullptr;  // [n_seqs, max_blocks] row-major
  int32_t max_blocks = 0;
  int32_t block_size = 0;
  int32_t n_blocks = 0;                  // blocks in the pool, for validation
};

struct SeqBatch {
  int32_t n_seqs = 0;
  const int32_t* q_start = nullptr;  // [n_seqs + 1] row offsets into Q / O / LSE
  const int32_t* kv_len = nullptr;   // [n_seqs]
  const int32_t* q_pos0 = nullptr;   // [n_seqs] or nullptr: kv_len - q_len (queries are the last tokens)
};

// Performer FAVOR+ settings: m random features drawn as blocks of orthogonal Gaussian rows.
struct LinearParams {
  int32_t features = 256;   // m
  uint64_t seed = 0x5eed;
  const float* projection = nullptr;  // [features, head_dim]; nullptr: drawn from seed (CPU)
};

struct AttentionParams {
  int32_t q_heads = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 0.f;    // 0: 1/sqrt(head_dim)
  float softcap = 0.f;  // 0: off; else logit = softcap * tanh(logit / softcap)
  Mask mask;
  AttnMethod method = AttnMethod::flash;
  LinearParams linear;
};

struct AttentionArgs {
  const void* q = nullptr;
  DType q_dtype = DType::f32;
  int64_t q_row_stride = 0;  // 0 = q_heads * head_dim
  KvView kv;
  void* o = nullptr;
  DType o_dtype = DType::f32;
  int64_t o_row_stride = 0;  // 0 = q_heads * head_dim
  float* lse = nullptr;      // optional [q_tokens, q_heads]
  SeqBatch batch;
};

inline float effective_scale(const AttentionParams& p) {
  return p.scale != 0.f ? p.scale : 1.0f / __builtin_sqrtf(float(p.head_dim));
}

// Row of K or V for token t of sequence s (shared addressing for every backend).
EFT_HD int64_t kv_row_index(const KvView& kv, int32_t s, int64_t t) {
  if (kv.layout == KvLayout::contiguous) return int64_t(kv.kv_start[s]) + t;
  int32_t b = kv.block_table[int64_t(s) * kv.max_blocks + t / kv.block_size];
  return int64_t(b) * kv.block_size + t % kv.block_size;
}

// Validates shapes, head layout, mask parameters and (host-side) offsets, block tables and global
// positions; throws eft::Error naming the bad field. Every backend calls it before running.
// `host_pointers`: the batch, block table and mask arrays may be read on the host.
void validate_attention(const AttentionParams& p, const AttentionArgs& a, bool host_pointers = true);

// CPU entry point for every method. Throws eft::Error on bad input.
void attention_cpu(const AttentionParams& p, const AttentionArgs& a);

// The specification: naive float64 attention over the same description (reads any input dtype).
// out: [q_tokens, q_heads, head_dim] doubles; lse (optional): [q_tokens, q_heads].
void attention_reference(const AttentionParams& p, const AttentionArgs& a, double* out,
                         double* lse = nullptr);

}  // namespace eft
