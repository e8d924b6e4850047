// Block decoders. The f32 arithmetic follows the format's reference decoder in order (for K types
// the per-sub-block factor d*scale is formed first, then times the quant, minus dmin*min).
#include <cstring>

#include "eft/error.h"
#include "eft/quant.h"
#include "quant/blocks.h"

namespace eft {

using namespace quant;

namespace {

void deq_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = h2f(b[i].d);
    for (int l = 0; l < QK / 2; ++l) {
      y[l] = float((b[i].qs[l] & 0x0F) - 8) * d;
      y[l + QK / 2] = float((b[i].qs[l] >> 4) - 8) * d;
    }
  }
}

void deq_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = h2f(b[i].d), m = h2f(b[i].m);
    for (int l = 0; l < QK / 2; ++l) {
      y[l] = float(b[i].qs[l] & 0x0F) * d + m;
      y[l + QK / 2] = float(b[i].qs[l] >> 4) * d + m;
    }
  }
}

void deq_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = h2f(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int l = 0; l < QK / 2; ++l) {
      const int q0 = int((b[i].qs[l] & 0x0F) | (((qh >> l) & 1u) << 4)) - 16;
      const int q1 = int((b[i].qs[l] >> 4) | (((qh >> (l + 16)) & 1u) << 4)) - 16;
      y[l] = float(q0) * d;
      y[l + QK / 2] = float(q1) * d;
    }
  }
}

void deq_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = h2f(b[i].d), m = h2f(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    for (int l = 0; l < QK / 2; ++l) {
      const uint32_t q0 = (b[i].qs[l] & 0x0F) | (((qh >> l) & 1u) << 4);
      const uint32_t q1 = (b[i].qs[l] >> 4) | (((qh >> (l + 16)) & 1u) << 4);
      y[l] = float(q0) * d + m;
      y[l + QK / 2] = float(q1) * d + m;
    }
  }
}

void deq_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = h2f(b[i].d);
    for (int l = 0; l < QK; ++l) y[l] = float(b[i].qs[l]) * d;
  }
}

void deq_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int c = 0; c < 4; ++c, q += 32) {  // 4 chunks of 64 = sub-blocks 2c (low) and 2c+1 (high)
      uint8_t sc, mn;
      k_scale_min(b[i].scales, 2 * c, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      k_scale_min(b[i].scales, 2 * c + 1, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0x0F) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void deq_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const uint8_t* q = b[i].qs;
    const uint8_t* qh = b[i].qh;
    for (int c = 0; c < 4; ++c, q += 32) {
      uint8_t sc, mn;
      k_scale_min(b[i].scales, 2 * c, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      k_scale_min(b[i].scales, 2 * c + 1, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      const uint8_t u1 = uint8_t(1u << (2 * c)), u2 = uint8_t(2u << (2 * c));
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((q[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((q[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

// q6_K, per half h of 128 elements (ql += 64, qh += 32, scales += 8 per half), for l in 0..31:
//   element l      : low nibble of ql[l]      | bits 0-1 of qh[l] << 4, scale sc[l/16]
//   element l + 32 : low nibble of ql[l + 32] | bits 2-3 of qh[l] << 4, scale sc[l/16 + 2]
//   element l + 64 : high nibble of ql[l]     | bits 4-5 of qh[l] << 4, scale sc[l/16 + 4]
//   element l + 96 : high nibble of ql[l + 32]| bits 6-7 of qh[l] << 4, scale sc[l/16 + 6]
void deq_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int h = 0; h < 2; ++h, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0x0F) | ((qh[l] & 0x03) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 0x03) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 0x03) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 0x03) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

}  // namespace

void dequantize_row(QType t, const void* src, float* dst, int64_t n) {
  const int64_t bs = qtype_block_elems(t);
  check(n >= 0 && n % bs == 0, "dequantize_row: {} elements is not a multiple of the {} block size {}", n,
        qtype_name(t), bs);
  const int64_t nb = n / bs;
  switch (t) {
    case QType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case QType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = h2f(s[i]);
      return;
    }
    case QType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bits_f32(uint32_t(s[i]) << 16);
      return;
    }
    case QType::Q4_0: deq_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); return;
    case QType::Q4_1: deq_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb); return;
    case QType::Q5_0: deq_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb); return;
    case QType::Q5_1: deq_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb); return;
    case QType::Q8_0: deq_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); return;
    case QType::Q4_K: deq_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb); return;
    case QType::Q5_K: deq_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb); return;
    case QType::Q6_K: deq_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb); return;
  }
  fail("dequantize_row: unsupported type id {}", uint32_t(t));
}

}  // namespace eft
