#pragma once
// Tensor (owning, 64-byte aligned, device-tagged) and TensorView (non-owning). Every op takes
// views; ownership lives in a few owners (weights, KV pool, workspace). Shapes are row-major with
// explicit strides counted in elements.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "eft/dtype.h"

namespace eft {

enum class Device : uint8_t { cpu, cuda };

constexpr int kMaxDims = 6;

struct Shape {
  std::array<int64_t, kMaxDims> dims{};
  int ndim = 0;
  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }
  int64_t numel() const;
  std::string str() const;  // "[2, 3, 4]"
  bool operator==(const Shape& o) const;
};

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  Shape shape;
  std::array<int64_t, kMaxDims> strides{};  // in elements

  TensorView() = default;
  TensorView(void* d, DType t, Shape s, Device dev = Device::cpu);  // contiguous strides

  int64_t numel() const { return shape.numel(); }
  bool contiguous() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  template <typename T> T* as() const { return static_cast<T*>(data); }
};

// Peak / current bytes allocated through Tensor, per device. Methods allocate their scratch
// through Tensor, so a benchmark can report the extra memory a method really took.
struct MemoryStats {
  int64_t current = 0;
  int64_t peak = 0;
};
MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);  // peak := current

class Tensor {
 public:
  Tensor() = default;
  Tensor(Shape shape, DType dtype, Device device = Device::cpu);
  ~Tensor();
  Tensor(Tensor&& o) noexcept;
  Tensor& operator=(Tensor&& o) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  TensorView view() const { return view_; }
  operator TensorView() const { return view_; }
  void* data() const { return view_.data; }
  template <typename T> T* as() const { return static_cast<T*>(view_.data); }
  const Shape& shape() const { return view_.shape; }
  DType dtype() const { return view_.dtype; }
  Device device() const { return view_.device; }
  int64_t numel() const { return view_.numel(); }
  size_t nbytes() const { return bytes_; }
  bool empty() const { return view_.data == nullptr; }

 private:
  void release();
  TensorView view_;
  size_t bytes_ = 0;
};

// Device memory hooks, installed by the CUDA backend when it is linked and a GPU is present.
struct DeviceAllocator {
  void* (*alloc)(size_t bytes) = nullptr;
  void (*free)(void* p) = nullptr;
};
void set_device_allocator(DeviceAllocator a);

}  // namespace eft
