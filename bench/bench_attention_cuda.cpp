// CUDA attention benchmark: prefill TFLOP/s, decode GB/s (contiguous and paged), sliding window,
// extra device memory, next to the device's measured copy bandwidth. Prints CSV rows (kind, shape,
// ms, rate) that tools/gpu/report.py joins with the PyTorch peer (tools/gpu/peer.py) measured in
// the same device call. Without a CUDA device it says so and exits 0.
//
//   bench_attention_cuda [--quick] [--csv FILE] [--main-loop automatic|mma_sync|wgmma|wgmma_ws] [--block-n N]
//                        [--no-tma-o]
//                        [--prefill-only] [--shape SPEC]
//
// Timing: a CUDA graph of R back-to-back calls (rotating over several input copies when one copy
// would sit in the 60 MB L2), replayed between two events; median of 7 replays / R.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "eft/attention.h"
#include "eft/cuda.h"

#if defined(EFT_HAVE_CUDA)
#include <cuda_runtime.h>

#include "eft/attention_cuda.h"
#include "cuda_bench_util.h"
#include "eft/dtype.h"
#include "eft/error.h"

namespace {


FILE* g_csv = nullptr;
// Plan options of every prefill shape: --main-loop, --block-n (key tile of the wgmma loop, tuning).
// With the automatic main loop the prefill table also measures the other loops beside its choice
// (mma_sync; the plain wgmma grid where the choice was wgmma_ws), so each switch shows what it buys
// in the same run. Decode shapes always plan with the defaults (decode is mma_sync only).
eft::cuda::AttentionPlanOptions g_prefill;
// MainLoop's names, in its order: --main-loop values, --shape output, CSV row kinds.
constexpr const char* kLoopNames[] = {"automatic", "mma_sync", "wgmma", "wgmma_ws"};
static_assert(int(eft::cuda::MainLoop::wgmma_ws) == 3, "kLoopNames follows MainLoop");
const char* loop_name(eft::cuda::MainLoop m) { return kLoopNames[int(m)]; }
void row(const char* fmt_line) {
  std::printf("%s\n", fmt_line);
  if (g_csv) std::fprintf(g_csv, "%s\n", fmt_line);
}


// Median time in ms of one call, for `calls` (one per input copy index) captured in a graph.
template <typename F>
double time_graph(F&& call, int copies, int reps_per_graph) {
  cudaStream_t st;
  EFT_BENCH_CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  for (int i = 0; i < 2; ++i) call(i % copies, st);  // warm-up outside the graph
  EFT_BENCH_CK(cudaStreamSynchronize(st));
  cudaGraph_t g;
  cudaGraphExec_t ge;
  EFT_BENCH_CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  for (int r = 0; r < reps_per_graph; ++r) call(r % copies, st);
  EFT_BENCH_CK(cudaStreamEndCapture(st, &g));
  EFT_BENCH_CK(cudaGraphInstantiate(&ge, g, 0));
  EFT_BENCH_CK(cudaGraphLaunch(ge, st));
  const double ms = eft::bench::median_event_ms([&] { EFT_BENCH_CK(cudaGraphLaunch(ge, st)); }, 7, st);
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  cudaStreamDestroy(st);
  return ms / reps_per_graph;
}

double copy_bandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *a, *b;
  EFT_BENCH_CK(cudaMalloc(&a, bytes));
  EFT_BENCH_CK(cudaMalloc(&b, bytes));
  EFT_BENCH_CK(cudaMemset(a, 1, bytes));
  // Eager copies between events (a memcpy node inside a graph may go to a copy engine, which is
  // slower than the copy kernel an eager device-to-device cudaMemcpy runs).
  cudaEvent_t e0, e1;
  EFT_BENCH_CK(cudaEventCreate(&e0));
  EFT_BENCH_CK(cudaEventCreate(&e1));
  std::vector<double> t;
  for (int i = 0; i < 9; ++i) {
    EFT_BENCH_CK(cudaEventRecord(e0));
    EFT_BENCH_CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    EFT_BENCH_CK(cudaEventRecord(e1));
    EFT_BENCH_CK(cudaEventSynchronize(e1));
    float ms1 = 0;
    EFT_BENCH_CK(cudaEventElapsedTime(&ms1, e0, e1));
    if (i >= 2) t.push_back(ms1);
  }
  std::sort(t.begin(), t.end());
  const double ms = t[t.size() / 2];
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

struct BenchShape {
  int batch, q_len, kv_len, q_heads, kv_heads, head_dim;
  eft::Mask mask;
  bool paged = false;
  int block_size = 16;
};

// One shape's time and what its plan chose.
struct ShapeRun {
  double ms = 0;          // per call
  size_t ws_bytes = 0;    // the plan's workspace
  int splits = 1;
  eft::cuda::MainLoop main_loop = eft::cuda::MainLoop::mma_sync;
};

ShapeRun run_shape(const BenchShape& s, const eft::cuda::AttentionPlanOptions& prefill = g_prefill) {
  using namespace eft;
  const int64_t q_tokens = int64_t(s.batch) * s.q_len;
  const int64_t kv_tokens = int64_t(s.batch) * s.kv_len;
  const size_t q_elems = size_t(q_tokens) * s.q_heads * s.head_dim;
  const size_t kv_elems = size_t(kv_tokens) * s.kv_heads * s.head_dim;
  const size_t kv_bytes = 2 * kv_elems * 2;
  // Enough copies that one pass over them exceeds 4x the L2 (cold-cache numbers, as a server sees).
  const int copies = int(std::clamp<size_t>((size_t(256) << 20) / std::max<size_t>(kv_bytes + 4 * q_elems, 1) + 1, 1, 32));
  std::vector<void*> q(copies), k(copies), v(copies), o(copies);
  for (int c = 0; c < copies; ++c) {
    q[c] = eft::bench::random_bf16(q_elems, 3 * c + 1);
    k[c] = eft::bench::random_bf16(kv_elems, 3 * c + 2);
    v[c] = eft::bench::random_bf16(kv_elems, 3 * c + 3);
    EFT_BENCH_CK(cudaMalloc(&o[c], q_elems * 2));
  }
  std::vector<int32_t> q_start(s.batch + 1), kv_len(s.batch, s.kv_len), kv_start(s.batch);
  for (int b = 0; b <= s.batch; ++b) q_start[b] = b * s.q_len;
  for (int b = 0; b < s.batch; ++b) kv_start[b] = b * s.kv_len;
  const int per_seq = (s.kv_len + s.block_size - 1) / s.block_size;
  const int n_blocks = s.paged ? int(kv_tokens / s.block_size) : 0;
  std::vector<int32_t> table;
  if (s.paged) {
    std::vector<int32_t> ids(n_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(11));
    table.assign(ids.begin(), ids.end());  // [batch, per_seq]
  }
  AttentionParams p;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.head_dim = s.head_dim;
  p.mask = s.mask;
  AttentionArgs a;
  a.q_dtype = a.kv.dtype = a.o_dtype = DType::bf16;
  a.q = q[0];
  a.kv.k = k[0];
  a.kv.v = v[0];
  a.o = o[0];
  a.batch.n_seqs = s.batch;
  a.batch.q_start = q_start.data();
  a.batch.kv_len = kv_len.data();
  if (s.paged) {
    a.kv.layout = KvLayout::paged;
    a.kv.block_table = table.data();
    a.kv.block_size = s.block_size;
    a.kv.max_blocks = per_seq;
    a.kv.n_blocks = n_blocks;
  } else {
    a.kv.kv_start = kv_start.data();
  }
  cuda::AttentionPlanOptions opt = prefill;  // decode keeps only kv_splits (it has one main loop)
  if (s.q_len <= 8) opt = {.kv_splits = prefill.kv_splits};
  cuda::AttentionPlan plan;
  try {
    plan = cuda::plan_attention(p, a, opt);
  } catch (const eft::Error&) {
    if (opt.block_n == 0) throw;
    opt.block_n = 0;  // no such tile width for this head_dim: its default
    plan = cuda::plan_attention(p, a, opt);
  }
  void* ws = nullptr;
  if (plan.workspace_bytes) EFT_BENCH_CK(cudaMalloc(&ws, plan.workspace_bytes));
  // Device copies of the metadata.
  auto dev = [](const std::vector<int32_t>& h) {
    void* d = nullptr;
    if (h.empty()) return static_cast<int32_t*>(nullptr);
    EFT_BENCH_CK(cudaMalloc(&d, h.size() * 4));
    EFT_BENCH_CK(cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
    return static_cast<int32_t*>(d);
  };
  int32_t *d_qs = dev(q_start), *d_kl = dev(kv_len), *d_ks = dev(kv_start), *d_bt = dev(table);
  AttentionArgs da = a;
  da.batch.q_start = d_qs;
  da.batch.kv_len = d_kl;
  da.kv.kv_start = s.paged ? nullptr : d_ks;
  da.kv.block_table = s.paged ? d_bt : nullptr;
  const int reps = std::max(copies, 4);
  const double ms = time_graph(
      [&](int c, cudaStream_t st) {
        da.q = q[c];
        da.kv.k = k[c];
        da.kv.v = v[c];
        da.o = o[c];
        cuda::attention(p, da, plan, {ws, plan.workspace_bytes}, st);
      },
      copies, reps);
  for (int c = 0; c < copies; ++c) {
    cudaFree(q[c]);
    cudaFree(k[c]);
    cudaFree(v[c]);
    cudaFree(o[c]);
  }
  cudaFree(ws);
  cudaFree(d_qs);
  cudaFree(d_kl);
  cudaFree(d_ks);
  cudaFree(d_bt);
  return {ms, plan.workspace_bytes, plan.kv_splits, plan.main_loop};
}

// --shape SPEC: one shape, for profilers and sweeps; prints its time (and rate).
//   prefill:D:N:B:causal[:block_n]     16-bit Q/K/V, H = 2048 / D heads, the default plan
//   decode:B:L:paged[:kv_splits[:D]]  GQA 32/8, D = 128 unless given, one query token (kv_splits 0: planned)
//   window:N:W[:block_n]              sliding window (keys i-W+1 .. i), 16 heads, D = 128
int run_one(const char* spec) {
  int v[5] = {0, 0, 0, 0, 0};
  char kind[16] = {0};
  const int n = std::sscanf(spec, "%15[a-z]:%d:%d:%d:%d:%d", kind, &v[0], &v[1], &v[2], &v[3], &v[4]);
  if (!std::strcmp(kind, "prefill") && n >= 5) {
    const int D = v[0], N = v[1], B = v[2];
    BenchShape s{B, N, N, 2048 / D, 2048 / D, D, v[3] ? eft::mask_causal() : eft::mask_none()};
    eft::cuda::AttentionPlanOptions opt = g_prefill;
    if (n >= 6) opt.block_n = v[4];
    const ShapeRun r = run_shape(s, opt);
    const double flops = 4.0 * B * s.q_heads * double(N) * N * D / (v[3] ? 2 : 1);
    std::printf("shape %s: %.4f ms, %.1f TFLOP/s (%s)\n", spec, r.ms, flops / (r.ms * 1e-3) / 1e12,
                loop_name(r.main_loop));
    return 0;
  }
  if (!std::strcmp(kind, "decode") && n >= 4) {
    const int B = v[0], L = v[1], D = n >= 6 ? v[4] : 128;
    BenchShape s{B, 1, L, 32, 8, D, eft::mask_causal(), v[2] != 0, 16};
    eft::cuda::AttentionPlanOptions opt;
    if (n >= 5) opt.kv_splits = v[3];  // 0: the planner's choice
    const ShapeRun r = run_shape(s, opt);
    const double bytes = 2.0 * B * double(L) * 8 * D * 2;
    std::printf("shape %s: %.4f ms, %.0f GB/s, splits %d\n", spec, r.ms, bytes / (r.ms * 1e-3) / 1e9, r.splits);
    return 0;
  }
  if (!std::strcmp(kind, "window") && n >= 3) {
    BenchShape s{1, v[0], v[0], 16, 16, 128, eft::mask_window(v[1] - 1, 0)};
    eft::cuda::AttentionPlanOptions opt = g_prefill;
    if (n >= 4) opt.block_n = v[2];
    std::printf("shape %s: %.4f ms\n", spec, run_shape(s, opt).ms);
    return 0;
  }
  std::fprintf(stderr,
               "--shape: expected prefill:D:N:B:causal[:block_n], decode:B:L:paged[:kv_splits[:D]] or window:N:W[:block_n], got '%s'\n",
               spec);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (!eft::cuda::available()) {
    std::printf("no CUDA device: bench_attention_cuda skipped\n");
    return 0;
  }
  bool quick = false, prefill_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--prefill-only")) prefill_only = true;  // tuning: the prefill table alone
    if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) return run_one(argv[++i]);
    if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) g_csv = std::fopen(argv[++i], "w");
    if (!std::strcmp(argv[i], "--block-n") && i + 1 < argc) g_prefill.block_n = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--no-tma-o")) g_prefill.tma_store_o = false;  // A/B: O from registers
    if (!std::strcmp(argv[i], "--main-loop") && i + 1 < argc) {
      const char* m = argv[++i];
      const auto* hit = std::find_if(std::begin(kLoopNames), std::end(kLoopNames),
                                     [&](const char* name) { return !std::strcmp(m, name); });
      if (hit == std::end(kLoopNames)) {
        std::fprintf(stderr, "--main-loop: unknown value '%s' (automatic, mma_sync, wgmma, wgmma_ws)\n", m);
        return 2;
      }
      g_prefill.main_loop = eft::cuda::MainLoop(hit - std::begin(kLoopNames));
    }
  }
  char line[512];
  std::snprintf(line, sizeof line, "device,%s,%d", eft::cuda::device_name().c_str(), eft::cuda::sm_count());
  row(line);
  const double bw = copy_bandwidth();
  std::snprintf(line, sizeof line, "copy_gbps,%.0f", bw);
  row(line);

  // Prefill: 16k tokens in total, batch = 16384 / N, heads = 2048 / D (the anchors' shapes).
  row("# prefill,D,H,N,B,causal,ms,tflops");
  for (int D : {64, 128, 256})
    for (int N : {512, 2048, 8192, 16384})
      for (int causal : {0, 1}) {
        if (quick && N != 2048) continue;
        BenchShape s{16384 / N, N, N, 2048 / D, 2048 / D, D, causal ? eft::mask_causal() : eft::mask_none()};
        const ShapeRun r = run_shape(s);
        const double ms = r.ms;
        const double flops = 4.0 * s.batch * s.q_heads * double(N) * N * D / (causal ? 2 : 1);
        std::snprintf(line, sizeof line, "prefill,%d,%d,%d,%d,%d,%.4f,%.1f", D, s.q_heads, N, s.batch, causal, ms,
                      flops / (ms * 1e-3) / 1e12);
        row(line);
        // The same shape on the other main loops (the switch, side by side): mma.sync always, the
        // plain wgmma grid where the automatic choice was the warp-specialized loop.
        if (g_prefill.main_loop == eft::cuda::MainLoop::automatic && !prefill_only) {
          for (eft::cuda::MainLoop ml : {eft::cuda::MainLoop::mma_sync, eft::cuda::MainLoop::wgmma}) {
            if (ml == eft::cuda::MainLoop::wgmma && r.main_loop != eft::cuda::MainLoop::wgmma_ws) continue;
            const double ms2 = run_shape(s, {.main_loop = ml}).ms;
            std::snprintf(line, sizeof line, "prefill_%s,%d,%d,%d,%d,%d,%.4f,%.1f", loop_name(ml), D, s.q_heads, N,
                          s.batch, causal, ms2, flops / (ms2 * 1e-3) / 1e12);
            row(line);
          }
        }
      }

  // Sliding window N = 16k, W = 1024 (keys i-1023 .. i), 16 heads, D = 128, against our causal.
  row("# window,N,W,ms_window,ms_causal,speedup,ideal");
  {
    BenchShape w{1, 16384, 16384, 16, 16, 128, eft::mask_window(1023, 0)};
    BenchShape c{1, 16384, 16384, 16, 16, 128, eft::mask_causal()};
    const double mw = run_shape(w).ms, mc = run_shape(c).ms;
    std::snprintf(line, sizeof line, "window,16384,1024,%.4f,%.4f,%.2f,%.2f", mw, mc, mc / mw, 16384.0 / (2 * 1024));
    row(line);
  }

  if (prefill_only) {
    if (g_csv) std::fclose(g_csv);
    return 0;
  }
  // Decode: one query token, GQA 32/8, D = 128; GB/s of K+V bytes read.
  row("# decode,batch,kv_len,paged,ms,gbps,frac_copy,splits,workspace_bytes");
  for (int B : {1, 16, 64})
    for (int L : {1024, 4096, 16384, 32768})
      for (int paged : {0, 1}) {
        if (quick && L != 4096) continue;
        BenchShape s{B, 1, L, 32, 8, 128, eft::mask_causal(), paged != 0, 16};
        const ShapeRun r = run_shape(s);
        const double bytes = 2.0 * B * double(L) * 8 * 128 * 2;
        const double gbps = bytes / (r.ms * 1e-3) / 1e9;
        std::snprintf(line, sizeof line, "decode,%d,%d,%d,%.4f,%.0f,%.3f,%d,%zu", B, L, paged, r.ms, gbps, gbps / bw,
                      r.splits, r.ws_bytes);
        row(line);
      }

  // Extra device memory of one call (1 x 16 heads x N x 128): the plan's workspace, nothing else.
  row("# memory,N,kernel,extra_bytes");
  for (int N : {4096, 8192, 16384}) {
    BenchShape s{1, N, N, 16, 16, 128, eft::mask_causal()};
    std::snprintf(line, sizeof line, "memory,%d,prefill,%zu", N, run_shape(s).ws_bytes);
    row(line);
  }
  {
    BenchShape s{1, 1, 32768, 32, 8, 128, eft::mask_causal()};
    std::snprintf(line, sizeof line, "memory,32768,decode_b1,%zu", run_shape(s).ws_bytes);
    row(line);
  }
  if (g_csv) std::fclose(g_csv);
  return 0;
}

#else  // built without CUDA

int main() {
  std::printf("eft built without CUDA: bench_attention_cuda skipped\n");
  return 0;
}

#endif
