// KvDeviceOps for pools on Device::cuda: the cache copies a shared tail block on copy-on-write and
// zeroes the null page; both are plain byte copies inside device memory.
//
// Ordering: both calls go to the legacy default stream, so they run after the kernels that wrote
// the pools there and before later default-stream kernels read them; the host is not blocked for
// the device-to-device case, which is all the cache needs (it never reads pool bytes on the host).
#include "kv/cuda/device_ops.h"

#include <cuda_runtime.h>

#include "eft/error.h"
#include "eft/kv_cache.h"

namespace eft::cuda {

namespace {

// A failed call leaves its error as the thread's "last error" too; clear it so a later, unrelated
// cudaGetLastError() check does not report it a second time.
void check_cuda(cudaError_t e, const char* what, size_t bytes) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  fail("KV cache: {} of {} bytes failed: {}", what, bytes, cudaGetErrorString(e));
}

void device_copy(void* dst, const void* src, size_t bytes) {
  check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy (device to device)", bytes);
}

void device_zero(void* dst, size_t bytes) { check_cuda(cudaMemset(dst, 0, bytes), "cudaMemset", bytes); }

}  // namespace

void install_kv_device_ops() { set_kv_device_ops({device_copy, device_zero}); }

}  // namespace eft::cuda
