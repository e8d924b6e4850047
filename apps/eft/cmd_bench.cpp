// `eft bench attention`: times every CPU attention method over a list of N.
//
// Per (N, method): median wall time of --reps calls (a warm-up call first when a call is short),
// GFLOP/s of the FLOPs the method performs (counted by include/eft/cost_model.h), the peak extra
// memory the method allocated (eft::memory_stats around the call: measured, every method allocates
// its scratch through eft::Tensor), the speedup over standard and the relative L2 difference from
// flash's output (exact methods ~1e-7, linear: its approximation error on these inputs).
// FLOPs counted per method:
//   standard  4*d*N^2*heads         it materializes and multiplies every score
//   flash     4*d*E_hull*heads      E_hull: N^2, or the causal triangle for masks that never look
//                                   ahead (it skips only tiles above the diagonal)
//   sparse    4*d*E_mask*heads      the attended entries only
//   linear    FAVOR+ count          see linear_attention_flops
// --decode times one decode step instead of a prefill: the last token's query over N cached keys
// for the exact methods, one step() of a LinearAttentionState already holding N-1 tokens for linear.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "commands.h"
#include "eft/attention.h"
#include "eft/cost_model.h"
#include "eft/error.h"
#include "eft/linear_attention.h"
#include "eft/parallel.h"
#include "eft/tensor.h"

namespace eft::cli {
namespace {

struct BenchOptions {
  std::vector<int64_t> ns{512, 1024, 2048, 4096, 8192};
  std::vector<std::string> methods{"standard", "flash", "sparse", "linear"};
  int heads = 8;
  int kv_heads = 0;  // 0: = heads (MHA)
  int head_dim = 64;
  std::string mask = "causal";
  int features = 256;
  int reps = 3;
  double budget_s = 3.0;  // per (N, method): stop adding reps past this (at least one timed call)
  std::string max_mem = "2G";
  uint64_t seed = 1;
  bool json = false, csv = false;
  bool decode = false;  // one query at position N-1 over N keys instead of an N-token prefill
};

struct MaskSpec {
  Mask mask;
  int64_t window = 0;  // keys per query for window:W
  bool causal_like = false;
  std::string name;
};

// "causal", "none" or "window:W" (a causal sliding window of W keys: the query and W-1 before).
MaskSpec parse_mask(const std::string& s) {
  MaskSpec m;
  m.name = s;
  if (s == "causal") {
    m.mask = mask_causal();
    m.causal_like = true;
  } else if (s == "none") {
    m.mask = mask_none();
  } else if (s.rfind("window:", 0) == 0) {
    const std::string w = s.substr(7);
    char* end = nullptr;
    const long long v = std::strtoll(w.c_str(), &end, 10);
    check(!w.empty() && *end == '\0' && v > 0 && v <= (1 << 30), "--mask window:W needs a positive W (got '{}')", s);
    m.window = v;
    m.mask = mask_window(int32_t(v - 1), 0);
    m.causal_like = true;
  } else {
    fail("--mask must be causal, none or window:W (got '{}')", s);
  }
  return m;
}

// "2G", "512M", "64K" or a plain byte count.
int64_t parse_bytes(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  double mul = 1;
  const std::string unit = end ? std::string(end) : "";
  if (unit == "K" || unit == "KiB") mul = 1024.0;
  else if (unit == "M" || unit == "MiB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") mul = 1024.0 * 1024 * 1024;
  else check(unit.empty(), "--max-mem '{}': unknown unit '{}' (use K, M or G)", s, unit);
  check(end != s.c_str() && v > 0, "--max-mem must be a positive size (got '{}')", s);
  return int64_t(v * mul);
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown";
}

struct Result {
  int64_t n = 0;
  std::string method;
  bool skipped = false;
  std::string note;
  std::vector<double> times_s;
  double median_s = 0;
  int64_t flops = 0;
  int64_t peak_extra_bytes = 0;
  double speedup = 0;      // standard / this (0: standard not run)
  double err_vs_flash = -1;  // relative L2 against flash's output (-1: not compared)
  double busy = 0;           // CPU time / (wall time * threads) over the timed calls
};

// CPU seconds used by this process so far (all threads): with the wall time it shows how much of
// the machine a call really got (a shared machine's other work steals cores).
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double rel_l2(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += double(a[i] - b[i]) * double(a[i] - b[i]);
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// The machine's compute ceiling as eft sees it: GFLOP/s of an in-cache register-blocked GEMM
// (64x256x64, the FAVOR+ kernel) on every thread at once for ~0.3 s. A measured limit, not a
// datasheet figure: the percentages in the table are relative to it.
double gemm_ceiling_gflops() {
  const int threads = num_threads();
  std::vector<std::vector<float>> bufs(size_t(threads), std::vector<float>(64 * 64 + 64 * 256 + 64 * 256, 0.5f));
  const int iters = 400;
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(threads, [&](int64_t t) {
    float* a = bufs[size_t(t)].data();
    for (int i = 0; i < iters; ++i)
      favor::matmul({.M = 64, .N = 256, .K = 64, .a = a, .a_rs = 64, .a_cs = 1, .b = a + 64 * 64, .ldb = 256,
                     .c = a + 64 * 64 + 64 * 256, .ldc = 256, .accumulate = true});
  });
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * 64 * 256 * 64 * iters * threads / dt * 1e-9;
}

class Progress {
 public:
  explicit Progress(bool quiet) : tty_(isatty(2) != 0), quiet_(quiet) {}
  void show(const std::string& s) {
    if (quiet_) return;
    if (tty_) std::fprintf(stderr, "\r\033[K%s", s.c_str());
    else std::fprintf(stderr, "%s\n", s.c_str());
    std::fflush(stderr);
  }
  void done() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool tty_, quiet_;
};

void run_bench(const BenchOptions& o) {
  const MaskSpec ms = parse_mask(o.mask);
  const int kvh = o.kv_heads > 0 ? o.kv_heads : o.heads;
  check(o.heads > 0 && o.head_dim > 0, "--heads ({}) and --head-dim ({}) must be positive", o.heads, o.head_dim);
  check(o.heads % kvh == 0, "--kv-heads {} must divide --heads {}", kvh, o.heads);
  check(o.reps > 0, "--reps must be positive (got {})", o.reps);
  check(!(o.json && o.csv), "--json and --csv are exclusive");
  const int64_t max_mem = parse_bytes(o.max_mem);
  std::vector<AttnMethod> methods;
  for (const auto& m : o.methods) methods.push_back(method_from_name(m));
  for (int64_t n : o.ns) check(n > 0 && n <= (int64_t(1) << 30), "--n values must be in [1, 2^30] (got {})", n);

  const int64_t D = o.head_dim;
  std::vector<Result> results;
  Progress progress(false);
  // Standard's score memory is extrapolated as N^2 from its own measured peak at a smaller N.
  int64_t std_ref_n = 0, std_ref_bytes = 0;
  const int64_t total = int64_t(o.ns.size() * methods.size());
  int64_t step = 0;
  for (int64_t n : o.ns) {
    // Inputs: Q [nq, heads, D], K/V [n, kv_heads, D], standard normal; one sequence. Prefill:
    // nq = n. Decode: nq = 1, the query of the last token (position n-1) over all n keys.
    const int64_t nq = o.decode ? 1 : n;
    Tensor q({nq, o.heads, D}, DType::f32), k({n, kvh, D}, DType::f32), v({n, kvh, D}, DType::f32);
    std::mt19937_64 rng(o.seed + uint64_t(n));
    std::normal_distribution<float> nd(0.f, 1.f);
    for (Tensor* t : {&q, &k, &v})
      for (int64_t i = 0; i < t->numel(); ++i) t->as<float>()[i] = nd(rng);
    std::vector<std::pair<size_t, Tensor>> outs;  // (result index, O [nq, heads, D]) per method run
    int32_t q_start[2] = {0, int32_t(nq)}, kv_len[1] = {int32_t(n)}, kv_start[1] = {0};
    for (AttnMethod method : methods) {
      ++step;
      Result r;
      r.n = n;
      r.method = std::string(method_name(method));
      AttentionParams p;
      p.q_heads = o.heads;
      p.kv_heads = kvh;
      p.head_dim = int32_t(D);
      p.mask = ms.mask;
      p.method = method;
      p.linear.features = o.features;
      // Entries per head. Decode: the last query sees all n keys (its window's for sparse).
      const int64_t full = o.decode ? n : dense_entries(n, false);
      const int64_t hull = o.decode ? n : dense_entries(n, ms.causal_like);
      const int64_t attended = o.decode ? (ms.window > 0 ? std::min(n, ms.window) : n)
                                        : (ms.window > 0 ? window_entries(n, ms.window) : dense_entries(n, ms.causal_like));
      switch (method) {
        case AttnMethod::standard: r.flops = exact_attention_flops(full, D) * o.heads; break;
        case AttnMethod::flash: r.flops = exact_attention_flops(hull, D) * o.heads; break;
        case AttnMethod::sparse: r.flops = exact_attention_flops(attended, D) * o.heads; break;
        case AttnMethod::linear:  // decode: one step of the state (one key row and one query row)
          r.flops = linear_attention_flops({.n_q = nq, .n_kv = o.decode ? 1 : n, .features = o.features, .head_dim = D,
                                            .q_heads = o.heads, .kv_heads = kvh});
          break;
      }
      if (method == AttnMethod::linear && ms.window > 0) {
        r.skipped = true;
        r.note = "linear supports masks none/causal only";
      }
      if (method == AttnMethod::standard && std_ref_n > 0 && !o.decode) {
        const double predicted = double(std_ref_bytes) * double(n) * double(n) / (double(std_ref_n) * std_ref_n);
        if (predicted > double(max_mem)) {
          r.skipped = true;
          r.note = fmt::format("skipped: would need ~{} > --max-mem {}", format_bytes(int64_t(predicted)),
                               format_bytes(max_mem));
        }
      }
      if (r.skipped) {
        results.push_back(r);
        continue;
      }
      Tensor out({nq, o.heads, D}, DType::f32);
      AttentionArgs a;
      a.q = q.data();
      a.kv.k = k.data();
      a.kv.v = v.data();
      a.kv.kv_start = kv_start;
      a.o = out.data();
      a.batch = {1, q_start, kv_len, nullptr};
      // Decode with linear attention: the constant-size state, filled with the first n-1 tokens
      // (untimed); each timed step appends token n-1 again and reads out the query.
      std::unique_ptr<LinearAttentionState> state;
      Tensor step_out({nq, o.heads, D}, DType::f32);  // timed steps write here, `out` keeps the first
      if (o.decode && method == AttnMethod::linear) {
        progress.show(fmt::format("[{}/{}] N={} linear: filling the decode state ...", step, total, n));
        state = std::make_unique<LinearAttentionState>(p);
        for (int64_t t = 0; t + 1 < n; ++t) state->append(k.as<float>() + t * kvh * D, v.as<float>() + t * kvh * D);
        state->step(q.as<float>(), k.as<float>() + (n - 1) * kvh * D, v.as<float>() + (n - 1) * kvh * D,
                    out.as<float>());
        r.note = fmt::format("state {} per sequence and layer", format_bytes(state->state_bytes()));
      }
      // Decode calls are short: each timed sample is `inner` calls, reported per call.
      const int inner = o.decode ? 20 : 1;
      auto call = [&]() {
        for (int i = 0; i < inner; ++i) {
          if (state)
            state->step(q.as<float>(), k.as<float>() + (n - 1) * kvh * D, v.as<float>() + (n - 1) * kvh * D,
                        step_out.as<float>());
          else
            attention_cpu(p, a);
        }
      };
      double spent = 0, cpu_timed = 0;
      int calls = 0;
      while (int(r.times_s.size()) < o.reps) {
        progress.show(fmt::format("[{}/{}] N={} {} call {} ...", step, total, n, r.method, calls + 1));
        reset_peak_memory(Device::cpu);
        const int64_t before = memory_stats(Device::cpu).current;
        const double c0 = process_cpu_s();
        const auto t0 = std::chrono::steady_clock::now();
        call();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner;
        const double dc = (process_cpu_s() - c0) / inner;
        r.peak_extra_bytes = std::max(r.peak_extra_bytes, memory_stats(Device::cpu).peak - before);
        ++calls;
        spent += dt;
        // A short first call is a warm-up (caches, page faults of the first allocation); a long one
        // already amortizes that and counts.
        if (calls == 1 && dt < 0.2 && o.reps > 1) continue;
        r.times_s.push_back(dt);
        cpu_timed += dc;
        if (spent > o.budget_s) break;
      }
      r.median_s = median(r.times_s);
      double wall_timed = 0;
      for (double t : r.times_s) wall_timed += t;
      r.busy = cpu_timed / (wall_timed * num_threads());
      if (method == AttnMethod::standard) {
        std_ref_n = n;
        std_ref_bytes = std::max<int64_t>(r.peak_extra_bytes, 1);
      }
      outs.emplace_back(results.size(), std::move(out));
      results.push_back(std::move(r));
    }
    // Every method's difference from flash's output at this N (exact methods: rounding only).
    const Tensor* flash_out = nullptr;
    for (const auto& [idx, t] : outs)
      if (results[idx].method == "flash") flash_out = &t;
    if (flash_out)
      for (const auto& [idx, t] : outs)
        if (results[idx].method != "flash") results[idx].err_vs_flash = rel_l2(t.as<float>(), flash_out->as<float>(), t.numel());
  }
  progress.done();
  // Speedups over standard at the same N.
  for (auto& r : results) {
    for (const auto& s : results)
      if (s.n == r.n && s.method == "standard" && !s.skipped && !r.skipped && r.median_s > 0)
        r.speedup = s.median_s / r.median_s;
  }

  const int threads = num_threads();
  const double ceiling = gemm_ceiling_gflops();
  if (o.json) {
    nlohmann::json j;
    j["config"] = {{"cpu", cpu_model()},     {"threads", threads},  {"heads", o.heads},
                   {"kv_heads", kvh},        {"head_dim", D},       {"mask", ms.name},
                   {"features", o.features}, {"reps", o.reps},      {"max_mem_bytes", max_mem},
                   {"dtype", "f32"},         {"layout", "[N, heads, head_dim], one sequence"},
                   {"phase", o.decode ? "decode (1 query over N keys)" : "prefill (N queries)"},
                   {"gemm_ceiling_gflops", ceiling}};
    j["results"] = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json e = {{"n", r.n}, {"method", r.method}, {"skipped", r.skipped}, {"note", r.note}};
      if (!r.skipped) {
        e["median_ms"] = r.median_s * 1e3;
        std::vector<double> ms_times;
        for (double t : r.times_s) ms_times.push_back(t * 1e3);
        e["times_ms"] = ms_times;
        e["flops"] = r.flops;
        e["gflops_per_s"] = double(r.flops) / r.median_s * 1e-9;
        e["peak_extra_bytes"] = r.peak_extra_bytes;
        e["speedup_vs_standard"] = r.speedup > 0 ? nlohmann::json(r.speedup) : nlohmann::json(nullptr);
        e["rel_l2_vs_flash"] = r.err_vs_flash >= 0 ? nlohmann::json(r.err_vs_flash) : nlohmann::json(nullptr);
        e["cpu_busy"] = r.busy;
      }
      j["results"].push_back(e);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  if (o.csv) {
    std::printf("n,method,skipped,median_ms,gflops_per_s,flops,peak_extra_bytes,speedup_vs_standard,rel_l2_vs_flash,"
                "cpu_busy,note\n");
    for (const auto& r : results) {
      if (r.skipped) {
        std::printf("%lld,%s,1,,,,,,,,\"%s\"\n", (long long)r.n, r.method.c_str(), r.note.c_str());
        continue;
      }
      std::printf("%lld,%s,0,%.4f,%.3f,%lld,%lld,%s,%s,%.3f,\"%s\"\n", (long long)r.n, r.method.c_str(), r.median_s * 1e3,
                  double(r.flops) / r.median_s * 1e-9, (long long)r.flops, (long long)r.peak_extra_bytes,
                  r.speedup > 0 ? fmt::format("{:.4f}", r.speedup).c_str() : "",
                  r.err_vs_flash >= 0 ? fmt::format("{:.3g}", r.err_vs_flash).c_str() : "", r.busy, r.note.c_str());
    }
    return;
  }
  std::printf("eft bench attention: %s, %d threads | heads %d/%d, head_dim %lld, mask %s, f32, one sequence, %s | "
              "linear m=%d | median of up to %d calls\n",
              cpu_model().c_str(), threads, o.heads, kvh, (long long)D, ms.name.c_str(),
              o.decode ? "decode (1 query over N keys; linear: one step of its state)" : "prefill", o.features, o.reps);
  std::printf("FLOPs counted: standard 4dN^2 per head (it computes every score); flash 4d x (causal triangle or "
              "N^2); sparse 4d x attended entries; linear its FAVOR+ count\n");
  std::printf("compute ceiling: %.1f GFLOP/s (in-cache 64x256x64 GEMM on %d threads, measured now; %%ceil below)\n",
              ceiling, threads);
  std::printf("busy = CPU time / (wall time x threads) of the timed calls: below ~90%% the machine was shared\n\n");
  std::printf("%7s  %-8s %11s %9s %6s %11s %9s %11s %5s  %s\n", "N", "method", "median ms", "GFLOP/s", "%ceil",
              "extra mem", "vs std", "err/flash", "busy", "note");
  for (const auto& r : results) {
    if (r.skipped) {
      std::printf("%7lld  %-8s %11s %9s %6s %11s %9s %11s %5s  %s\n", (long long)r.n, r.method.c_str(), "-", "-",
                  "-", "-", "-", "-", "-", r.note.c_str());
      continue;
    }
    const double gf = double(r.flops) / r.median_s * 1e-9;
    std::printf("%7lld  %-8s %11.2f %9.2f %5.0f%% %11s %9s %11s %4.0f%%  %s\n", (long long)r.n, r.method.c_str(),
                r.median_s * 1e3, gf, 100.0 * gf / ceiling, format_bytes(r.peak_extra_bytes).c_str(),
                r.speedup > 0 ? fmt::format("{:.2f}x", r.speedup).c_str() : "-",
                r.err_vs_flash >= 0 ? fmt::format("{:.2g}", r.err_vs_flash).c_str() : "-", 100.0 * r.busy,
                r.note.c_str());
  }
}

const CommandRegistrar reg([](CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = bench->add_subcommand("attention", "time every CPU attention method over N");
  cmd->add_option("--n", o->ns, "sequence lengths")->delimiter(',')->capture_default_str();
  cmd->add_option("--methods", o->methods, "methods to run (standard, flash, sparse, linear)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--heads", o->heads, "query heads")->capture_default_str();
  cmd->add_option("--kv-heads", o->kv_heads, "KV heads (default: --heads)");
  cmd->add_option("--head-dim", o->head_dim, "head dimension")->capture_default_str();
  cmd->add_option("--mask", o->mask, "causal, none or window:W (W keys per query)")->capture_default_str();
  cmd->add_option("--features", o->features, "linear attention features m")->capture_default_str();
  cmd->add_option("--reps", o->reps, "timed calls per point (median reported)")->capture_default_str();
  cmd->add_option("--budget", o->budget_s, "seconds per point after which no more reps start")->capture_default_str();
  cmd->add_option("--max-mem", o->max_mem, "skip standard where its N^2 scores would exceed this (e.g. 2G)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "input seed")->capture_default_str();
  cmd->add_flag("--json", o->json, "machine-readable output");
  cmd->add_flag("--csv", o->csv, "CSV output");
  cmd->add_flag("--decode", o->decode,
                "time one decode step (1 query over N cached keys; linear: a step of its constant-size state)");
  cmd->callback([o]() { run_bench(*o); });
});

}  // namespace
}  // namespace eft::cli
