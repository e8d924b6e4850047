// Scalar dot kernels: the readable form of what the AVX2 ones compute. Integer dot per block of
// 32 (or sub-block of 16 for q6_K), then one f32 multiply-add with the block scales.
#include <cmath>

#include "quant/blocks.h"
#include "quant/dot.h"

namespace eft::quant {

void quantize_q8x(const float* x, BlockQ8x* out, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0;
    for (int l = 0; l < 32; ++l) amax = std::fmax(amax, std::fabs(x[l]));
    const float d = amax / 127.0f;
    const float id = d > 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int l = 0; l < 32; ++l) {
      // x*id can exceed 127 by an ulp; clamp so the int8 range (and the maddubs bounds the AVX2
      // kernels rely on: never -128) always hold.
      int q = int(std::nearbyint(x[l] * id));
      q = q > 127 ? 127 : (q < -127 ? -127 : q);
      out[b].qs[l] = int8_t(q);
      sum += q;
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

namespace {

int32_t idot32(const int8_t* a, const uint8_t* w, int off) {  // Σ (w - off) * a over 32
  int32_t s = 0;
  for (int l = 0; l < 32; ++l) s += (int32_t(w[l]) - off) * a[l];
  return s;
}

// 32-element formats: unpack a block to unsigned quants u[32] (element order), then
// value = d * (u - off) [+ m].
void unpack_q4(const uint8_t* qs, uint8_t* u) {
  for (int l = 0; l < 16; ++l) { u[l] = qs[l] & 15; u[l + 16] = qs[l] >> 4; }
}
void unpack_q5(const uint8_t* qs, const uint8_t* qh, uint8_t* u) {
  const uint32_t h = load_qh(qh);
  for (int l = 0; l < 16; ++l) {
    u[l] = uint8_t((qs[l] & 15) | ((h >> l) & 1) << 4);
    u[l + 16] = uint8_t((qs[l] >> 4) | ((h >> (l + 16)) & 1) << 4);
  }
}

float dot_q4_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
  float s = 0;
  uint8_t u[32];
  for (int64_t i = 0; i < nb; ++i) {
    unpack_q4(b[i].qs, u);
    s += h2f(b[i].d) * x[i].d * float(idot32(x[i].qs, u, 8));
  }
  return s;
}
float dot_q4_1(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ4_1* b = static_cast<const BlockQ4_1*>(w);
  float s = 0;
  uint8_t u[32];
  for (int64_t i = 0; i < nb; ++i) {
    unpack_q4(b[i].qs, u);
    s += h2f(b[i].d) * x[i].d * float(idot32(x[i].qs, u, 0)) + h2f(b[i].m) * x[i].d * float(x[i].sum);
  }
  return s;
}
float dot_q5_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(w);
  float s = 0;
  uint8_t u[32];
  for (int64_t i = 0; i < nb; ++i) {
    unpack_q5(b[i].qs, b[i].qh, u);
    s += h2f(b[i].d) * x[i].d * float(idot32(x[i].qs, u, 16));
  }
  return s;
}
float dot_q5_1(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ5_1* b = static_cast<const BlockQ5_1*>(w);
  float s = 0;
  uint8_t u[32];
  for (int64_t i = 0; i < nb; ++i) {
    unpack_q5(b[i].qs, b[i].qh, u);
    s += h2f(b[i].d) * x[i].d * float(idot32(x[i].qs, u, 0)) + h2f(b[i].m) * x[i].d * float(x[i].sum);
  }
  return s;
}
float dot_q8_0(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
  float s = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t acc = 0;
    for (int l = 0; l < 32; ++l) acc += int32_t(b[i].qs[l]) * x[i].qs[l];
    s += h2f(b[i].d) * x[i].d * float(acc);
  }
  return s;
}

// K types: super-block s covers activation blocks 8s .. 8s+7, one per sub-block of 32.
template <bool Five, class Block>
float dot_qk45(const void* w, const BlockQ8x* x, int64_t nb) {
  const Block* b = static_cast<const Block*>(w);
  float s = 0;
  uint8_t u[32];
  for (int64_t i = 0; i < nb / 8; ++i, x += 8) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        u[l] = (j & 1) ? q[l] >> 4 : q[l] & 15;
        if constexpr (Five) u[l] = uint8_t(u[l] | ((b[i].qh[l] >> j) & 1) << 4);
      }
      uint8_t sc, mn;
      k_scale_min(b[i].scales, j, &sc, &mn);
      s += x[j].d * (d * float(sc) * float(idot32(x[j].qs, u, 0)) - dmin * float(mn) * float(x[j].sum));
    }
  }
  return s;
}

float dot_q6_k(const void* w, const BlockQ8x* x, int64_t nb) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  float s = 0;
  for (int64_t i = 0; i < nb / 8; ++i, x += 8) {
    const float d = h2f(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int k = 0; k < 4; ++k) {  // group k: elements 32k..32k+31 of this half
        const BlockQ8x& xb = x[4 * h + k];
        int32_t part[2] = {0, 0};
        for (int l = 0; l < 32; ++l) {
          const uint8_t lo = (k & 1) ? ql[l + 32] : ql[l];
          const int q = int(((k < 2) ? (lo & 15) : (lo >> 4)) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
          part[l / 16] += q * xb.qs[l];
        }
        s += d * xb.d * float(int32_t(sc[2 * k]) * part[0] + int32_t(sc[2 * k + 1]) * part[1]);
      }
    }
  }
  return s;
}

float fdot_f32(const void* w, const float* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * x[i];
  return s;
}
float fdot_f16(const void* w, const float* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += h2f(a[i]) * x[i];
  return s;
}
float fdot_bf16(const void* w, const float* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += bits_f32(uint32_t(a[i]) << 16) * x[i];
  return s;
}

}  // namespace

bool is_float_type(QType t) { return t == QType::F32 || t == QType::F16 || t == QType::BF16; }

QDotFn qdot_scalar(QType t) {
  switch (t) {
    case QType::Q4_0: return dot_q4_0;
    case QType::Q4_1: return dot_q4_1;
    case QType::Q5_0: return dot_q5_0;
    case QType::Q5_1: return dot_q5_1;
    case QType::Q8_0: return dot_q8_0;
    case QType::Q4_K: return dot_qk45<false, BlockQ4_K>;
    case QType::Q5_K: return dot_qk45<true, BlockQ5_K>;
    case QType::Q6_K: return dot_q6_k;
    default: return nullptr;
  }
}

FDotFn fdot_scalar(QType t) {
  switch (t) {
    case QType::F32: return fdot_f32;
    case QType::F16: return fdot_f16;
    case QType::BF16: return fdot_bf16;
    default: return nullptr;
  }
}

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

QDotFn qdot_kernel(QType t, bool simd) {
  if (simd && cpu_has_avx2())
    if (QDotFn f = qdot_avx2(t)) return f;
  return qdot_scalar(t);
}

FDotFn fdot_kernel(QType t, bool simd) {
  if (simd && cpu_has_avx2())
    if (FDotFn f = fdot_avx2(t)) return f;
  return fdot_scalar(t);
}

}  // namespace eft::quant
