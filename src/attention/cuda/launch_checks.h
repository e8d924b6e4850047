#pragma once
// Host helpers shared by the CUDA attention entry points (attention() in plan.cpp,
// linear_attention() in linear_plan.cpp): launch-time checks and the SM count to plan for. The
// checks read no device memory, so a launch that calls them stays graph-capturable. `who` names the
// entry point in the messages ("attention", ...).
#include <cstddef>
#include <cstdint>

#include "attention/cuda/io_params.h"
#include "eft/attention.h"
#include "eft/attention_cuda.h"

namespace eft::cuda::detail {

inline size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// The batch and KV layout of the call are the ones the plan was made for.
void check_matches_plan(const char* who, const AttentionArgs& a, int32_t n_seqs, DType dtype, KvLayout layout,
                        int32_t block_size);

// Q, K, V, O non-null and 16-byte aligned, row strides multiples of 8 elements, LSE 4-byte
// aligned, the workspace at least `need` bytes and 16-byte aligned when used. Returns the call's
// io for the kernel parameters (row strides resolved: 0 in the args means packed heads).
AttnIoParams check_io(const char* who, const AttentionParams& p, const AttentionArgs& a, Workspace ws, size_t need);

// The batch metadata a non-empty launch reads on the device: q_start, kv_len, and kv_start
// (contiguous) or block_table (paged).
void check_batch_pointers(const char* who, const AttentionArgs& a);

// log2(block_size) for a paged KV view with a power-of-two block size (shift addressing), else -1.
int32_t block_shift(const KvView& kv);

// The SM count a plan is made for: the options' sm_count when set, else the current device's,
// else 132 (H100/H200 SXM) when planning without a device.
int planning_sms(int requested);

}  // namespace eft::cuda::detail
