#pragma once
// A read-only byte range backing a model file: a whole file mapped with mmap (pages are read
// lazily by the OS, so opening a 1 GB model costs nothing until tensors are touched), or a
// caller's memory buffer (fuzzing, tests). TensorInfo::data points into it, so every ModelFile
// keeps its mappings alive.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eft::loader {

class Mapping {
 public:
  static std::shared_ptr<Mapping> map_file(const std::string& path);  // throws naming the path
  static std::shared_ptr<Mapping> borrow(const void* data, size_t size);
  // Zeroed heap bytes (16-byte aligned) the caller fills through heap_data(): used for aligned
  // copies of tensors whose data sits at addresses the kernels cannot read in place.
  static std::shared_ptr<Mapping> heap(size_t size);
  uint8_t* heap_data() { return heap_.data(); }
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Mapping() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;  // munmap on destruction
  std::vector<uint8_t> heap_;  // the bytes, for heap()
};

}  // namespace eft::loader
