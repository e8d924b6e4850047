// CUDA attention against the float64 CPU reference, plus invariants (paged == contiguous,
// split-KV == one pass, decode of the last token == last prefill row, graph replay == launch)
// and the host-side validation (which runs without a GPU too; see main.cpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "eft/cuda.h"
#include "eft/error.h"
#include "gpu/gpu_case.h"

namespace eft::test {
namespace {

using cuda::AttentionPlanOptions;
using cuda::AttnKernel;
using cuda::MainLoop;

uint64_t fresh_seed() {
  static std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

// Masks of the grid; global / layout vectors sized for positions < 512.
struct MaskCase {
  const char* name;
  Mask mask;
  std::vector<int32_t> global;
  std::vector<uint8_t> layout;
};
std::vector<MaskCase> all_masks() {
  std::vector<MaskCase> m;
  m.push_back({"none", mask_none(), {}, {}});
  m.push_back({"causal", mask_causal(), {}, {}});
  m.push_back({"window_causal", mask_window(37, 0), {}, {}});
  m.push_back({"window_both", mask_window(20, 15), {}, {}});
  m.push_back({"strided", mask_strided(13, 9, true), {}, {}});
  m.push_back({"longformer", mask_longformer(16, 16, nullptr, 0, false), {0, 5, 30}, {}});  // < every kv_len
  {
    const int block = 32, nb = 512 / block;
    std::vector<uint8_t> layout(size_t(nb * nb));
    std::mt19937 rng(7);
    for (auto& x : layout) x = uint8_t(rng() % 3 == 0);
    for (int i = 0; i < nb; ++i) layout[size_t(i * nb + i)] = 1;  // diagonal: no row left empty
    m.push_back({"block_sparse", mask_block_sparse(nullptr, block, nb, nb, true), {}, layout});
  }
  return m;
}

// Runs one spec on the GPU with one plan and checks every element (and the LSE) against the reference.
void check_case_once(AttnCaseSpec spec, const AttentionPlanOptions& opt, const std::vector<int32_t>& q_pos0,
                     AttnKernel expect) {
  const uint64_t seed = fresh_seed();
  AttnCase c = make_case(spec, seed);
  SCOPED_TRACE(spec.str() + " seed=" + std::to_string(seed) + " splits=" + std::to_string(opt.kv_splits) +
               " main_loop=" + std::to_string(int(opt.main_loop)));
  DeviceCase dc(c, q_pos0);
  GpuResult r;
  dc.run(opt, r);
  if (expect != AttnKernel::automatic) {
    EXPECT_EQ(int(r.plan.kernel), int(expect));
  }
  if (opt.main_loop != MainLoop::automatic) {
    EXPECT_EQ(int(r.plan.main_loop), int(opt.main_loop));
  }
  std::vector<double> ref, ref_lse;
  dc.reference(ref, ref_lse);
  const double err = rel_l2(r.out, ref);
  EXPECT_LE(err, tol(spec.o_dtype == DType::f32 ? spec.dtype : spec.o_dtype))
      << "kernel=" << int(r.plan.kernel) << " splits=" << r.plan.kv_splits;
  for (size_t i = 0; i < ref_lse.size(); ++i) {
    if (std::isinf(ref_lse[i])) {
      ASSERT_TRUE(std::isinf(r.lse[i]) && r.lse[i] < 0) << "lse row " << i << " = " << r.lse[i];
    } else {
      ASSERT_NEAR(r.lse[i], ref_lse[i], 2e-2 + 1e-3 * std::fabs(ref_lse[i])) << "lse row " << i;
    }
  }
}

// Every prefill case runs on each main loop the device has (mma_sync always; wgmma and wgmma_ws
// on sm_90a builds on Hopper), so all of them stay checked on the card the tests run on.
void check_case(AttnCaseSpec spec, const AttentionPlanOptions& opt, std::vector<int32_t> q_pos0 = {},
                AttnKernel expect = AttnKernel::automatic) {
  AttnCase probe = make_case(spec, 1);
  AttentionArgs probe_args = probe.args();
  if (!q_pos0.empty()) probe_args.batch.q_pos0 = q_pos0.data();
  const cuda::AttentionPlan plan = cuda::plan_attention(probe.params, probe_args, opt);
  if (plan.kernel == AttnKernel::decode || opt.main_loop != MainLoop::automatic) {
    check_case_once(spec, opt, q_pos0, expect);
    return;
  }
  for (MainLoop ml : {MainLoop::mma_sync, MainLoop::wgmma, MainLoop::wgmma_ws}) {
    if (ml != MainLoop::mma_sync && plan.main_loop == MainLoop::mma_sync) continue;  // not on this device/build
    AttentionPlanOptions o = opt;
    o.main_loop = ml;
    check_case_once(spec, o, q_pos0, expect);
  }
}


// ---- prefill -------------------------------------------------------------------------------------

TEST(CudaAttention, PrefillEveryMaskLayoutHeadDim) {
  const int heads[3][2] = {{4, 4}, {8, 2}, {4, 1}};
  const int block_sizes[5] = {16, 32, 64, 128, 256};
  int i = 0;
  for (int D : {64, 128, 256})
    for (DType dt : {DType::bf16, DType::f16})
      for (const MaskCase& mc : all_masks())
        for (bool paged : {false, true}) {
          ++i;
          AttnCaseSpec s = base_spec(D, dt, heads[i % 3][0], heads[i % 3][1]);
          // Ragged: full prefill, chunked prefill with history, and a single query; none a tile multiple.
          s.q_lens = {77, 130, 1};
          s.kv_lens = {77, 200, 33};
          s.paged = paged;
          s.block_size = block_sizes[i % 5];
          s.mask = mc.mask;
          s.global = mc.global;
          s.layout = mc.layout;
          SCOPED_TRACE(mc.name);
          check_case(s, {.kernel = AttnKernel::prefill}, {}, AttnKernel::prefill);
        }
}

TEST(CudaAttention, PrefillHeadLayouts) {
  const int heads[4][2] = {{8, 8}, {8, 2}, {8, 1}, {6, 3}};
  for (int D : {64, 128, 256})
    for (auto& h : heads)
      for (bool causal : {false, true}) {
        AttnCaseSpec s = base_spec(D, DType::bf16, h[0], h[1]);
        s.q_lens = {150, 129};
        s.kv_lens = {150, 129};
        if (causal) s.mask = mask_causal();
        check_case(s, {});
      }
}

TEST(CudaAttention, PrefillSoftcapScaleF32OutAndQueryPositions) {
  for (int D : {64, 128, 256}) {
    AttnCaseSpec s = base_spec(D, DType::bf16, 8, 2);
    s.q_lens = {90, 40};
    s.kv_lens = {200, 100};
    s.mask = mask_causal();
    s.softcap = 2.5f;
    s.scale = 0.3f;
    s.o_dtype = DType::f32;
    check_case(s, {});
    // Explicit positions: chunk [50, 140) of a 200-token sequence, chunk [10, 50) of 100 (keys past
    // the chunk exist but the causal mask hides them).
    s.softcap = 0.f;
    s.scale = 0.f;
    check_case(s, {}, {50, 10});
    s.mask = mask_window(30, 5);
    check_case(s, {}, {50, 10});
  }
}

TEST(CudaAttention, PrefillLongerSequences) {
  for (DType dt : {DType::bf16, DType::f16}) {
    AttnCaseSpec s = base_spec(128, dt, 4, 2);
    s.q_lens = {1000, 333};
    s.kv_lens = {1000, 333};
    s.mask = mask_causal();
    s.paged = true;
    s.block_size = 64;
    check_case(s, {});
  }
}

// ---- the warp-specialized Hopper loop (MainLoop::wgmma_ws) -----------------------------------------
// Every prefill case above runs on it too (check_case); here what is its own: graph replay (its tile
// counter is zeroed inside the captured work), batches with more items than SMs, and a small case
// for compute-sanitizer.

TEST(CudaWgmmaWs, LongAndManyItems) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  const AttentionPlanOptions ws{.main_loop = MainLoop::wgmma_ws};
  // Causal, paged, 1000 + 333 tokens; then 40 heads x 3 sequences of 700: more work items than
  // SMs, so CTAs take items from the counter.
  AttnCaseSpec s = base_spec(128, DType::bf16, 4, 2);
  s.q_lens = {1000, 333};
  s.kv_lens = {1000, 333};
  s.mask = mask_causal();
  s.paged = true;
  s.block_size = 64;
  check_case_once(s, ws, {}, AttnKernel::prefill);
  s = base_spec(64, DType::f16, 40, 8);
  s.q_lens = {700, 700, 700};
  s.kv_lens = {700, 700, 700};
  s.mask = mask_causal();
  check_case_once(s, ws, {}, AttnKernel::prefill);
}

// A small case for compute-sanitizer (racecheck / synccheck) runs of the warp-specialized loop.
TEST(CudaWgmmaWs, SmallForSanitizer) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  const AttentionPlanOptions ws{.main_loop = MainLoop::wgmma_ws};
  AttnCaseSpec s = base_spec(64, DType::bf16, 4, 2);
  s.q_lens = {150, 5};
  s.kv_lens = {150, 260};
  s.mask = mask_causal();
  s.paged = true;
  s.block_size = 32;
  check_case_once(s, ws, {}, AttnKernel::prefill);
  // A window: the band's first tile is masked for most of the second warpgroup's rows.
  s.q_lens = {300, 5};
  s.kv_lens = {300, 260};
  s.mask = mask_window(100, 0);
  check_case_once(s, ws, {}, AttnKernel::prefill);
  // The kernel compiled for every mask (block-sparse, with empty rows of blocks; the interval
  // masks above run the interval-only one), no mask, and D = 128 (128-key tiles, O by TMA).
  const int block = 32, nb = 320 / block;
  std::vector<uint8_t> layout(size_t(nb * nb));
  std::mt19937 rng{uint32_t(fresh_seed())};
  for (auto& x : layout) x = uint8_t(rng() % 3 == 0);
  s.layout = layout;
  s.mask = mask_block_sparse(nullptr, block, nb, nb, false);
  check_case_once(s, ws, {}, AttnKernel::prefill);
  s.layout.clear();
  s.mask = mask_none();
  check_case_once(s, ws, {}, AttnKernel::prefill);
  AttnCaseSpec s128 = base_spec(128, DType::bf16, 4, 2);
  s128.q_lens = {200, 64};
  s128.kv_lens = {200, 100};
  s128.mask = mask_causal();
  check_case_once(s128, ws, {}, AttnKernel::prefill);
}

// Band edges of causal and window masks in the warp-specialized loop, where each consumer
// warpgroup's 64 rows see different parts of the first and last key tiles: windows whose left
// edge falls on, just before and just after a 64-key boundary, a band narrower than a warpgroup's
// rows (whole tiles masked for one warpgroup), a look-ahead window, ragged lengths and queries after
// a cached prefix, at both head_dims the loop runs with 128-key tiles. (Written for per-warpgroup
// half tiles, branch ws-half-tiles: correct, but slower, not merged.)
TEST(CudaWgmmaWs, BandEdgesPerWarpgroup) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  const AttentionPlanOptions ws{.main_loop = MainLoop::wgmma_ws};
  const Mask masks[] = {mask_window(1023, 0), mask_window(191, 0), mask_window(64, 0), mask_window(63, 0),
                        mask_window(40, 0),   mask_window(127, 3),  mask_causal()};
  for (int D : {64, 128})
    for (const Mask& m : masks) {
      AttnCaseSpec s = base_spec(D, D == 64 ? DType::f16 : DType::bf16, 4, 2);
      s.q_lens = {1500, 200, 77};
      s.kv_lens = {1500, 328, 77};  // sequence 1: 128 cached keys before its queries
      s.mask = m;
      check_case_once(s, ws, {}, AttnKernel::prefill);
    }
}

// Conditional rescaling (kLazy in fwd_sm90_ws.cu): a row keeps a stale running max while the
// tile's max exceeds it by at most 8 (base 2). A large softmax scale makes the max jump by far
// more than that along a row (the rescale taken with alpha strictly between 0 and 1), a small one
// keeps every jump under it (P up to 2^8, the rescale skipped); both against the float64 reference.
TEST(CudaWgmmaWs, ConditionalRescale) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  const AttentionPlanOptions ws{.main_loop = MainLoop::wgmma_ws};
  for (int D : {64, 128, 256})
    for (float scale : {0.05f, 2.0f})
      for (const Mask& m : {mask_none(), mask_causal()}) {
        AttnCaseSpec s = base_spec(D, DType::bf16, 4, 2);
        s.q_lens = {700, 300};
        s.kv_lens = {700, 300};
        s.mask = m;
        s.scale = scale;
        check_case_once(s, ws, {}, AttnKernel::prefill);
      }
}

TEST(CudaWgmmaWs, GraphReplayedTwice) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  AttnCaseSpec s = base_spec(128, DType::bf16, 8, 2);
  s.q_lens = {300, 129};
  s.kv_lens = {300, 200};
  s.mask = mask_causal();
  AttnCase c = make_case(s, fresh_seed());
  DeviceCase d(c);
  const cuda::AttentionPlan plan =
      cuda::plan_attention(c.params, d.host_args(), {.main_loop = MainLoop::wgmma_ws});
  ASSERT_GT(plan.workspace_bytes, 0u);  // the tile counter
  DevBuf ws(plan.workspace_bytes);
  std::vector<double> ref, ref_lse;
  d.reference(ref, ref_lse);
  // Two captures replayed: the second starts with the counter the first left behind, unless the
  // captured memset zeroes it.
  for (int rep = 0; rep < 2; ++rep) {
    GpuResult r;
    replay_captured(
        d, [&](cudaStream_t st) { cuda::attention(d.dev_params(), d.dev_args(), plan, {ws.p, ws.bytes}, st); }, r);
    EXPECT_LE(rel_l2(r.out, ref), tol(DType::bf16)) << "replay " << rep;
  }
}

// O through TMA stores (AttentionPlan::tma_store_o): the plan takes it only for one-pass, 16-bit O
// on the warp-specialized loop; with it, O is bit for bit what the register stores write (the same
// arithmetic, another route), full 64-row halves and ragged ends alike, and into an O with a padded
// row stride nothing outside the rows' head_dim columns is written.
TEST(CudaWgmmaWs, TmaStoreOfOutput) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "no sm_90a build / compute capability 9.0 device";
  for (int D : {64, 128}) {
    AttnCaseSpec s = base_spec(D, DType::bf16, 4, 2);
    s.q_lens = {300, 129, 64};  // full halves, a 44-row end, one half of 1 row, a single full half
    s.kv_lens = {300, 200, 64};
    s.mask = mask_window(100, 0);
    const uint64_t seed = fresh_seed();
    AttnCase c = make_case(s, seed);
    SCOPED_TRACE(s.str() + " seed=" + std::to_string(seed));
    DeviceCase d(c);
    const AttentionPlanOptions on{.main_loop = MainLoop::wgmma_ws}, off{.main_loop = MainLoop::wgmma_ws,
                                                                        .tma_store_o = false};
    GpuResult r_on, r_off;
    d.run(on, r_on);
    const std::vector<uint8_t> o_on = c.o;
    d.run(off, r_off);
    EXPECT_TRUE(r_on.plan.tma_store_o);
    EXPECT_FALSE(r_off.plan.tma_store_o);
    EXPECT_EQ(o_on, c.o) << "TMA-stored O differs from the register-stored O";
    std::vector<double> ref, ref_lse;
    d.reference(ref, ref_lse);
    EXPECT_LE(rel_l2(r_on.out, ref), tol(DType::bf16));

    // A padded row stride (64 spare columns per token, poisoned): only the head_dim columns of
    // each head change, to the same bytes.
    const int64_t row = int64_t(s.q_heads) * D, stride = row + 64;
    DevBuf padded(size_t(c.q_tokens * stride) * 2);
    EFT_CUDA_OK(cudaMemset(padded.p, 0xff, padded.bytes));
    AttentionArgs a = d.dev_args();
    a.o = padded.p;
    a.o_row_stride = stride;
    DevBuf ws(r_on.plan.workspace_bytes);
    cuda::attention(d.dev_params(), a, r_on.plan, cuda::Workspace{ws.p, ws.bytes}, nullptr);
    EFT_CUDA_OK(cudaDeviceSynchronize());
    std::vector<uint8_t> got(padded.bytes);
    EFT_CUDA_OK(cudaMemcpy(got.data(), padded.p, got.size(), cudaMemcpyDeviceToHost));
    int64_t bad = 0;
    for (int64_t t = 0; t < c.q_tokens; ++t) {
      bad += std::memcmp(got.data() + t * stride * 2, o_on.data() + t * row * 2, size_t(row) * 2) != 0;
      for (int64_t b = row * 2; b < stride * 2; ++b) bad += got[size_t(t * stride * 2 + b)] != 0xff;
    }
    EXPECT_EQ(bad, 0) << "padded-stride O: rows differing or spare columns written";
  }
}

// ---- decode --------------------------------------------------------------------------------------

TEST(CudaAttention, DecodeGrid) {
  const int heads[3][2] = {{32, 8}, {8, 8}, {16, 1}};
  int i = 0;
  for (int D : {64, 128, 256})
    for (int q_len : {1, 4, 8})
      for (auto& h : heads) {
        ++i;
        const DType dt = i % 2 ? DType::bf16 : DType::f16;
        AttnCaseSpec s = base_spec(D, dt, h[0], h[1]);
        s.q_lens = {q_len, q_len, q_len};
        s.kv_lens = {1000, 77, 300};
        s.paged = i % 3 != 0;
        s.block_size = i % 4 == 0 ? 256 : 16;
        const Mask masks[3] = {mask_causal(), mask_none(), mask_window(100, 0)};
        s.mask = masks[i % 3];
        check_case(s, {}, {}, AttnKernel::decode);
        // Planned for one SM, the grid is several waves: the unsplit 3-stage kernel where the
        // waves come out whole, the 2-stage one with splits elsewhere.
        check_case(s, {.sm_count = 1}, {}, AttnKernel::decode);
      }
}

// The 3-stage decode kernel is what the planner picks for a grid of whole waves (here: 3 sequences
// x 8 KV heads = 24 CTAs planned for one SM, a whole number of waves at 1, 2, 3, 4 or 6 CTAs per
// SM), contiguous or paged; paged CTAs stage their block-table slice in shared memory.
TEST(CudaAttention, DecodeThreeStageUnsplit) {
  for (int D : {64, 128, 256})
    for (int block_size : {0, 16, 256}) {  // 0: contiguous
      AttnCaseSpec s = base_spec(D, D == 128 ? DType::f16 : DType::bf16, 32, 8);
      s.q_lens = {1, 1, 1};
      s.kv_lens = {1000, 77, 300};
      s.paged = block_size > 0;
      if (s.paged) s.block_size = block_size;
      s.mask = mask_causal();
      SCOPED_TRACE("D=" + std::to_string(D) + " block " + std::to_string(block_size));
      AttnCase probe = make_case(s, 1);
      const cuda::AttentionPlan three = cuda::plan_attention(probe.params, probe.args(), {.sm_count = 1});
      const cuda::AttentionPlan two = cuda::plan_attention(probe.params, probe.args(), {.kv_splits = 1});
      ASSERT_EQ(three.kv_splits, 1);
      ASSERT_GT(three.smem_bytes, two.smem_bytes);  // the third K/V stage
      check_case_once(s, {.sm_count = 1}, {}, AttnKernel::decode);
    }
}

// The narrow-tile 3-stage decode kernel (32 keys, two warps, four CTAs per SM) is what the planner
// picks when its single wave holds a grid that takes more than one wave of the 64-key 3-stage
// kernel (here: 4 sequences x 8 KV heads = 32 CTAs planned for 8 SMs), contiguous or paged.
TEST(CudaAttention, DecodeNarrowUnsplit) {
  for (DType dt : {DType::bf16, DType::f16})
    for (int block_size : {0, 16, 256}) {  // 0: contiguous
      AttnCaseSpec s = base_spec(128, dt, 32, 8);
      s.q_lens = {1, 1, 1, 1};
      s.kv_lens = {1000, 77, 300, 513};
      s.paged = block_size > 0;
      if (s.paged) s.block_size = block_size;
      s.mask = mask_causal();
      SCOPED_TRACE(std::string(dt == DType::bf16 ? "bf16" : "f16") + " block " + std::to_string(block_size));
      AttnCase probe = make_case(s, 1);
      const cuda::AttentionPlan plan = cuda::plan_attention(probe.params, probe.args(), {.sm_count = 8});
      ASSERT_EQ(plan.kv_splits, 1);
      ASSERT_EQ(plan.block_n, 32);
      check_case_once(s, {.sm_count = 8}, {}, AttnKernel::decode);
    }
}

// A paged CTA whose key range spans more blocks than it stages (D = 128: 17000 keys in 16-token
// blocks = 1063 > 1024; D = 64 2-stage, whose slice is 512 ids to keep 6 CTAs per SM: 9000 keys =
// 563) reads the block table from global memory instead; the planner keeps such grids off the
// 3-stage kernel, and a forced unsplit runs that path on the 2-stage kernel.
TEST(CudaAttention, DecodePagedTableTooLongToStage) {
  for (int D : {128, 64}) {
    AttnCaseSpec s = base_spec(D, DType::bf16, 32, 8);
    s.q_lens = {1, 2, 1};
    s.kv_lens = {D == 128 ? 17000 : 9000, 77, 300};
    s.paged = true;
    s.block_size = 16;
    s.mask = mask_causal();
    SCOPED_TRACE("D=" + std::to_string(D));
    AttnCase probe = make_case(s, 1);
    const cuda::AttentionPlan unsplit = cuda::plan_attention(probe.params, probe.args(), {.kv_splits = 1});
    ASSERT_EQ(unsplit.kv_splits, 1);
    check_case_once(s, {.kv_splits = 1}, {}, AttnKernel::decode);
    if (D == 128) {
      const cuda::AttentionPlan planned = cuda::plan_attention(probe.params, probe.args(), {.sm_count = 1});
      ASSERT_EQ(planned.smem_bytes, unsplit.smem_bytes);  // 2 stages
      check_case_once(s, {.sm_count = 1}, {}, AttnKernel::decode);
    }
  }
}

TEST(CudaAttention, DecodeSparseMasks) {
  for (const MaskCase& mc : all_masks()) {
    AttnCaseSpec s = base_spec(128, DType::bf16, 16, 4);
    s.q_lens = {2, 1};
    s.kv_lens = {450, 200};
    s.paged = true;
    s.mask = mc.mask;
    s.global = mc.global;
    s.layout = mc.layout;
    SCOPED_TRACE(mc.name);
    check_case(s, {.kernel = AttnKernel::decode, .kv_splits = 3});
  }
}

// ---- invariants ----------------------------------------------------------------------------------

// The same K/V rows stored contiguously and in shuffled paged blocks give bit-identical outputs.
TEST(CudaAttention, PagedEqualsContiguous) {
  for (AttnKernel kern : {AttnKernel::prefill, AttnKernel::decode}) {
    AttnCaseSpec s = base_spec(128, DType::bf16, 8, 2);
    s.q_lens = kern == AttnKernel::prefill ? std::vector<int>{130, 61} : std::vector<int>{1, 3};
    s.kv_lens = {700, 61};
    s.mask = mask_causal();
    s.paged = true;
    s.block_size = 32;
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed=" + std::to_string(seed));
    AttnCase paged = make_case(s, seed);
    AttnCaseSpec sc = s;
    sc.paged = false;
    AttnCase contig = make_case(sc, seed);
    contig.q = paged.q;
    const int64_t row_bytes = int64_t(s.kv_heads) * s.head_dim * 2;
    for (int seq = 0; seq < 2; ++seq)
      for (int t = 0; t < s.kv_lens[seq]; ++t) {
        const int64_t src = kv_row_index(paged.args().kv, seq, t), dst = contig.kv_start[seq] + t;
        std::memcpy(contig.k.data() + dst * row_bytes, paged.k.data() + src * row_bytes, size_t(row_bytes));
        std::memcpy(contig.v.data() + dst * row_bytes, paged.v.data() + src * row_bytes, size_t(row_bytes));
      }
    DeviceCase dp(paged), dc(contig);
    GpuResult rp, rc;
    dp.run({.kernel = kern}, rp);
    dc.run({.kernel = kern}, rc);
    ASSERT_EQ(rp.plan.kv_splits, rc.plan.kv_splits);
    for (size_t i = 0; i < rp.out.size(); ++i) ASSERT_EQ(rp.out[i], rc.out[i]) << "element " << i;
  }
}

// Cutting the KV range into splits and merging (o, lse) equals one pass. Not bit-exact: P is
// rounded to the input type relative to the running row max, which differs between one pass and a
// split, so the bound is the P-rounding level of f16 (2^-11 per weight), not f32 rounding.
TEST(CudaAttention, SplitKvEqualsSinglePass) {
  for (AttnKernel kern : {AttnKernel::decode, AttnKernel::prefill}) {
    AttnCaseSpec s = base_spec(128, DType::f16, 32, 8);
    s.q_lens = kern == AttnKernel::decode ? std::vector<int>{1, 1, 1} : std::vector<int>{70, 20, 9};
    s.kv_lens = {3000, 700, 90};
    s.o_dtype = DType::f32;
    s.mask = mask_causal();
    AttnCase c = make_case(s, fresh_seed());
    DeviceCase d(c);
    GpuResult one, many;
    d.run({.kernel = kern, .kv_splits = 1}, one);
    d.run({.kernel = kern, .kv_splits = 7}, many);
    ASSERT_EQ(one.plan.kv_splits, 1);
    ASSERT_EQ(many.plan.kv_splits, 7);
    EXPECT_LE(rel_l2(many.out, one.out), 5e-4);
    for (size_t i = 0; i < one.lse.size(); ++i) ASSERT_NEAR(many.lse[i], one.lse[i], 1e-4) << i;
  }
}

// Decoding the last token over the same cache gives the last row of the causal prefill.
TEST(CudaAttention, DecodeOfLastTokenEqualsLastPrefillRow) {
  const int N = 517;
  AttnCaseSpec s = base_spec(128, DType::f16, 32, 8);
  s.q_lens = {N};
  s.kv_lens = {N};
  s.o_dtype = DType::f32;
  s.mask = mask_causal();
  s.paged = true;
  s.block_size = 16;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  AttnCase pre = make_case(s, seed);
  AttnCaseSpec sd = s;
  sd.q_lens = {1};
  AttnCase dec = make_case(sd, seed);
  dec.k = pre.k;
  dec.v = pre.v;
  dec.block_table = pre.block_table;
  const size_t row = size_t(s.q_heads) * s.head_dim;  // elements per token
  std::memcpy(dec.q.data(), pre.q.data() + (N - 1) * row * 2, row * 2);
  DeviceCase dp(pre), dd(dec);
  GpuResult rp, rd;
  dp.run({.kernel = AttnKernel::prefill}, rp);
  dd.run({.kernel = AttnKernel::decode}, rd);
  ASSERT_GT(rd.plan.kv_splits, 1);  // the decode path really split the 517 keys
  std::vector<double> last(rp.out.end() - std::ptrdiff_t(row), rp.out.end());
  EXPECT_LE(rel_l2(rd.out, last), 1e-3);
}

// A decode launch captured in a CUDA graph and replayed gives the reference result.
TEST(CudaAttention, GraphCaptureReplay) {
  AttnCaseSpec s = base_spec(128, DType::bf16, 32, 8);
  s.q_lens = {1, 1, 1, 1};
  s.kv_lens = {2000, 513, 64, 1};
  s.paged = true;
  s.mask = mask_causal();
  AttnCase c = make_case(s, fresh_seed());
  DeviceCase d(c);
  const cuda::AttentionPlan plan = cuda::plan_attention(c.params, d.host_args());
  ASSERT_GT(plan.kv_splits, 1);
  DevBuf ws(plan.workspace_bytes);
  GpuResult r;
  replay_captured(d, [&](cudaStream_t st) { cuda::attention(d.dev_params(), d.dev_args(), plan, {ws.p, ws.bytes}, st); },
                  r);
  std::vector<double> ref, ref_lse;
  d.reference(ref, ref_lse);
  EXPECT_LE(rel_l2(r.out, ref), tol(DType::bf16));
}

// Small cases of each kernel path, for compute-sanitizer (memcheck / racecheck) runs.
TEST(CudaAttentionSmall, EachKernel) {
  AttnCaseSpec s = base_spec(64, DType::bf16, 4, 2);
  s.q_lens = {70, 5};
  s.kv_lens = {70, 40};
  s.paged = true;
  s.mask = mask_causal();
  check_case(s, {.kernel = AttnKernel::prefill});
  s = base_spec(128, DType::f16, 8, 2);
  s.q_lens = {1, 2};
  s.kv_lens = {300, 100};
  check_case(s, {.kernel = AttnKernel::decode, .kv_splits = 3});  // decode + merge kernel
  s.q_lens = {1, 1, 1};
  s.kv_lens = {300, 100, 70};
  check_case(s, {.kernel = AttnKernel::decode, .sm_count = 1});  // 6 CTAs on one SM: the 3-stage kernel
  s.paged = true;  // both again on a paged cache: each CTA stages its block-table slice in shared memory
  check_case(s, {.kernel = AttnKernel::decode, .sm_count = 1});
  check_case(s, {.kernel = AttnKernel::decode, .kv_splits = 3});
  s.q_lens = {1, 1, 1, 1};  // 8 CTAs on two SMs: the narrow-tile 3-stage kernel, paged
  s.kv_lens = {300, 100, 70, 129};
  check_case(s, {.kernel = AttnKernel::decode, .sm_count = 2});
  s = base_spec(256, DType::bf16, 2, 1);
  s.q_lens = {3};
  s.kv_lens = {100};
  s.mask = mask_window(20, 0);
  check_case(s, {.kernel = AttnKernel::decode, .kv_splits = 1});
  s = base_spec(256, DType::bf16, 2, 1);  // the D = 256 prefill tiles (BN = 64 on wgmma)
  s.q_lens = {150};
  s.kv_lens = {150};
  check_case(s, {.kernel = AttnKernel::prefill});
}

}  // namespace
}  // namespace eft::test
