#pragma once
// Quantized dot products for the decode path of matmul: activations are quantized per block of
// 32 to int8 with one f32 scale (BlockQ8x), then each weight row is dotted against them with
// integer multiply-adds, block by block. Two implementations of every kernel: a scalar one
// (portable, the readable specification) and an AVX2 one selected at run time when the CPU has
// AVX2+FMA (compiled with target attributes, so it exists in every build, ASan ones included,
// and tests can compare the two).
#include <cstdint>

#include "eft/quant.h"

namespace eft::quant {

// 32 activations: x ≈ d * qs, with qs in [-127, 127] and sum = Σ qs (used by formats with a min
// or an offset). Quantization error per element is at most d/2 (round to nearest), d = max|x|/127.
struct BlockQ8x {
  float d;
  int32_t sum;
  int8_t qs[32];
};

// x[n] (n a multiple of 32) -> out[n / 32].
void quantize_q8x(const float* x, BlockQ8x* out, int64_t n);

// Σ over the row of w·x for a quantized row of `nb32` blocks of 32 (the K types: nb32 / 8
// super-blocks).
using QDotFn = float (*)(const void* w_row, const BlockQ8x* x, int64_t nb32);
// Σ w·x over n elements for a float-type row (f32, f16, bf16) and f32 activations.
using FDotFn = float (*)(const void* w_row, const float* x, int64_t n);

bool cpu_has_avx2();
// simd=true picks the AVX2 kernel when the CPU has it, else the scalar one. Null for types of the
// other family (qdot of a float type, fdot of a quantized one).
QDotFn qdot_kernel(QType t, bool simd);
FDotFn fdot_kernel(QType t, bool simd);
bool is_float_type(QType t);

// The scalar and AVX2 tables themselves (the AVX2 one returns null when not compiled in).
QDotFn qdot_scalar(QType t);
FDotFn fdot_scalar(QType t);
QDotFn qdot_avx2(QType t);
FDotFn fdot_avx2(QType t);

}  // namespace eft::quant
