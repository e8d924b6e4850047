#include "kv/device_copy.h"

#include <cstring>

#include "eft/error.h"
#include "eft/kv_cache.h"

namespace eft {

namespace {
KvDeviceOps g_ops;
}

void set_kv_device_ops(KvDeviceOps ops) { g_ops = ops; }

namespace kv {

void require_device_ops() {
  check(g_ops.copy != nullptr && g_ops.zero != nullptr,
        "KV cache on Device::cuda needs device copy/zero hooks (set_kv_device_ops, installed by the CUDA "
        "backend); none are set (copy={}, zero={})",
        g_ops.copy != nullptr, g_ops.zero != nullptr);
}

void copy_kv_rows(Device d, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (d == Device::cpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
  require_device_ops();
  g_ops.copy(dst, src, bytes);
}

void zero_kv_rows(Device d, void* dst, size_t bytes) {
  if (bytes == 0) return;
  if (d == Device::cpu) {
    std::memset(dst, 0, bytes);
    return;
  }
  require_device_ops();
  g_ops.zero(dst, bytes);
}

}  // namespace kv
}  // namespace eft
