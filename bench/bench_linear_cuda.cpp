// Linear attention (FAVOR+, m = 256 features) against flash attention on the GPU, over N.
//
//   bench_linear_cuda [--csv FILE] [--max-n N] [--n N]     (--n: that length only, e.g. under ncu)
//
// Prefill: causal, 1 sequence x 16 heads x N tokens x D = 128, bf16 in and out: our linear prefill
// (plan_linear_attention + linear_attention) against our flash prefill (plan_attention +
// attention, causal), N = 1k .. 64k, and the first measured N where linear is faster.
// Decode: one step of the linear state (O(heads m d), any length) against one flash-decoding step
// over a KV cache of N tokens (same heads, bf16).
// Timing: cudaEvents around `reps` back-to-back calls, median of 5 samples (the first call of each
// kernel runs before, untimed). Without a CUDA device it prints that it skipped and exits 0.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "eft/attention.h"
#include "eft/cuda.h"

#if defined(EFT_HAVE_CUDA)
#include <cuda_runtime.h>

#include "eft/attention_cuda.h"
#include "cuda_bench_util.h"
#include "eft/dtype.h"
#include "eft/linear_attention_cuda.h"

namespace {


constexpr int kHeads = 16, kD = 128, kFeatures = 256;


template <typename T>
T* upload(const std::vector<T>& v) {
  void* d = nullptr;
  EFT_BENCH_CK(cudaMalloc(&d, v.size() * sizeof(T)));
  EFT_BENCH_CK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return static_cast<T*>(d);
}

// Median ms of one call: 5 samples of `reps` calls between two events, after one untimed call.
template <typename F>
double time_ms(F&& call, int reps) {
  call();
  EFT_BENCH_CK(cudaDeviceSynchronize());
  return eft::bench::median_event_ms([&] { for (int r = 0; r < reps; ++r) call(); }, 5) / reps;
}

struct Row {
  int n;
  double lin_prefill, flash_prefill, lin_decode, flash_decode;
  int segments, flash_splits;
  double workspace_mb;
};

eft::AttentionParams params(eft::AttnMethod method) {
  eft::AttentionParams p;
  p.q_heads = p.kv_heads = kHeads;
  p.head_dim = kD;
  p.mask = eft::mask_causal();
  p.method = method;
  p.linear.features = kFeatures;
  return p;
}

Row measure(int n) {
  Row row{};
  row.n = n;
  const size_t elems = size_t(n) * kHeads * kD;
  void* q = eft::bench::random_bf16(elems, 1);
  void* k = eft::bench::random_bf16(elems, 2);
  void* v = eft::bench::random_bf16(elems, 3);
  void* o = nullptr;
  EFT_BENCH_CK(cudaMalloc(&o, elems * 2));
  // Batch metadata: host copies for the plans, device copies for the launches.
  const std::vector<int32_t> h_q_start{0, n}, h_kv_len{n}, h_kv_start{0}, h_dec_q_start{0, 1};
  int32_t* d_q_start = upload(h_q_start);
  int32_t* d_kv_len = upload(h_kv_len);
  int32_t* d_kv_start = upload(h_kv_start);
  int32_t* d_dec_q_start = upload(h_dec_q_start);
  auto args = [&](bool host, bool decode) {
    eft::AttentionArgs a;
    a.q = q;
    a.q_dtype = eft::DType::bf16;
    a.kv.dtype = eft::DType::bf16;
    a.kv.k = k;
    a.kv.v = v;
    a.kv.kv_start = host ? h_kv_start.data() : d_kv_start;
    a.o = o;
    a.o_dtype = eft::DType::bf16;
    a.batch.n_seqs = 1;
    a.batch.q_start = host ? (decode ? h_dec_q_start.data() : h_q_start.data()) : (decode ? d_dec_q_start : d_q_start);
    a.batch.kv_len = host ? h_kv_len.data() : d_kv_len;
    return a;
  };

  // Linear prefill.
  {
    const eft::AttentionParams p = params(eft::AttnMethod::linear);
    const eft::cuda::LinearAttentionPlan plan = eft::cuda::plan_linear_attention(p, args(true, false));
    eft::cuda::LinearFeatureMap map(p);
    void* ws = nullptr;
    EFT_BENCH_CK(cudaMalloc(&ws, plan.workspace_bytes));
    const eft::AttentionArgs a = args(false, false);
    row.lin_prefill = time_ms([&] { eft::cuda::linear_attention(p, a, plan, map, {ws, plan.workspace_bytes}, nullptr); },
                              n >= 16384 ? 1 : 5);
    row.segments = plan.segments;
    row.workspace_mb = double(plan.workspace_bytes) / 1e6;
    EFT_BENCH_CK(cudaFree(ws));
    // Decode: one step of the state (its cost does not depend on n; the state is whatever it holds).
    eft::cuda::LinearDecodeState state(p, 1);
    row.lin_decode = time_ms(
        [&] { state.step(map, q, k, v, eft::DType::bf16, o, eft::DType::bf16, nullptr, nullptr); }, 50);
  }
  // Flash prefill and flash-decoding over the same n keys.
  {
    const eft::AttentionParams p = params(eft::AttnMethod::flash);
    const eft::cuda::AttentionPlan plan = eft::cuda::plan_attention(p, args(true, false));
    void* ws = nullptr;
    if (plan.workspace_bytes) EFT_BENCH_CK(cudaMalloc(&ws, plan.workspace_bytes));
    const eft::AttentionArgs a = args(false, false);
    row.flash_prefill =
        time_ms([&] { eft::cuda::attention(p, a, plan, {ws, plan.workspace_bytes}, nullptr); }, n >= 16384 ? 1 : 5);
    if (ws) EFT_BENCH_CK(cudaFree(ws));
    const eft::cuda::AttentionPlan dplan = eft::cuda::plan_attention(p, args(true, true));
    ws = nullptr;
    if (dplan.workspace_bytes) EFT_BENCH_CK(cudaMalloc(&ws, dplan.workspace_bytes));
    const eft::AttentionArgs da = args(false, true);
    row.flash_decode = time_ms([&] { eft::cuda::attention(p, da, dplan, {ws, dplan.workspace_bytes}, nullptr); }, 50);
    row.flash_splits = dplan.kv_splits;
    if (ws) EFT_BENCH_CK(cudaFree(ws));
  }
  for (void* x : {q, k, v, o}) EFT_BENCH_CK(cudaFree(x));
  for (int32_t* x : {d_q_start, d_kv_len, d_kv_start, d_dec_q_start}) EFT_BENCH_CK(cudaFree(x));
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  FILE* csv = nullptr;
  int max_n = 65536, min_n = 1024;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) csv = std::fopen(argv[++i], "w");
    else if (!std::strcmp(argv[i], "--max-n") && i + 1 < argc) max_n = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--n") && i + 1 < argc) min_n = max_n = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_linear_cuda [--csv FILE] [--max-n N] [--n N]\n");
      return 2;
    }
  }
  if (!eft::cuda::available()) {
    std::printf("no CUDA device: bench_linear_cuda skipped\n");
    return 0;
  }
  std::printf("device: %s (%d SMs)\n", eft::cuda::device_name().c_str(), eft::cuda::sm_count());
  std::printf("causal, 1 sequence x %d heads x N x D=%d, bf16; linear: FAVOR+ m=%d (tf32 mma, f32 state)\n", kHeads, kD,
              kFeatures);
  std::printf("%7s | %12s %12s %8s | %12s %12s | %5s %6s %10s\n", "N", "linear ms", "flash ms", "lin/fla",
              "lin dec us", "flash dec us", "runs", "splits", "ws MB");
  if (csv) std::fprintf(csv, "n,linear_prefill_ms,flash_prefill_ms,linear_decode_us,flash_decode_us,runs,splits,workspace_mb\n");
  std::vector<Row> rows;
  for (int n = min_n; n <= max_n; n *= 2) {
    const Row r = measure(n);
    rows.push_back(r);
    std::printf("%7d | %12.4f %12.4f %8.3f | %12.2f %12.2f | %5d %6d %10.1f\n", r.n, r.lin_prefill, r.flash_prefill,
                r.lin_prefill / r.flash_prefill, r.lin_decode * 1e3, r.flash_decode * 1e3, r.segments, r.flash_splits,
                r.workspace_mb);
    if (csv)
      std::fprintf(csv, "%d,%.5f,%.5f,%.3f,%.3f,%d,%d,%.1f\n", r.n, r.lin_prefill, r.flash_prefill, r.lin_decode * 1e3,
                   r.flash_decode * 1e3, r.segments, r.flash_splits, r.workspace_mb);
    std::fflush(stdout);
  }
  auto crossover = [&](bool decode) {
    for (const Row& r : rows)
      if (decode ? r.lin_decode < r.flash_decode : r.lin_prefill < r.flash_prefill) return r.n;
    return -1;
  };
  const int cp = crossover(false), cd = crossover(true);
  if (cp > 0) std::printf("prefill crossover: linear faster from N = %d (first measured N)\n", cp);
  else std::printf("prefill crossover: flash faster at every measured N\n");
  if (cd > 0) std::printf("decode crossover: linear step faster from N = %d (first measured N)\n", cd);
  else std::printf("decode crossover: flash-decoding faster at every measured N\n");
  if (csv) std::fclose(csv);
  return 0;
}

#else

int main() {
  std::printf("eft built without CUDA: bench_linear_cuda skipped\n");
  return 0;
}

#endif
