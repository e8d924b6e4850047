// Device detection and the device hooks: the allocator for Tensor(Device::cuda) and the KV cache's
// copy/zero ops for pools on Device::cuda.
#include <cuda_runtime.h>

#include "eft/cuda.h"
#include "eft/error.h"
#include "eft/tensor.h"
#include "kv/cuda/device_ops.h"

namespace eft::cuda {

namespace {
void* device_alloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) throw OutOfMemory(fmt::format("cudaMalloc of {} bytes failed: {}", bytes, cudaGetErrorString(e)));
  return p;
}
void device_free(void* p) { cudaFree(p); }

struct Probe {
  bool ok = false;
  cudaDeviceProp prop{};
  Probe() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      cudaGetLastError();  // clear the sticky "no device" error
      return;
    }
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return;
    ok = true;
    set_device_allocator({device_alloc, device_free});
    install_kv_device_ops();
  }
};
const Probe& probe() {
  static Probe p;
  return p;
}
}  // namespace

bool available() { return probe().ok; }
std::string device_name() { return available() ? std::string(probe().prop.name) : std::string(); }
int sm_count() { return available() ? probe().prop.multiProcessorCount : 0; }
int compute_capability() { return available() ? probe().prop.major * 10 + probe().prop.minor : 0; }

}  // namespace eft::cuda
