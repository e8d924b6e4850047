#pragma once
// Element types and their conversions. f16 and bf16 conversions from f32 round to nearest even,
// as IEEE 754 does; NaN stays NaN (quiet), overflow goes to infinity.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace eft {

enum class DType : uint8_t { f32, f16, bf16, f64, i32, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::u8: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType t);
DType dtype_from_name(std::string_view name);  // throws eft::Error naming the unknown type

// Raw 16-bit storage types. They are plain structs so that host code cannot mix them up with
// integers; the CUDA side uses its own __half / __nv_bfloat16 with the same bit layout.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline bf16 f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40u)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return bf16{uint16_t(u >> 16)};
}
inline float bf16_to_f32(bf16 h) { return bits_f32(uint32_t(h.bits) << 16); }

f16 f32_to_f16(float f);
float f16_to_f32(f16 h);

// Scalar load/store through a dtype tag; used by reference code and converters, not hot loops.
double load_as_f64(const void* base, DType t, size_t i);
void store_from_f64(void* base, DType t, size_t i, double v);
// Bulk conversion of n elements (any float dtype to any float dtype).
void convert(const void* src, DType src_t, void* dst, DType dst_t, size_t n);

}  // namespace eft
