#pragma once
// The CUDA backend's host-facing basics. Everything here is callable whether or not a GPU is
// present; kernels live in src/*/cuda/ and are declared in their own headers.
#include <string>

namespace eft::cuda {

// True when eft was built with CUDA and a usable device is present (also installs the device
// allocator used by Tensor(Device::cuda)).
bool available();
std::string device_name();  // "" when none
int sm_count();

}  // namespace eft::cuda
