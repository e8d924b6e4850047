#pragma once
// Weight storage types as they appear in GGUF (ggml type ids) and safetensors, with the block
// layouts of the quantized ones. The type table lives in eft_loader (src/loader/qtype.cpp: the
// loader needs row sizes to validate files, and eft_quant sits above eft_loader); dequantization,
// dot kernels and matmul live in eft_quant (src/quant/).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eft {

// Values are the ggml type ids used in GGUF tensor infos.
enum class QType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
};

// Every supported type, for tests and benchmarks that loop over them.
inline constexpr QType kAllQTypes[] = {QType::F32,  QType::F16,  QType::BF16, QType::Q8_0, QType::Q4_0, QType::Q4_1,
                                       QType::Q5_0, QType::Q5_1, QType::Q4_K, QType::Q5_K, QType::Q6_K};

std::string_view qtype_name(QType t);  // ggml's names: "f32", "q4_0", "q4_K", ...
// ggml's name for any type id, supported or not ("iq2_xxs", "q5_0", ...); "unknown" past the table.
std::string_view ggml_type_name(uint32_t ggml_type_id);
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

// The two implementations behind matmul, selectable for tests and benchmarks.
//  dot:   activations quantized to 8 bits per block of 32 (one f32 scale each) and integer dot
//         products against the stored blocks (float types: f32 dot products); memory-bound, for
//         decode. Error vs the exact product: see quantize_activations_q8 in src/quant/.
//  sgemm: rows dequantized to f32 tiles, then OpenBLAS sgemm; compute-bound, for prefill. Exact
//         up to f32 rounding.
enum class MatmulPath { automatic, dot, sgemm };
void matmul(const QMatrix& w, const float* x, int64_t n, float* y, MatmulPath path);
// The n at and above which `automatic` takes the sgemm path for type t (see src/quant/matmul.cpp).
int64_t matmul_sgemm_threshold(QType t);

}  // namespace eft
