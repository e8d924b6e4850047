#pragma once
// Test-side encoders: build ggml blocks from logical values (per-element integer quants, per-block
// or per-sub-block scales) following the published block layouts, and the float64 value each
// element must decode to. Written independently of src/quant (no shared code), so a layout
// misreading on either side shows up as a mismatch.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "eft/dtype.h"
#include "eft/quant.h"

namespace eft::testq {

inline void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
inline uint16_t h(double v) { return f32_to_f16(float(v)).bits; }

// A random f16-exact value k * 2^-14 with k in [1, 1023] (random sign when `sign`): products with
// small integers stay exact in f32, so decoded values can be compared exactly.
inline double rand_scale(std::mt19937& g, bool sign) {
  double k = double(std::uniform_int_distribution<int>(1, 1023)(g));
  if (sign && (g() & 1)) k = -k;
  return std::ldexp(k, -14);
}

// Encodes `nblocks` random blocks of type t into `bytes` and the exact expected values into `want`.
inline void random_blocks(QType t, int64_t nblocks, std::mt19937& g, std::vector<uint8_t>& bytes,
                          std::vector<double>& want) {
  const int64_t be = qtype_block_elems(t), bb = qtype_block_bytes(t);
  bytes.assign(size_t(nblocks * bb), 0);
  want.assign(size_t(nblocks * be), 0.0);
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* p = bytes.data() + b * bb;
    double* w = want.data() + b * be;
    switch (t) {
      case QType::F32: {
        float v = std::ldexp(float(U(-(1 << 20), 1 << 20)), U(-30, 10));
        std::memcpy(p, &v, 4);
        w[0] = v;
        break;
      }
      case QType::F16: {
        uint16_t bits = uint16_t(U(0, 0xffff));
        if ((bits & 0x7c00) == 0x7c00) bits &= 0xbfff;  // keep finite
        put16(p, bits);
        int e = (bits >> 10) & 31, m = bits & 1023;
        double mag = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(double(1024 + m), e - 25);
        w[0] = (bits & 0x8000) ? -mag : mag;
        break;
      }
      case QType::BF16: {
        // Exponents 2^-27 .. 2^13 plus zero/subnormals: wide, yet products with N(0,1)
        // activations stay far from f32 overflow.
        const int e8 = (g() % 16 == 0) ? 0 : U(100, 140);
        uint16_t bits = uint16_t((g() & 1) << 15 | e8 << 7 | U(0, 127));
        put16(p, bits);
        int e = (bits >> 7) & 255, m = bits & 127;
        double mag = e == 0 ? std::ldexp(double(m), -133) : std::ldexp(double(128 + m), e - 134);
        w[0] = (bits & 0x8000) ? -mag : mag;
        break;
      }
      case QType::Q8_0: {
        double d = rand_scale(g, true);
        put16(p, h(d));
        for (int l = 0; l < 32; ++l) {
          int q = U(-128, 127);
          p[2 + l] = uint8_t(int8_t(q));
          w[l] = d * q;
        }
        break;
      }
      case QType::Q4_0: case QType::Q4_1: case QType::Q5_0: case QType::Q5_1: {
        const bool five = t == QType::Q5_0 || t == QType::Q5_1;
        const bool has_min = t == QType::Q4_1 || t == QType::Q5_1;
        double d = rand_scale(g, true), m = has_min ? rand_scale(g, true) : 0.0;
        put16(p, h(d));
        if (has_min) put16(p + 2, h(m));
        uint8_t* qh = p + (has_min ? 4 : 2);
        uint8_t* qs = five ? qh + 4 : qh;
        int q[32];
        uint32_t hb = 0;
        for (int l = 0; l < 32; ++l) {
          q[l] = U(0, five ? 31 : 15);
          if (five && (q[l] & 16)) hb |= 1u << l;
        }
        for (int l = 0; l < 16; ++l) qs[l] = uint8_t((q[l] & 15) | (q[l + 16] & 15) << 4);
        if (five) for (int k = 0; k < 4; ++k) qh[k] = uint8_t(hb >> (8 * k));
        const int off = has_min ? 0 : (five ? 16 : 8);
        for (int l = 0; l < 32; ++l) w[l] = d * (q[l] - off) + m;
        break;
      }
      case QType::Q4_K: case QType::Q5_K: {
        const bool five = t == QType::Q5_K;
        double d = rand_scale(g, true), dmin = rand_scale(g, true);
        put16(p, h(d));
        put16(p + 2, h(dmin));
        uint8_t* s = p + 4;
        uint8_t* qh = p + 16;
        uint8_t* qs = five ? p + 48 : p + 16;
        int sc[8], mn[8], q[256];
        for (int j = 0; j < 8; ++j) { sc[j] = U(0, 63); mn[j] = U(0, 63); }
        for (int j = 0; j < 4; ++j) {
          s[j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
          s[j + 4] = uint8_t(mn[j] | (mn[j + 4] >> 4) << 6);
          s[j + 8] = uint8_t((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
        }
        for (int e = 0; e < 256; ++e) q[e] = U(0, five ? 31 : 15);
        for (int c = 0; c < 4; ++c)
          for (int l = 0; l < 32; ++l) {
            qs[32 * c + l] = uint8_t((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
            if (five)
              qh[l] = uint8_t(qh[l] | ((q[64 * c + l] >> 4) & 1) << (2 * c) | ((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1));
          }
        for (int e = 0; e < 256; ++e) w[e] = d * sc[e / 32] * q[e] - dmin * mn[e / 32];
        break;
      }
      case QType::Q6_K: {
        double d = rand_scale(g, true);
        uint8_t* ql = p;
        uint8_t* qh = p + 128;
        int8_t* sc8 = reinterpret_cast<int8_t*>(p + 192);
        put16(p + 208, h(d));
        int sc[16], q[256];
        for (int j = 0; j < 16; ++j) { sc[j] = U(-128, 127); sc8[j] = int8_t(sc[j]); }
        for (int e = 0; e < 256; ++e) q[e] = U(0, 63);
        for (int hf = 0; hf < 2; ++hf)
          for (int l = 0; l < 32; ++l) {
            int e0 = 128 * hf + l, e1 = e0 + 32, e2 = e0 + 64, e3 = e0 + 96;
            ql[64 * hf + l] = uint8_t((q[e0] & 15) | (q[e2] & 15) << 4);
            ql[64 * hf + l + 32] = uint8_t((q[e1] & 15) | (q[e3] & 15) << 4);
            qh[32 * hf + l] = uint8_t((q[e0] >> 4) | (q[e1] >> 4) << 2 | (q[e2] >> 4) << 4 | (q[e3] >> 4) << 6);
          }
        for (int e = 0; e < 256; ++e) w[e] = d * sc[e / 16] * (q[e] - 32);
        break;
      }
    }
  }
}

}  // namespace eft::testq
