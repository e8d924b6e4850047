// matmul throughput per weight type and activation count n, for both paths (quantized dot
// kernels vs dequantized tiles + OpenBLAS sgemm), to choose matmul's crossover by measurement.
//
//   build-loader/bench/bench_matmul [--benchmark_filter=...]   (EFT_THREADS / OPENBLAS_NUM_THREADS)
//
// Weights rotate through enough copies (>= 256 MB) that every call streams them from DRAM, as
// in a real forward pass. Reported: GB/s of weight bytes (decode's limit is the memory bandwidth,
// printed first as measured by a plain read of 256 MB) and GFLOP/s (2·n·rows·cols per call; the
// peer is OpenBLAS sgemm on f32 weights of the same shape, printed as "sgemm_f32").
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <vector>

#include "eft/parallel.h"
#include "eft/quant.h"

using namespace eft;

namespace {

constexpr int64_t kRows = 2048, kCols = 2048;  // one square projection of a ~1B model
constexpr size_t kStreamBytes = size_t(256) << 20;

// Valid random blocks: f16 scales of moderate size so no value is inf/NaN (speed only depends on
// the bytes, but NaN handling must not perturb the float paths).
void fill(QType t, std::vector<uint8_t>& b, std::mt19937& g) {
  for (auto& v : b) v = uint8_t(g());
  const int64_t bb = qtype_block_bytes(t);
  const size_t nblocks = b.size() / size_t(bb);
  auto put = [&](size_t off, uint16_t h) { b[off] = uint8_t(h); b[off + 1] = uint8_t(h >> 8); };
  for (size_t i = 0; i < nblocks; ++i) {
    const size_t o = i * size_t(bb);
    switch (t) {
      case QType::F32: { float f = float(int(g() % 2001) - 1000) / 1000.0f; std::memcpy(&b[o], &f, 4); break; }
      case QType::F16: put(o, uint16_t(0x3000 + g() % 0x800)); break;
      case QType::BF16: put(o, uint16_t(0x3e00 + g() % 0x100)); break;
      case QType::Q6_K: put(o + 208, 0x2000); break;
      case QType::Q4_1: case QType::Q5_1: case QType::Q4_K: case QType::Q5_K: put(o, 0x2000); put(o + 2, 0x2000); break;
      default: put(o, 0x2000); break;
    }
  }
}

struct Weights {
  std::vector<std::vector<uint8_t>> copies;
};

Weights& weights(QType t) {
  static std::unique_ptr<Weights> cache[64];
  auto& w = cache[uint32_t(t)];
  if (!w) {
    w = std::make_unique<Weights>();
    std::mt19937 g(uint32_t(t) + 1);
    const size_t bytes = qtype_row_bytes(t, kCols) * size_t(kRows);
    const size_t copies = std::max<size_t>(2, kStreamBytes / bytes);
    std::vector<uint8_t> one(bytes);
    fill(t, one, g);
    for (size_t i = 0; i < copies; ++i) w->copies.push_back(one);  // distinct pages, same values
  }
  return *w;
}

void BM_matmul(benchmark::State& st) {
  const QType t = kAllQTypes[st.range(0)];
  const int64_t n = st.range(1);
  const MatmulPath path = MatmulPath(st.range(2));
  st.SetLabel(std::string(qtype_name(t)) + (path == MatmulPath::dot ? " dot" : " sgemm"));
  Weights& w = weights(t);
  std::vector<float> x(size_t(n * kCols)), y(size_t(n * kRows));
  std::mt19937 g(5);
  std::normal_distribution<float> nd;
  for (float& v : x) v = nd(g);
  size_t i = 0;
  for (auto _ : st) {
    QMatrix m{t, w.copies[i++ % w.copies.size()].data(), kRows, kCols};
    matmul(m, x.data(), n, y.data(), path);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = double(qtype_row_bytes(t, kCols) * kRows);
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9 * double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(n * kRows * kCols) * double(st.iterations()), benchmark::Counter::kIsRate);
}

void args(benchmark::internal::Benchmark* b) {
  for (int64_t ti = 0; ti < int64_t(std::size(kAllQTypes)); ++ti)
    for (int64_t n : {1, 2, 4, 8, 16, 32, 64, 256})
      for (MatmulPath p : {MatmulPath::dot, MatmulPath::sgemm}) b->Args({ti, n, int64_t(p)});
}
BENCHMARK(BM_matmul)->Apply(args)->ArgNames({"type", "n", "path"})->MinTime(0.3)->UseRealTime();

// The hardware limit for decode: one thread's (or the pool's) plain read of 256 MB, in GB/s.
double read_bandwidth() {
  std::vector<uint64_t> buf(kStreamBytes / 8, 1);
  const int64_t chunks = 64;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<uint64_t> sums(static_cast<size_t>(chunks));
    auto t0 = std::chrono::steady_clock::now();
    parallel_for(chunks, [&](int64_t c) {
      const size_t per = buf.size() / size_t(chunks);
      uint64_t s = 0;
      for (size_t k = size_t(c) * per; k < size_t(c + 1) * per; ++k) s += buf[k];
      sums[size_t(c)] = s;
    });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(sums.data());
    best = std::max(best, double(kStreamBytes) / sec * 1e-9);
  }
  return best;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  std::cout << "bench_matmul: W [" << kRows << " x " << kCols << "], CPU " << cpu_model() << ", " << num_threads()
            << " threads\n";
  std::cout << "hardware limit (decode): plain read of 256 MB = " << read_bandwidth() << " GB/s\n";
  std::cout << "peer: OpenBLAS sgemm on f32 weights = the f32 sgemm rows below\n";
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
