#pragma once
// Weight storage types as they appear in GGUF (ggml type ids) and safetensors, with the block
// layouts of the quantized ones. Dequantization and dot products live in src/model/quant/.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eft {

// Values are the ggml type ids used in GGUF tensor infos.
enum class QType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
};

std::string_view qtype_name(QType t);
bool qtype_supported(uint32_t ggml_type_id);
int64_t qtype_block_elems(QType t);  // elements per block (1 for float types)
int64_t qtype_block_bytes(QType t);  // bytes per block
// Bytes of a row of n elements; throws naming the type when n is not a multiple of the block.
size_t qtype_row_bytes(QType t, int64_t n);

// Dequantize n elements (n a multiple of the block size) of type t to f32.
void dequantize_row(QType t, const void* src, float* dst, int64_t n);

// A weight matrix W [rows = out_features, cols = in_features] stored row by row in type t
// (GGUF/safetensors layout: each row is qtype_row_bytes(t, cols) bytes).
struct QMatrix {
  QType type = QType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// y[n, rows] = x[n, cols] · Wᵀ, f32 activations, parallel over the CPU pool. The implementation
// picks, by measurement, between our quantized dot kernels and OpenBLAS on dequantized tiles.
void matmul(const QMatrix& w, const float* x, int64_t n, float* y);

}  // namespace eft
