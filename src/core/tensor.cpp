#include "eft/tensor.h"

#include <atomic>
#include <cstdlib>
#include <fmt/format.h>
#include <new>

#include "eft/error.h"

namespace eft {

Shape::Shape(std::initializer_list<int64_t> d) {
  check(d.size() <= size_t(kMaxDims), "tensor rank {} exceeds the maximum {}", d.size(), kMaxDims);
  for (int64_t x : d) {
    check(x >= 0, "negative dimension {} in a tensor shape", x);
    dims[ndim++] = x;
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= dims[i];
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) s += fmt::format("{}{}", i ? ", " : "", dims[i]);
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[i] != o.dims[i]) return false;
  return true;
}

TensorView::TensorView(void* d, DType t, Shape s, Device dev) : data(d), dtype(t), device(dev), shape(s) {
  int64_t st = 1;
  for (int i = s.ndim - 1; i >= 0; --i) {
    strides[i] = st;
    st *= s.dims[i];
  }
}

bool TensorView::contiguous() const {
  int64_t st = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape.dims[i] != 1 && strides[i] != st) return false;
    st *= shape.dims[i];
  }
  return true;
}

namespace {
struct Counters {
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
};
Counters g_mem[2];
DeviceAllocator g_device_alloc;

void account(Device d, int64_t delta) {
  auto& c = g_mem[int(d)];
  int64_t now = c.current.fetch_add(delta) + delta;
  int64_t p = c.peak.load();
  while (now > p && !c.peak.compare_exchange_weak(p, now)) {
  }
}
}  // namespace

MemoryStats memory_stats(Device d) { return {g_mem[int(d)].current.load(), g_mem[int(d)].peak.load()}; }
void reset_peak_memory(Device d) { g_mem[int(d)].peak.store(g_mem[int(d)].current.load()); }
void set_device_allocator(DeviceAllocator a) { g_device_alloc = a; }

Tensor::Tensor(Shape shape, DType dtype, Device device) {
  view_ = TensorView(nullptr, dtype, shape, device);
  bytes_ = size_t(shape.numel()) * dtype_size(dtype);
  if (bytes_ == 0) return;
  if (device == Device::cpu) {
    size_t rounded = (bytes_ + 63) / 64 * 64;
    view_.data = std::aligned_alloc(64, rounded);
    if (!view_.data) throw OutOfMemory(fmt::format("cannot allocate {} bytes for a tensor {}", bytes_, shape.str()));
  } else {
    check(g_device_alloc.alloc != nullptr, "no CUDA device allocator: eft was built or run without a GPU");
    view_.data = g_device_alloc.alloc(bytes_);
  }
  account(device, int64_t(bytes_));
}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (!view_.data) return;
  if (view_.device == Device::cpu) std::free(view_.data);
  else g_device_alloc.free(view_.data);
  account(view_.device, -int64_t(bytes_));
  view_.data = nullptr;
  bytes_ = 0;
}

Tensor::Tensor(Tensor&& o) noexcept : view_(o.view_), bytes_(o.bytes_) {
  o.view_.data = nullptr;
  o.bytes_ = 0;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    release();
    view_ = o.view_;
    bytes_ = o.bytes_;
    o.view_.data = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

}  // namespace eft
