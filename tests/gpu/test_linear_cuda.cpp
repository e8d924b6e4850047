// CUDA linear attention (FAVOR+) against the float64 quadratic form of the same features
// (tests/linear/linear_testing.h: phi(Q) phi(K)^T V, masked, with W drawn from the same seed), the
// decode state against the causal prefill rows, graph replay, and (CudaLinearValidation, no GPU
// needed) the host-side errors.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "eft/error.h"
#include "eft/linear_attention_cuda.h"
#include "gpu/gpu_case.h"
#include "linear/linear_testing.h"

namespace eft::test {
namespace {

using cuda::LinearAttentionPlan;
using cuda::LinearDecodeState;
using cuda::LinearFeatureMap;
using cuda::LinearPlanOptions;


AttnCaseSpec linear_spec(int D, DType dt, int qh, int kvh, bool causal) {
  AttnCaseSpec s = base_spec(D, dt, qh, kvh);
  s.method = AttnMethod::linear;
  s.mask = causal ? mask_causal() : mask_none();
  return s;
}

AttnCase linear_case(const AttnCaseSpec& s, int features, uint64_t seed) {
  AttnCase c = make_case(s, seed);
  c.params.linear.features = features;
  c.params.linear.seed = seed ^ 0x5eedf00dull;
  return c;
}

// Plans on the host copies, poisons O / LSE / workspace with NaN, launches, reads back.
void run_linear(DeviceCase& dc, const LinearPlanOptions& opt, GpuResult& r, LinearAttentionPlan* plan_out = nullptr,
                LinearDecodeState* state = nullptr) {
  const LinearAttentionPlan plan = cuda::plan_linear_attention(dc.c.params, dc.host_args(), opt);
  if (plan_out) *plan_out = plan;
  LinearFeatureMap map(dc.c.params);
  DevBuf ws(plan.workspace_bytes);
  ASSERT_TRUE(plan.workspace_bytes == 0 || ws.p);
  EFT_CUDA_OK(cudaMemset(dc.o->p, 0xff, dc.o->bytes));  // 0xffff.. is NaN in f32, f16 and bf16
  EFT_CUDA_OK(cudaMemset(dc.lse->p, 0xff, dc.lse->bytes));
  if (ws.p) EFT_CUDA_OK(cudaMemset(ws.p, 0xff, ws.bytes));
  cuda::linear_attention(dc.c.params, dc.dev_args(), plan, map, {ws.p, ws.bytes}, nullptr, state);
  EFT_CUDA_OK(cudaStreamSynchronize(nullptr));
  EFT_CUDA_OK(cudaGetLastError());
  dc.read_back(r);
}

std::vector<double> reference(DeviceCase& dc, std::vector<double>* lse) {
  const AttentionArgs a = dc.host_args();
  const std::vector<float> w =
      favor::draw_projection(dc.c.params.linear.features, dc.c.params.head_dim, dc.c.params.linear.seed);
  return favor_quadratic(dc.c.params, a, w, lse);
}

// Every output element (relative L2) and every LSE against the quadratic form.
void check_against_reference(DeviceCase& dc, const GpuResult& r, DType out_type) {
  std::vector<double> ref_lse;
  const std::vector<double> ref = reference(dc, &ref_lse);
  EXPECT_LE(rel_l2(r.out, ref), tol(out_type));
  for (size_t i = 0; i < ref_lse.size(); ++i) {
    if (std::isinf(ref_lse[i])) {
      ASSERT_TRUE(std::isinf(r.lse[i]) && r.lse[i] < 0) << "lse row " << i << " = " << r.lse[i];
    } else {
      ASSERT_NEAR(r.lse[i], ref_lse[i], 1e-3 + 1e-3 * std::fabs(ref_lse[i])) << "lse row " << i;
    }
  }
}

void check_case(const AttnCaseSpec& s, int features, const LinearPlanOptions& opt, std::vector<int32_t> q_pos0 = {}) {
  const uint64_t seed = fresh_seed();
  AttnCase c = linear_case(s, features, seed);
  SCOPED_TRACE(s.str() + " m=" + std::to_string(features) + " seed=" + std::to_string(seed) +
               " segments=" + std::to_string(opt.segments));
  DeviceCase dc(c, std::move(q_pos0));
  GpuResult r;
  LinearAttentionPlan plan;
  run_linear(dc, opt, r, &plan);
  SCOPED_TRACE("planned segments=" + std::to_string(plan.segments));
  check_against_reference(dc, r, s.o_dtype == DType::f32 ? s.dtype : s.o_dtype);
}

// ---- prefill -------------------------------------------------------------------------------------

TEST(CudaLinear, PrefillGrid) {
  const int heads[3][2] = {{4, 4}, {8, 2}, {4, 1}};  // MHA, GQA, MQA
  const int features[3] = {256, 48, 128};
  const int segments[3] = {0, 1, 3};  // planned, one run, forced runs (chunks split across CTAs)
  int i = 0;
  for (int D : {64, 128, 256})
    for (DType dt : {DType::bf16, DType::f16})
      for (bool causal : {false, true}) {
        ++i;
        AttnCaseSpec s = linear_spec(D, dt, heads[i % 3][0], heads[i % 3][1], causal);
        // Ragged, none a multiple of the 32-key chunk: prefill, chunked prefill with history, one query.
        s.q_lens = {77, 130, 1};
        s.kv_lens = {77, 201, 33};
        s.paged = i % 4 == 0;
        s.block_size = i % 8 == 0 ? 64 : 16;
        check_case(s, features[i % 3], {.segments = segments[(i / 3) % 3]});
      }
}

TEST(CudaLinear, PrefillLongerSequencesManyRuns) {
  for (DType dt : {DType::bf16, DType::f16}) {
    AttnCaseSpec s = linear_spec(128, dt, 4, 2, true);
    s.q_lens = {1000, 333};
    s.kv_lens = {1000, 333};
    s.o_dtype = DType::f32;
    check_case(s, 256, {});
  }
}

// Explicit query positions, some past the last key, and a sequence without keys (O = 0, LSE = -inf).
TEST(CudaLinear, ExplicitQueryPositionsAndEmptySequence) {
  for (bool causal : {true, false}) {
    AttnCaseSpec s = linear_spec(64, DType::f16, 2, 1, causal);
    s.q_lens = {40, 4};
    s.kv_lens = {100, 0};
    check_case(s, 64, {.segments = 2}, {80, 0});  // rows 80..119 over keys 0..99
  }
}

// ---- decode --------------------------------------------------------------------------------------

// Host [tokens, heads, d] rows of token t (contiguous case) -> a packed [n_seqs, heads, d] step input.
std::vector<uint8_t> gather_rows(const std::vector<uint8_t>& src, const std::vector<int64_t>& rows, int64_t row_bytes) {
  std::vector<uint8_t> out(rows.size() * size_t(row_bytes));
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.data() + i * row_bytes, src.data() + rows[i] * row_bytes, size_t(row_bytes));
  return out;
}

// Prompt of P_s tokens through the prefill (final state handed over), then T decode steps: step t
// must give row P_s + t of the causal prefill of the whole sequence. Also from an empty state.
TEST(CudaLinear, DecodeContinuesCausalPrefill) {
  const int heads[2][2] = {{8, 2}, {4, 4}};
  for (int D : {64, 128, 256})
    for (bool from_prompt : {true, false}) {
      const int* h = heads[D == 128];
      const DType dt = D == 256 ? DType::bf16 : DType::f16;
      const int T = 21;
      const std::vector<int> prompt = from_prompt ? std::vector<int>{70, 33} : std::vector<int>{0, 0};
      AttnCaseSpec s = linear_spec(D, dt, h[0], h[1], true);
      s.q_lens = {prompt[0] + T, prompt[1] + T};
      s.kv_lens = s.q_lens;
      s.o_dtype = DType::f32;
      const uint64_t seed = fresh_seed();
      SCOPED_TRACE("D=" + std::to_string(D) + " from_prompt=" + std::to_string(from_prompt) +
                   " seed=" + std::to_string(seed));
      AttnCase full = linear_case(s, 256, seed);
      DeviceCase dfull(full);
      GpuResult rfull;
      run_linear(dfull, {}, rfull);
      std::vector<double> ref_lse;
      const std::vector<double> ref = reference(dfull, &ref_lse);
      ASSERT_LE(rel_l2(rfull.out, ref), 1e-3);

      LinearDecodeState state(full.params, 2);
      LinearFeatureMap map(full.params);
      if (from_prompt) {
        // The prompt: the first P_s keys of each sequence, and their last query (row P_s - 1).
        AttnCaseSpec ps = s;
        ps.q_lens = {1, 1};
        ps.kv_lens = prompt;
        AttnCase pc = linear_case(ps, 256, seed);
        const int64_t qrow_bytes = int64_t(s.q_heads) * D * 2, kvrow_bytes = int64_t(s.kv_heads) * D * 2;
        std::vector<int64_t> krows;
        for (int seq = 0; seq < 2; ++seq)
          for (int t = 0; t < prompt[seq]; ++t) krows.push_back(full.kv_start[seq] + t);
        pc.k = gather_rows(full.k, krows, kvrow_bytes);
        pc.v = gather_rows(full.v, krows, kvrow_bytes);
        pc.q = gather_rows(full.q, {full.q_start[0] + prompt[0] - 1, full.q_start[1] + prompt[1] - 1}, qrow_bytes);
        DeviceCase dp(pc);
        GpuResult rp;
        run_linear(dp, {.segments = 2}, rp, nullptr, &state);  // two runs: the state is a sum of runs
        // Its outputs are the prefill rows P_s - 1.
        const size_t row = size_t(s.q_heads) * D;
        for (int seq = 0; seq < 2; ++seq) {
          const std::vector<double> got(rp.out.begin() + std::ptrdiff_t(seq * row),
                                        rp.out.begin() + std::ptrdiff_t((seq + 1) * row));
          const std::vector<double> want(ref.begin() + std::ptrdiff_t((full.q_start[seq] + prompt[seq] - 1) * row),
                                         ref.begin() + std::ptrdiff_t((full.q_start[seq] + prompt[seq]) * row));
          EXPECT_LE(rel_l2(got, want), 1e-3) << "prompt row of sequence " << seq;
        }
      }
      // T decode steps.
      const int64_t qrow_bytes = int64_t(s.q_heads) * D * 2, kvrow_bytes = int64_t(s.kv_heads) * D * 2;
      DevBuf q(size_t(2 * qrow_bytes)), k(size_t(2 * kvrow_bytes)), v(size_t(2 * kvrow_bytes));
      DevBuf o(size_t(2) * s.q_heads * D * 4), lse(size_t(2) * s.q_heads * 4);
      std::vector<double> got_all, want_all;
      for (int t = 0; t < T; ++t) {
        const std::vector<int64_t> qr{full.q_start[0] + prompt[0] + t, full.q_start[1] + prompt[1] + t};
        const std::vector<int64_t> kr{full.kv_start[0] + prompt[0] + t, full.kv_start[1] + prompt[1] + t};
        const auto hq = gather_rows(full.q, qr, qrow_bytes), hk = gather_rows(full.k, kr, kvrow_bytes),
                   hv = gather_rows(full.v, kr, kvrow_bytes);
        EFT_CUDA_OK(cudaMemcpy(q.p, hq.data(), hq.size(), cudaMemcpyHostToDevice));
        EFT_CUDA_OK(cudaMemcpy(k.p, hk.data(), hk.size(), cudaMemcpyHostToDevice));
        EFT_CUDA_OK(cudaMemcpy(v.p, hv.data(), hv.size(), cudaMemcpyHostToDevice));
        EFT_CUDA_OK(cudaMemset(o.p, 0xff, o.bytes));
        EFT_CUDA_OK(cudaMemset(lse.p, 0xff, lse.bytes));
        state.step(map, q.p, k.p, v.p, dt, o.p, DType::f32, lse.as<float>(), nullptr);
        EFT_CUDA_OK(cudaStreamSynchronize(nullptr));
        std::vector<float> ho(size_t(2) * s.q_heads * D), hl(size_t(2) * s.q_heads);
        EFT_CUDA_OK(cudaMemcpy(ho.data(), o.p, ho.size() * 4, cudaMemcpyDeviceToHost));
        EFT_CUDA_OK(cudaMemcpy(hl.data(), lse.p, hl.size() * 4, cudaMemcpyDeviceToHost));
        const size_t row = size_t(s.q_heads) * D;
        for (int seq = 0; seq < 2; ++seq) {
          for (size_t e = 0; e < row; ++e) {
            got_all.push_back(ho[seq * row + e]);
            want_all.push_back(ref[size_t(qr[size_t(seq)]) * row + e]);
          }
          // The decode row equals the GPU prefill row too (same function, both f32-accumulated).
          const std::vector<double> g(ho.begin() + std::ptrdiff_t(seq * row), ho.begin() + std::ptrdiff_t((seq + 1) * row));
          const std::vector<double> pre(rfull.out.begin() + std::ptrdiff_t(qr[size_t(seq)] * int64_t(row)),
                                        rfull.out.begin() + std::ptrdiff_t((qr[size_t(seq)] + 1) * int64_t(row)));
          ASSERT_LE(rel_l2(g, pre), 1e-3) << "step " << t << " sequence " << seq;
          for (int hh = 0; hh < s.q_heads; ++hh)
            ASSERT_NEAR(hl[size_t(seq * s.q_heads + hh)], ref_lse[size_t(qr[size_t(seq)] * s.q_heads + hh)],
                        1e-3 + 1e-3 * std::fabs(ref_lse[size_t(qr[size_t(seq)] * s.q_heads + hh)]))
                << "lse step " << t << " sequence " << seq << " head " << hh;
        }
      }
      EXPECT_LE(rel_l2(got_all, want_all), 1e-3);
      EXPECT_EQ(state.state_bytes(), size_t(2) * s.kv_heads * (256 * D + (D / 32) * 256 + D / 32) * 4);
    }
}

// ---- graph capture and a small case for compute-sanitizer -----------------------------------------

TEST(CudaLinear, GraphCaptureReplay) {
  AttnCaseSpec s = linear_spec(128, DType::bf16, 8, 2, true);
  s.q_lens = {300, 65};
  s.kv_lens = {300, 65};
  s.paged = true;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  AttnCase c = linear_case(s, 256, seed);
  DeviceCase dc(c);
  const LinearAttentionPlan plan = cuda::plan_linear_attention(c.params, dc.host_args());
  LinearFeatureMap map(c.params);
  DevBuf ws(plan.workspace_bytes);
  GpuResult r;
  replay_captured(
      dc, [&](cudaStream_t st) { cuda::linear_attention(c.params, dc.dev_args(), plan, map, {ws.p, ws.bytes}, st); }, r);
  check_against_reference(dc, r, DType::bf16);
}

TEST(CudaLinearSmall, EachKernel) {
  AttnCaseSpec s = linear_spec(64, DType::bf16, 4, 2, true);
  s.q_lens = {70, 5};
  s.kv_lens = {70, 40};
  s.paged = true;
  check_case(s, 64, {.segments = 2});
  s = linear_spec(256, DType::f16, 2, 1, false);
  s.q_lens = {33};
  s.kv_lens = {33};
  check_case(s, 32, {});
}

// ---- host-side validation (runs without a GPU) -----------------------------------------------------


AttnCase small_linear(int D = 64, DType dt = DType::bf16) {
  AttnCaseSpec s = linear_spec(D, dt, 4, 2, true);
  s.q_lens = {5, 1};
  s.kv_lens = {5, 20};
  return linear_case(s, 64, 1);
}

void expect_error(const std::string& msg, std::initializer_list<const char*> parts) {
  EXPECT_FALSE(msg.empty()) << "no error";
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(CudaLinearValidation, BadParametersNameTheField) {
  {
    AttnCase c = small_linear(96);
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"head_dim", "96"});
  }
  {
    AttnCase c = small_linear();
    c.params.linear.features = 100;
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"linear.features", "100"});
    c.params.linear.features = 512;
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"linear.features", "512"});
  }
  {
    AttnCase c = small_linear(64, DType::f32);
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"bf16 or f16"});
    AttnCase d = small_linear();
    AttentionArgs a = d.args();
    a.kv.dtype = DType::f16;
    expect_error(error_of([&] { cuda::plan_linear_attention(d.params, a); }), {"K/V"});
  }
  {
    AttnCase c = small_linear();
    c.params.method = AttnMethod::flash;
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"method", "flash"});
    c.params.method = AttnMethod::linear;
    c.params.mask = mask_window(8, 0);
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"mask"});
    c.params.mask = mask_causal();
    c.params.softcap = 5.f;
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args()); }), {"softcap"});
  }
  {
    AttnCase c = small_linear();
    expect_error(error_of([&] { cuda::plan_linear_attention(c.params, c.args(), {.segments = -1}); }),
                 {"segments"});
  }
}

TEST(CudaLinearValidation, FeatureMapAndStateCheckBeforeAllocating) {
  AttnCase c = small_linear();
  c.params.linear.features = 40;
  expect_error(error_of([&] { LinearFeatureMap map(c.params); }), {"linear.features", "40"});
  c = small_linear(80);
  expect_error(error_of([&] { LinearFeatureMap map(c.params); }), {"head_dim", "80"});
  c = small_linear();
  c.params.q_heads = 6;
  c.params.kv_heads = 4;
  expect_error(error_of([&] { LinearDecodeState st(c.params, 1); }), {"q_heads", "kv_heads"});
  c = small_linear();
  c.params.mask = mask_window(4, 0);
  expect_error(error_of([&] { LinearDecodeState st(c.params, 1); }), {"mask"});
  c = small_linear(128);
  c.params.linear.features = 0;
  expect_error(error_of([&] { LinearDecodeState st(c.params, 1); }), {"linear.features"});
}

TEST(CudaLinearValidation, PlanShapes) {
  // 1 x 65536 tokens, 16 heads, D = 128: only the metadata is read, so the buffers are stand-ins.
  AttnCase c = small_linear(128);
  c.params.q_heads = c.params.kv_heads = 16;
  c.params.linear.features = 256;
  std::vector<int32_t> q_start{0, 65536}, kv_len{65536}, kv_start{0};
  AttentionArgs a = c.args();
  a.batch.n_seqs = 1;
  a.batch.q_start = q_start.data();
  a.batch.kv_len = kv_len.data();
  a.kv.kv_start = kv_start.data();
  // 16 KV heads x 2 column tiles = 32 CTAs per run, 2048 chunks: the planner minimises
  // waves x (chunks per run + runs); 4 runs = one wave of 128 CTAs on 132 SMs (516 steps).
  LinearAttentionPlan plan = cuda::plan_linear_attention(c.params, a, {.sm_count = 132});
  EXPECT_EQ(plan.d_tiles, 2);
  auto cost = [](int64_t s) { return (32 * s + 131) / 132 * ((2048 + s - 1) / s + s); };
  for (int64_t s = 1; s <= 64; ++s) EXPECT_LE(cost(plan.segments), cost(s)) << s;
  EXPECT_EQ(plan.segments, 4);
  EXPECT_TRUE(plan.causal);
  EXPECT_EQ(plan.kv_rows, 65536);
  // uq and uk: 65536 x 16 x 256 floats each, plus the run states.
  EXPECT_GE(plan.workspace_bytes, size_t(2) * 65536 * 16 * 256 * 4 + size_t(plan.segments) * 16 * 256 * 128 * 4);
  // Forced runs are clamped to the chunks of the longest sequence.
  AttnCase d = small_linear();  // longest sequence 20 keys: one chunk
  plan = cuda::plan_linear_attention(d.params, d.args(), {.segments = 7});
  EXPECT_EQ(plan.segments, 1);
}

}  // namespace
}  // namespace eft::test
