#pragma once
// Helpers shared by the CUDA benchmarks (bench_attention_cuda, bench_linear_cuda): a CUDA-call
// check that exits with the file, line and CUDA message, event timing, and random device inputs.
// Include only where EFT_HAVE_CUDA is defined.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "eft/dtype.h"

#define EFT_BENCH_CK(x)                                                                       \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

namespace eft::bench {

// Median over `samples` runs of the milliseconds between two events on `stream` around `work()`
// (which enqueues on that stream); the caller divides by the calls one run makes.
template <typename F>
double median_event_ms(F&& work, int samples, cudaStream_t stream = nullptr) {
  cudaEvent_t a, b;
  EFT_BENCH_CK(cudaEventCreate(&a));
  EFT_BENCH_CK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    EFT_BENCH_CK(cudaEventRecord(a, stream));
    work();
    EFT_BENCH_CK(cudaEventRecord(b, stream));
    EFT_BENCH_CK(cudaEventSynchronize(b));
    float t = 0;
    EFT_BENCH_CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(double(t));
  }
  EFT_BENCH_CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Random bf16 device buffer, values ~ U(-1, 1) (never zeros: METHOD.md, zeros can run faster).
inline void* random_bf16(size_t n, uint64_t seed) {
  std::vector<uint16_t> h(n);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    h[i] = eft::f32_to_bf16(float(int32_t(s >> 33) % 20000) / 10000.f - 1.f).bits;
  }
  void* d = nullptr;
  EFT_BENCH_CK(cudaMalloc(&d, n * 2));
  EFT_BENCH_CK(cudaMemcpy(d, h.data(), n * 2, cudaMemcpyHostToDevice));
  return d;
}

}  // namespace eft::bench
