// CPU attention: standard vs flash vs sparse over N, for causal and sliding-window (causal,
// w = 256) masks. Prints Google Benchmark's table (median of repetitions, real time: the methods
// are multi-threaded), then a summary of the ratios the project tracks:
//   - flash / standard speedup per N (goal: >= 1 from N = 1024) and the extra memory each holds;
//   - sparse sliding window vs causal flash per N, against the ideal N / (2w) (goal: >= 80 % at
//     N = 8192);
//   - achieved GFLOP/s of the attended entries next to this machine's measured FMA peak.
// Shape: one sequence, q_heads = kv_heads = 4, head_dim = 128 (Llama-class heads), f32.
// Environment: EFT_THREADS (threads, OpenBLAS included), EFT_BENCH_HEADS, EFT_BENCH_HEAD_DIM.
//   bench_attention_cpu [--benchmark_filter=...] [--benchmark_repetitions=N]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "eft/attention.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace {

using namespace eft;

int env_int(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e && std::atoi(e) > 0 ? std::atoi(e) : fallback;
}
const int kHeads = env_int("EFT_BENCH_HEADS", 4), kDim = env_int("EFT_BENCH_HEAD_DIM", 128);
constexpr int kWindow = 256;
const int kNs[] = {512, 1024, 2048, 4096, 8192};

enum class MaskKind { causal, window };
const char* mask_label(MaskKind m) { return m == MaskKind::causal ? "causal" : "window256"; }

// Q, K, V, O of one sequence of length N (random normal inputs; built once per N).
struct Problem {
  int N;
  std::vector<float> q, k, v, o;  // [N, kHeads, kDim] each
  int32_t q_start[2] = {0, 0}, kv_len[1] = {0}, kv_start[1] = {0};
  explicit Problem(int n) : N(n) {
    const size_t e = size_t(n) * kHeads * kDim;
    q.resize(e), k.resize(e), v.resize(e), o.resize(e);
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    for (auto* buf : {&q, &k, &v})
      for (float& x : *buf) x = nd(rng);
    q_start[1] = n;
    kv_len[0] = n;
  }
  AttentionArgs args() {
    AttentionArgs a;
    a.q = q.data();
    a.kv.k = k.data();
    a.kv.v = v.data();
    a.kv.kv_start = kv_start;
    a.o = o.data();
    a.batch.n_seqs = 1;
    a.batch.q_start = q_start;
    a.batch.kv_len = kv_len;
    return a;
  }
};
Problem& problem(int n) {
  static std::map<int, std::unique_ptr<Problem>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<Problem>(n);
  return *p;
}

AttentionParams params(AttnMethod method, MaskKind mask) {
  AttentionParams p;
  p.q_heads = kHeads;
  p.kv_heads = kHeads;
  p.head_dim = kDim;
  p.method = method;
  p.mask = mask == MaskKind::causal ? mask_causal() : mask_window(kWindow, 0);
  return p;
}

// Attended (query, key) pairs: the work an ideal method does.
double attended(MaskKind m, int64_t n) {
  if (m == MaskKind::causal) return double(n) * double(n + 1) / 2;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(std::min<int64_t>(i, kWindow) + 1);
  return s;
}

void run_attention(benchmark::State& state, AttnMethod method, MaskKind mask, int n) {
  Problem& pr = problem(n);
  const AttentionParams p = params(method, mask);
  const AttentionArgs a = pr.args();
  // Extra memory of one call, as tracked through eft::Tensor (scores, scratch, converted copies).
  reset_peak_memory(Device::cpu);
  const int64_t before = memory_stats(Device::cpu).current;
  attention_cpu(p, a);
  const int64_t extra = memory_stats(Device::cpu).peak - before;
  for (auto _ : state) {
    attention_cpu(p, a);
    benchmark::DoNotOptimize(pr.o.data());
    benchmark::ClobberMemory();
  }
  // QKᵀ and PV: 2 flops per multiply-add, 2 products per attended entry and dimension.
  const double flops = 4.0 * kDim * kHeads * attended(mask, n);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["extra_MiB"] = double(extra) / (1 << 20);
}

std::string bench_name(MaskKind m, AttnMethod method, int n) {
  return std::string("attn/") + mask_label(m) + "/" + std::string(method_name(method)) + "/" + std::to_string(n);
}

// Medians (seconds per call) of every run, keyed by the registered name: real time, and the
// calling thread's CPU time (with EFT_THREADS=1 the whole method's work, and unlike real time
// not inflated when other processes share the cores).
std::map<std::string, double> g_median, g_median_cpu;
std::map<std::string, double> g_extra_mib;

class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (median || single) {
        // GetAdjustedRealTime is in the run's time unit; the multiplier converts seconds to it.
        const double unit = benchmark::GetTimeUnitMultiplier(r.time_unit);
        g_median[r.run_name.function_name] = r.GetAdjustedRealTime() / unit;
        g_median_cpu[r.run_name.function_name] = r.GetAdjustedCPUTime() / unit;
        auto it = r.counters.find("extra_MiB");
        if (it != r.counters.end()) g_extra_mib[r.run_name.function_name] = it->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

// The machine's f32 FMA peak as this process sees it: independent multiply-add chains on every
// worker thread (the figure the achieved GFLOP/s are compared with).
double measured_peak_gflops() {
  using vf = float __attribute__((vector_size(64)));
  const int threads = num_threads();
  const int64_t iters = 20'000'000;
  std::vector<float> sink(size_t(threads) * 16);
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(threads, [&](int64_t t) {
    vf acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = vf{} + float(i + t);
    const vf m = vf{} + 0.999999f, c = vf{} + 1e-7f;
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = acc[i] * m + c;
    vf s = vf{};
    for (int i = 0; i < 12; ++i) s += acc[i];
    std::memcpy(&sink[size_t(t) * 16], &s, sizeof(s));
  });
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sink.data());
  return double(threads) * iters * 12 * 16 * 2 / sec / 1e9;
}

}  // namespace

// OpenBLAS (behind standard's sgemm) keeps its own thread pool; weak so that another BLAS links.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

int main(int argc, char** argv) {
  // Same thread count for every method: standard's GEMMs must not get more cores than flash.
  if (openblas_set_num_threads) openblas_set_num_threads(num_threads());
  for (MaskKind m : {MaskKind::causal, MaskKind::window})
    for (AttnMethod method : {AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse})
      for (int n : kNs)
        benchmark::RegisterBenchmark(bench_name(m, method, n).c_str(),
                                     [=](benchmark::State& s) { run_attention(s, method, m, n); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.2)
            ->Repetitions(3)
            ->ReportAggregatesOnly(true);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("eft CPU attention: 1 sequence, %d heads (MHA), head_dim %d, f32, %d threads (OpenBLAS too)\n", kHeads,
              kDim, num_threads());
  Collector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const double peak = measured_peak_gflops();
  auto t = [](MaskKind m, AttnMethod method, int n) {
    auto it = g_median.find(bench_name(m, method, n));
    return it == g_median.end() ? 0.0 : it->second;
  };
  auto tc = [](MaskKind m, AttnMethod method, int n) {
    auto it = g_median_cpu.find(bench_name(m, method, n));
    return it == g_median_cpu.end() ? 0.0 : it->second;
  };
  auto mib = [](MaskKind m, AttnMethod method, int n) {
    auto it = g_extra_mib.find(bench_name(m, method, n));
    return it == g_extra_mib.end() ? 0.0 : it->second;
  };
  std::printf("\nmeasured f32 FMA peak on %d threads: %.0f GFLOP/s\n", num_threads(), peak);
  std::printf("\ncausal: flash vs standard (goal: speedup >= 1.0 from N = 1024)\n");
  std::printf("%6s %12s %12s %8s %9s %12s %12s %12s\n", "N", "standard ms", "flash ms", "speedup", "(cpu t)",
              "std MiB", "flash MiB", "flash %peak");
  for (int n : kNs) {
    const double ts = t(MaskKind::causal, AttnMethod::standard, n), tf = t(MaskKind::causal, AttnMethod::flash, n);
    if (ts <= 0 || tf <= 0) continue;
    const double gf = 4.0 * kDim * kHeads * attended(MaskKind::causal, n) / tf / 1e9;
    const double cpu_speedup = tc(MaskKind::causal, AttnMethod::standard, n) / tc(MaskKind::causal, AttnMethod::flash, n);
    std::printf("%6d %12.2f %12.2f %8.2f %9.2f %12.1f %12.2f %11.0f%%\n", n, ts * 1e3, tf * 1e3, ts / tf, cpu_speedup,
                mib(MaskKind::causal, AttnMethod::standard, n), mib(MaskKind::causal, AttnMethod::flash, n),
                100 * gf / peak);
  }
  std::printf("\ncausal sliding window w = %d: sparse vs causal flash (goal at N = 8192: >= 80%% of N/(2w))\n",
              kWindow);
  std::printf("%6s %14s %14s %14s %8s %9s %8s %8s %8s\n", "N", "flash causal", "flash window", "sparse window",
              "speedup", "(cpu t)", "N/(2w)", "entries", "of N/2w");
  for (int n : kNs) {
    const double tfc = t(MaskKind::causal, AttnMethod::flash, n), tw = t(MaskKind::window, AttnMethod::flash, n),
                 tsp = t(MaskKind::window, AttnMethod::sparse, n);
    if (tfc <= 0 || tsp <= 0) continue;
    const double cpu_speedup = tc(MaskKind::causal, AttnMethod::flash, n) / tc(MaskKind::window, AttnMethod::sparse, n);
    // The ideal speedup N / (2w) (for N >> w), and the exact ratio of attended entries beside it.
    const double ideal = double(n) / (2.0 * kWindow);
    const double entries = attended(MaskKind::causal, n) / attended(MaskKind::window, n);
    std::printf("%6d %12.2fms %12.2fms %12.2fms %8.2f %9.2f %8.2f %8.2f %7.0f%%\n", n, tfc * 1e3, tw * 1e3,
                tsp * 1e3, tfc / tsp, cpu_speedup, ideal, entries, 100 * (tfc / tsp) / ideal);
  }
  return 0;
}
