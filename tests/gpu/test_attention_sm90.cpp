// The wgmma building blocks of the Hopper main loop (src/attention/cuda/fwd_sm90.cu) on one small
// product each, against float64: the 128-byte-swizzled tile layout, the shared-memory descriptors
// (K-major Q/K, MN-major V) and the register fragment of P. The attention-level checks of the
// same main loop are in test_attention_cuda.cpp (every prefill case runs on both main loops).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attention/cuda/sm90_selftest.h"
#include "common/attn_case.h"
#include "eft/attention_cuda.h"
#include "eft/dtype.h"
#include "gpu/gpu_case.h"

namespace eft::test {
namespace {

struct Product {
  std::vector<double> c;  // [64][n] float64 reference
  std::vector<float> got;
};

// C = A B^T (ss: B is [n][64]) or C = A B (rs: B is [64][n]) with 16-bit inputs drawn fresh.
double run_product(bool f16, int n, bool rs, uint32_t lbo, uint32_t sbo, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const DType dt = f16 ? DType::f16 : DType::bf16;
  std::vector<uint16_t> a(64 * 64), b(size_t(64) * n);
  std::vector<double> ad(a.size()), bd(b.size());
  auto fill = [&](std::vector<uint16_t>& h, std::vector<double>& d) {
    for (size_t i = 0; i < h.size(); ++i) {
      const float x = u(rng);
      h[i] = f16 ? f32_to_f16(x).bits : f32_to_bf16(x).bits;
      d[i] = load_as_f64(h.data(), dt, i);
    }
  };
  fill(a, ad);
  fill(b, bd);
  std::vector<double> ref(size_t(64) * n, 0.0);
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < 64; ++k) ref[size_t(i) * n + j] += ad[i * 64 + k] * (rs ? bd[size_t(k) * n + j] : bd[size_t(j) * 64 + k]);
  DevBuf da(a.data(), a.size() * 2), db(b.data(), b.size() * 2), dc(ref.size() * 4);
  EXPECT_EQ(cudaMemset(dc.p, 0xff, dc.bytes), cudaSuccess);  // NaN poison
  EXPECT_EQ(cuda::detail::wgmma_selftest(f16, n, rs, da.p, db.p, dc.as<float>(), lbo, sbo), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got(ref.size());
  EXPECT_EQ(cudaMemcpy(got.data(), dc.p, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = std::fabs(double(got[i]) - ref[i]);
    worst = std::isnan(got[i]) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

TEST(CudaWgmma, BuildingBlocksAgainstFloat64) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "wgmma main loop not available (needs sm_90 and an sm_90a build)";
  std::random_device rd;
  for (bool f16 : {false, true})
    for (int n : {64, 128})
      for (bool rs : {false, true}) {
        const uint64_t seed = (uint64_t(rd()) << 32) ^ rd();
        // Products of 64 terms of magnitude <= 1 accumulated in f32: errors ~1e-6.
        const uint32_t lbo = rs ? 64 * 128 : 16, sbo = 1024;
        const double err = run_product(f16, n, rs, lbo, sbo, seed);
        std::string hint;
        if (!(err <= 1e-4) && rs) {
          const double swapped = run_product(f16, n, rs, sbo, lbo, seed);
          hint = " (with LBO/SBO swapped the error is " + std::to_string(swapped) + ")";
        }
        EXPECT_LE(err, 1e-4) << (f16 ? "f16" : "bf16") << " n=" << n << (rs ? " rs (P regs x V MN-major)" : " ss (Q K^T)")
                             << " seed=" << seed << hint;
      }
}

// The warp-specialized wgmma prefill (a persistent grid whose CTAs take work items from a counter,
// the producer running ahead into the next one) and the plain grid, on cases that stress the item walk: ragged sequences (items past a short
// sequence's end are skipped), a window whose queries sit past every key (items with no key
// tile at all), block-sparse and GQA, every element against the float64 reference.
TEST(CudaWgmma, WarpSpecializedAndPlainGridAgainstReference) {
  if (!hopper_loops_usable()) GTEST_SKIP() << "wgmma main loop not available (needs sm_90 and an sm_90a build)";
  std::random_device rd;
  for (cuda::MainLoop ml : {cuda::MainLoop::wgmma_ws, cuda::MainLoop::wgmma})
    for (int D : {64, 128, 256})
      for (int mcase = 0; mcase < 3; ++mcase) {
        AttnCaseSpec s;
        s.head_dim = D;
        s.dtype = s.o_dtype = DType::bf16;
        s.q_heads = 8;
        s.kv_heads = 2;
        s.q_lens = {300, 17, 129};
        s.kv_lens = {300, 400, 129};
        std::vector<int32_t> pos;
        if (mcase == 0) s.mask = mask_causal();
        if (mcase == 1) {
          s.mask = mask_window(20, 0);
          pos = {0, 500, 0};  // sequence 1: positions 500.. see no key of its 400
        }
        if (mcase == 2) {
          const int block = 64, nb = 1024 / block;
          s.layout.assign(size_t(nb * nb), 0);
          std::mt19937 rng(3);
          for (auto& x : s.layout) x = uint8_t(rng() % 2);
          s.mask = mask_block_sparse(nullptr, block, nb, nb, false);
        }
        const uint64_t seed = (uint64_t(rd()) << 32) ^ rd();
        AttnCase c = make_case(s, seed);
        SCOPED_TRACE(s.str() + " seed=" + std::to_string(seed) + (ml == cuda::MainLoop::wgmma_ws ? " warp-specialized" : " plain grid"));
        DeviceCase dc(c, pos);
        GpuResult r;
        cuda::AttentionPlanOptions opt;
        opt.kernel = cuda::AttnKernel::prefill;
        opt.main_loop = ml;
        dc.run(opt, r);
        EXPECT_EQ(r.plan.persistent, ml == cuda::MainLoop::wgmma_ws);
        std::vector<double> ref, ref_lse;
        dc.reference(ref, ref_lse);
        EXPECT_LE(rel_l2(r.out, ref), 5e-3);
        for (size_t i = 0; i < ref_lse.size(); ++i) {
          if (std::isinf(ref_lse[i])) {
            ASSERT_TRUE(std::isinf(r.lse[i]) && r.lse[i] < 0) << "lse row " << i << " = " << r.lse[i];
          } else {
            ASSERT_NEAR(r.lse[i], ref_lse[i], 2e-2 + 1e-3 * std::fabs(ref_lse[i])) << "lse row " << i;
          }
        }
      }
}

}  // namespace
}  // namespace eft::test
