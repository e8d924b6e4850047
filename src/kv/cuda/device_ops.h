#pragma once
// The CUDA side of the paged KV cache's device hooks (KvDeviceOps in eft/kv_cache.h). Internal to
// eft_cuda: the device probe (src/core/cuda/device.cpp) installs them together with the device
// allocator, so a cache on Device::cuda works wherever Tensor(Device::cuda) does.
namespace eft::cuda {

// set_kv_device_ops with device-to-device cudaMemcpy / cudaMemset.
void install_kv_device_ops();

}  // namespace eft::cuda
