#pragma once
// The CUDA backend's host-facing basics. Everything here is callable whether or not a GPU is
// present; kernels live in src/*/cuda/ and are declared in their own headers.
#include <string>

namespace eft::cuda {

// True when eft was built with CUDA and a usable device is present. The first call also installs
// the device hooks: the allocator used by Tensor(Device::cuda) and the copy/zero ops of a
// PagedKvCache on Device::cuda (set_device_allocator, set_kv_device_ops).
bool available();
std::string device_name();  // "" when none
int sm_count();
int compute_capability();  // major * 10 + minor (90 for H100/H200), 0 when none

}  // namespace eft::cuda
