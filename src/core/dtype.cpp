#include "eft/dtype.h"

#include <cmath>

#include "eft/error.h"

namespace eft {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
  }
  return "?";
}

DType dtype_from_name(std::string_view n) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::u8})
    if (dtype_name(t) == n) return t;
  fail("unknown dtype '{}' (expected f32, f16, bf16, f64, i32 or u8)", n);
}

f16 f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};  // NaN stays NaN
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: infinity
  if (a < 0x38800000u) {
    // Subnormal or zero in f16: value = a_float / 2^-24 rounded to nearest even integer.
    if (a < 0x33000000u) return f16{uint16_t(sign)};  // < 2^-25: rounds to zero
    uint32_t e = a >> 23;                             // 102 .. 112
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;      // 24-bit significand
    uint32_t shift = 126 - e;                         // bring to units of 2^-24: 14 .. 24
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return f16{uint16_t(sign | q)};
  }
  // Normal: rebias exponent (127 -> 15) and round the 23-bit mantissa to 10 bits, ties to even.
  uint32_t v = a - 0x38000000u;  // exponent - 112
  uint32_t q = v >> 13;
  uint32_t rem = v & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;  // may carry into the exponent: fine
  return f16{uint16_t(sign | q)};
}

float f16_to_f32(f16 h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t e = (h.bits >> 10) & 0x1fu;
  uint32_t m = h.bits & 0x3ffu;
  if (e == 0) {
    float v = std::ldexp(float(m), -24);
    return sign ? -v : v;
  }
  if (e == 31) return bits_f32(sign | 0x7f800000u | (m << 13));
  return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

double load_as_f64(const void* base, DType t, size_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::f16: return f16_to_f32(static_cast<const f16*>(base)[i]);
    case DType::bf16: return bf16_to_f32(static_cast<const bf16*>(base)[i]);
    case DType::f64: return static_cast<const double*>(base)[i];
    case DType::i32: return static_cast<const int32_t*>(base)[i];
    case DType::u8: return static_cast<const uint8_t*>(base)[i];
  }
  return 0;
}

void store_from_f64(void* base, DType t, size_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(base)[i] = float(v); return;
    case DType::f16: static_cast<f16*>(base)[i] = f32_to_f16(float(v)); return;
    case DType::bf16: static_cast<bf16*>(base)[i] = f32_to_bf16(float(v)); return;
    case DType::f64: static_cast<double*>(base)[i] = v; return;
    case DType::i32: static_cast<int32_t*>(base)[i] = int32_t(v); return;
    case DType::u8: static_cast<uint8_t*>(base)[i] = uint8_t(v); return;
  }
}

void convert(const void* src, DType st, void* dst, DType dt, size_t n) {
  if (st == DType::f32 && dt == DType::f32) {
    std::memcpy(dst, src, n * 4);
    return;
  }
  if (st == DType::bf16 && dt == DType::f32) {
    auto s = static_cast<const bf16*>(src);
    auto d = static_cast<float*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
    return;
  }
  if (st == DType::f16 && dt == DType::f32) {
    auto s = static_cast<const f16*>(src);
    auto d = static_cast<float*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
    return;
  }
  if (st == DType::f32 && dt == DType::bf16) {
    auto s = static_cast<const float*>(src);
    auto d = static_cast<bf16*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
    return;
  }
  if (st == DType::f32 && dt == DType::f16) {
    auto s = static_cast<const float*>(src);
    auto d = static_cast<f16*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(s[i]);
    return;
  }
  // Every other pair through double. f64 -> f16/bf16 goes via f32 (store_from_f64), which can
  // round twice on exact ties; only reference and test code converts from f64.
  for (size_t i = 0; i < n; ++i) store_from_f64(dst, dt, i, load_as_f64(src, st, i));
}

}  // namespace eft
