#pragma once
// The one place where KV pool bytes are copied or cleared: memcpy/memset for CPU pools, the
// installed KvDeviceOps for CUDA pools (copy-on-write of a shared block, zeroing the null page).
#include <cstddef>

#include "eft/tensor.h"

namespace eft::kv {

// Throws a clear error when the pools are on cuda and the CUDA backend installed no device ops.
void require_device_ops();
void copy_kv_rows(Device d, void* dst, const void* src, size_t bytes);
void zero_kv_rows(Device d, void* dst, size_t bytes);

}  // namespace eft::kv
