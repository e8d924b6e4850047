// Host-side checks of the CUDA attention API: bad parameters throw eft::Error before any launch.
// These need no GPU (plan_attention is host-only; attention() validates before touching CUDA),
// so main.cpp runs them on CPU-only machines too.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention/cuda/fwd_params.h"
#include "common/attn_case.h"
#include "eft/attention_cuda.h"
#include "eft/error.h"
#include "gpu/gpu_case.h"

namespace eft::test {
namespace {

using cuda::AttentionPlanOptions;

AttnCase small_case(int D = 64, DType dt = DType::bf16) {
  AttnCaseSpec s = base_spec(D, dt, 4, 2);
  s.q_lens = {1, 1};
  s.kv_lens = {600, 20};
  return make_case(s, 1);
}


TEST(CudaAttentionValidation, UnsupportedHeadDim) {
  AttnCase c = small_case(96);
  const std::string msg = error_of([&] { cuda::plan_attention(c.params, c.args()); });
  EXPECT_NE(msg.find("head_dim"), std::string::npos) << msg;
  EXPECT_NE(msg.find("96"), std::string::npos) << msg;
}

TEST(CudaAttentionValidation, UnsupportedDtypes) {
  AttnCase c = small_case(64, DType::f32);
  EXPECT_NE(error_of([&] { cuda::plan_attention(c.params, c.args()); }).find("bf16 or f16"), std::string::npos);
  AttnCase d = small_case();
  AttentionArgs a = d.args();
  a.kv.dtype = DType::f16;
  EXPECT_NE(error_of([&] { cuda::plan_attention(d.params, a); }).find("K/V"), std::string::npos);
}

TEST(CudaAttentionValidation, LinearIsNotOnCuda) {
  AttnCase c = small_case();
  c.params.method = AttnMethod::linear;
  EXPECT_NE(error_of([&] { cuda::plan_attention(c.params, c.args()); }).find("linear"), std::string::npos);
}

TEST(CudaAttentionValidation, MisalignedPointersAndStrides) {
  AttnCase c = small_case();
  const cuda::AttentionPlan plan = cuda::plan_attention(c.params, c.args());
  AttentionArgs a = c.args();
  a.q = static_cast<const char*>(a.q) + 2;  // never dereferenced: the check fires first
  std::string msg = error_of([&] { cuda::attention(c.params, a, plan, {}, nullptr); });
  EXPECT_NE(msg.find("16-byte aligned"), std::string::npos) << msg;
  a = c.args();
  a.q_row_stride = 4 * 64 + 4;
  msg = error_of([&] { cuda::attention(c.params, a, plan, {}, nullptr); });
  EXPECT_NE(msg.find("multiples of 8"), std::string::npos) << msg;
}

TEST(CudaAttentionValidation, WorkspaceTooSmall) {
  AttnCase c = small_case();
  const cuda::AttentionPlan plan = cuda::plan_attention(c.params, c.args(), {.kv_splits = 4});
  ASSERT_EQ(plan.kv_splits, 4);
  ASSERT_GT(plan.workspace_bytes, 0u);
  const std::string msg = error_of([&] {
    cuda::attention(c.params, c.args(), plan, {nullptr, plan.workspace_bytes - 1}, nullptr);
  });
  EXPECT_NE(msg.find("workspace"), std::string::npos) << msg;
}

TEST(CudaAttentionValidation, CallMustMatchPlan) {
  AttnCase c = small_case();
  const cuda::AttentionPlan plan = cuda::plan_attention(c.params, c.args());
  AttentionParams p = c.params;
  p.q_heads = 8;
  EXPECT_NE(error_of([&] { cuda::attention(p, c.args(), plan, {}, nullptr); }).find("plan"), std::string::npos);
  EXPECT_NE(error_of([&] { cuda::attention(c.params, c.args(), cuda::AttentionPlan{}, {}, nullptr); }).find("plan"),
            std::string::npos);
}

TEST(CudaAttentionValidation, PlanShapes) {
  AttnCase c = small_case(128);
  // 2 sequences x 2 KV heads = 4 CTAs on 132 SMs: flash-decoding splits the KV range.
  cuda::AttentionPlan plan = cuda::plan_attention(c.params, c.args(), {.sm_count = 132});
  EXPECT_EQ(plan.kernel, cuda::AttnKernel::decode);
  EXPECT_EQ(plan.heads_per_cta, 2);  // both query heads of a KV head share its K/V reads
  EXPECT_GT(plan.kv_splits, 1);
  EXPECT_LE(plan.kv_splits, (600 + plan.block_n - 1) / plan.block_n);
  EXPECT_GT(plan.workspace_bytes, 0u);
  plan = cuda::plan_attention(c.params, c.args(), {.kernel = cuda::AttnKernel::prefill});
  EXPECT_EQ(plan.kv_splits, 1);
  // Prefill needs no partials; the warp-specialized loop (head_dim 128 on Hopper) only its tile counter.
  EXPECT_EQ(plan.workspace_bytes, plan.main_loop == cuda::MainLoop::wgmma_ws ? 256u : 0u);
  plan = cuda::plan_attention(c.params, c.args(), {.kernel = cuda::AttnKernel::prefill, .main_loop = cuda::MainLoop::mma_sync});
  EXPECT_EQ(plan.workspace_bytes, 0u);
}

// The decode plan (one query token, GQA 32/8, D = 128, bf16) of B sequences of L keys, contiguous
// or in a paged cache of 16-token blocks, for 132 SMs. The pointers are never dereferenced.
cuda::AttentionPlan decode_plan(int B, int L, bool paged) {
  static const char dummy[256] = {};
  std::vector<int32_t> q_start(B + 1), kv_len(B, L), kv_start(B);
  for (int b = 0; b <= B; ++b) q_start[b] = b;
  for (int b = 0; b < B; ++b) kv_start[b] = b * L;
  const int per_seq = L / 16;
  std::vector<int32_t> table(size_t(B) * per_seq);
  for (size_t i = 0; i < table.size(); ++i) table[i] = int32_t(i);
  AttentionParams p;
  p.q_heads = 32;
  p.kv_heads = 8;
  p.head_dim = 128;
  p.mask = mask_causal();
  AttentionArgs a;
  a.q_dtype = a.kv.dtype = a.o_dtype = DType::bf16;
  a.q = a.kv.k = a.kv.v = dummy;
  a.o = const_cast<char*>(dummy);
  a.batch = {B, q_start.data(), kv_len.data(), nullptr};
  if (paged) {
    a.kv.layout = KvLayout::paged;
    a.kv.block_table = table.data();
    a.kv.block_size = 16;
    a.kv.max_blocks = per_seq;
    a.kv.n_blocks = int32_t(table.size());
  } else {
    a.kv.kv_start = kv_start.data();
  }
  return cuda::plan_attention(p, a, {.sm_count = 132});
}

// Contiguous batches whose unsplit decode grid fills whole waves of the 3-stage kernel run
// unsplit on it (more shared memory per CTA), or on its narrow-tile sibling where one wave of that
// holds the grid; smaller ones stay on the 2-stage kernel, splitting
// the KV range where they cannot fill the GPU — and so does a grid of 1.2 such waves (its last
// would be mostly empty). A paged cache takes the same kernel (its block-table slice is staged in
// shared memory, so it no longer needs the 2-stage kernel's extra resident CTAs).
TEST(CudaAttentionValidation, DecodeLargeBatchesRunUnsplit) {
  const cuda::AttentionPlan b16 = decode_plan(16, 1024, false), b40 = decode_plan(40, 1024, false),
                            b64 = decode_plan(64, 1024, false), b128 = decode_plan(128, 1024, false);
  EXPECT_GT(b16.kv_splits, 1);
  EXPECT_EQ(b40.smem_bytes, b16.smem_bytes);
  // 512 CTAs: more than one wave of the 64-key 3-stage kernel (two per SM), one of the narrow one
  // (32 keys, four per SM).
  EXPECT_EQ(b64.kv_splits, 1);
  EXPECT_EQ(b64.workspace_bytes, 0u);  // no partials
  EXPECT_EQ(b64.block_n, 32);
  EXPECT_LE(b64.ctas, b64.wave_ctas);
  EXPECT_GE(double(b64.ctas), 0.9 * double(b64.wave_ctas));
  // 1024 CTAs: more than a wave of either; the 64-key 3-stage kernel over whole waves.
  EXPECT_EQ(b128.kv_splits, 1);
  EXPECT_EQ(b128.block_n, 64);
  EXPECT_GT(b128.smem_bytes, b16.smem_bytes);  // the third K/V stage
  EXPECT_GE(b128.ctas, b128.wave_ctas);
  for (int B : {64, 128}) {  // paged: the same kernels, the block tables staged
    const cuda::AttentionPlan contiguous = decode_plan(B, 1024, false), paged = decode_plan(B, 1024, true);
    EXPECT_EQ(paged.smem_bytes, contiguous.smem_bytes) << "batch " << B;
    EXPECT_EQ(paged.block_n, contiguous.block_n) << "batch " << B;
    EXPECT_EQ(paged.kv_splits, 1) << "batch " << B;
  }
  // ... unless a CTA's range would span more blocks than it stages (32k keys: 2048 > 1024): then
  // the 2-stage kernel.
  EXPECT_EQ(decode_plan(64, 32768, false).smem_bytes, b64.smem_bytes);
  EXPECT_EQ(decode_plan(64, 32768, true).smem_bytes, b16.smem_bytes);
}

// The split choice of decode, over batch x KV length x layout: never a second, nearly empty wave
// when the unsplit CTAs fit in one; no empty splits; a paged cache is planned exactly as a
// contiguous one where its CTAs can stage their block-table slices (at most 1024 blocks).
TEST(CudaAttentionValidation, DecodeSplitsFillOneWave) {
  for (int B : {1, 2, 4, 16, 64})
    for (int L : {1024, 4096, 32768}) {
      const cuda::AttentionPlan contiguous = decode_plan(B, L, false), paged = decode_plan(B, L, true);
      for (const cuda::AttentionPlan* plan : {&contiguous, &paged}) {
        SCOPED_TRACE("batch " + std::to_string(B) + " kv " + std::to_string(L) +
                     (plan == &paged ? " paged" : " contiguous"));
        ASSERT_EQ(plan->kernel, cuda::AttnKernel::decode);
        ASSERT_GT(plan->wave_ctas, 0);
        EXPECT_GE(plan->kv_splits, 1);
        EXPECT_LE(plan->kv_splits, 64);
        if (int64_t(B) * 8 <= plan->wave_ctas) {
          EXPECT_LE(plan->ctas, plan->wave_ctas);
        }
        const int tiles = (L + plan->block_n - 1) / plan->block_n, per = (tiles + plan->kv_splits - 1) / plan->kv_splits;
        EXPECT_GT(tiles, per * (plan->kv_splits - 1)) << "an empty split";
      }
      if (L / 16 <= 1024) {
        EXPECT_EQ(paged.kv_splits, contiguous.kv_splits);
        EXPECT_EQ(paged.config, contiguous.config);
      }
    }
}

// The prefill item order (a ticket or launch place -> grid item) visits every item exactly once, keeps row order
// for the first x_count - tail_x columns, and ends with the last column (the lightest query tiles
// of a causal mask) across all rows.
TEST(CudaAttentionValidation, ItemOrderIsAPermutation) {
  for (int x_count : {1, 2, 4, 16, 128})
    for (int yz : {1, 3, 16, 256})
      for (int tail_x : {0, 1, x_count / 4, x_count / 2, x_count}) {
        SCOPED_TRACE(std::to_string(x_count) + " columns, " + std::to_string(yz) + " rows, tail " + std::to_string(tail_x));
        const int n = x_count * yz;
        std::vector<int> seen(size_t(n), 0);
        for (int k = 0; k < n; ++k) {
          const int item = cuda::detail::scheduled_item(k, x_count, yz, tail_x);
          ASSERT_GE(item, 0);
          ASSERT_LT(item, n);
          ++seen[size_t(item)];
          if (k < (x_count - tail_x) * yz) {
            EXPECT_EQ(item / x_count, k / (x_count - tail_x));  // row by row
          }
        }
        for (int i = 0; i < n; ++i) EXPECT_EQ(seen[size_t(i)], 1) << "item " << i;
        if (tail_x == 0) {
          for (int k = 0; k < n; ++k) EXPECT_EQ(cuda::detail::scheduled_item(k, x_count, yz, 0), k);
        } else {
          for (int k = n - yz; k < n; ++k) EXPECT_EQ(cuda::detail::scheduled_item(k, x_count, yz, tail_x) % x_count, x_count - 1);
        }
      }
}

}  // namespace
}  // namespace eft::test
