#pragma once
// Host side of a table of kernel instantiations (fwd.cu, fwd_sm90.cu): each entry pairs a
// FwdConfig with its kernel; the table raises each kernel's dynamic shared-memory limit once,
// asks the occupancy of one, and launches one on a grid. Host code only (no fmt, no throw): it is
// included by .cu files and reports failures as cudaError_t.
#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>

#include "attention/cuda/fwd_params.h"

namespace eft::cuda::detail {

using FwdKernel = void (*)(FwdParams);

struct KernelEntry {
  FwdConfig cfg;
  FwdKernel fn;
  // Optional: the same kernel compiled for the interval masks only (none / causal / window), run
  // for those. Without the other masks' code the decode kernel is half the size (7240 -> 3888
  // SASS instructions) and the warp-specialized prefill a third smaller (13304 -> 8704), and short
  // grids and items spend less of their time fetching it (H200 2026-11-29: batch 1 x 4k decode
  // +6.5 %, causal prefill N = 512 D = 128 +8.8 %). Same shared memory; occupancy is asked of `fn`.
  FwdKernel interval_fn = nullptr;
};

template <size_t N>
class KernelTable {
 public:
  explicit KernelTable(const KernelEntry (&entries)[N]) {
    for (size_t i = 0; i < N; ++i) {
      entries_[i] = entries[i];
      configs_[i] = entries[i].cfg;
    }
  }

  const FwdConfig* configs(int* count) const {
    *count = int(N);
    return configs_;
  }

  // Resident CTAs per SM of entry `config` on the current device, or 0 when it cannot be asked.
  int ctas_per_sm(int config) {
    int n = 0;
    if (!valid(config) || prepare(config) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, entries_[config].fn, entries_[config].cfg.threads,
                                                      entries_[config].cfg.smem_bytes) != cudaSuccess) {
      cudaGetLastError();  // clear the (non-sticky) error so that later calls do not report it
      return 0;
    }
    return n;
  }

  cudaError_t launch(int config, dim3 grid, const FwdParams& p, cudaStream_t stream) {
    if (!valid(config)) return cudaErrorInvalidValue;
    if (cudaError_t e = prepare(config); e != cudaSuccess) return e;
    const KernelEntry& e = entries_[config];
    const FwdKernel fn = e.interval_fn && interval_mask(p.mask.type) ? e.interval_fn : e.fn;
    fn<<<grid, e.cfg.threads, e.cfg.smem_bytes, stream>>>(p);
    return cudaGetLastError();
  }

 private:
  static bool valid(int config) { return config >= 0 && size_t(config) < N; }

  // Raising the dynamic shared-memory limit is a per-function setting, done once (not a stream
  // operation, so it never lands inside a captured graph).
  cudaError_t prepare(int config) {
    std::call_once(once_[config], [this, config] {
      const KernelEntry& e = entries_[config];
      status_[config] = cudaFuncSetAttribute(e.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(e.cfg.smem_bytes));
      if (status_[config] == cudaSuccess && e.interval_fn)
        status_[config] =
            cudaFuncSetAttribute(e.interval_fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(e.cfg.smem_bytes));
    });
    return status_[config];
  }

  KernelEntry entries_[N];
  FwdConfig configs_[N];
  std::once_flag once_[N];
  cudaError_t status_[N] = {};
};

}  // namespace eft::cuda::detail
