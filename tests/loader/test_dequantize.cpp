// dequantize_row against the float64 decode of hand-built blocks (quant_pack.h): scales are
// chosen f16-exact with small integer ratios, so every decoded value must match exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "eft/error.h"
#include "quant_pack.h"

using namespace eft;

TEST(Dequantize, HandBuiltBlocksDecodeExactly) {
  const unsigned seed = std::random_device{}();
  std::mt19937 g(seed);
  for (QType t : kAllQTypes) {
    SCOPED_TRACE(::testing::Message() << qtype_name(t) << " seed " << seed);
    const int64_t be = qtype_block_elems(t);
    const int64_t nblocks = be == 1 ? 4096 : 37;
    std::vector<uint8_t> bytes;
    std::vector<double> want;
    testq::random_blocks(t, nblocks, g, bytes, want);
    std::vector<float> got(want.size(), NAN);
    dequantize_row(t, bytes.data(), got.data(), int64_t(want.size()));
    int64_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (double(got[i]) != want[i] && bad++ < 5) ADD_FAILURE() << "element " << i << ": got " << got[i] << " want " << want[i];
    EXPECT_EQ(bad, 0);
  }
}

TEST(Dequantize, KnownQ4_0Block) {
  // d = 0.5 (f16 0x3800), nibbles 0..15 in the low halves and 15..0 in the high halves.
  uint8_t b[18] = {0x00, 0x38};
  for (int l = 0; l < 16; ++l) b[2 + l] = uint8_t(l | (15 - l) << 4);
  float y[32];
  dequantize_row(QType::Q4_0, b, y, 32);
  for (int l = 0; l < 16; ++l) {
    EXPECT_EQ(y[l], 0.5f * float(l - 8));
    EXPECT_EQ(y[16 + l], 0.5f * float(7 - l));
  }
}

TEST(Dequantize, KnownQ4_KScalePacking) {
  // Scale j = j + 1 and min j = 2j + 3 written with the 6-bit packing; d = 1, dmin = 0.5, all
  // nibbles 1: element e of sub-block j decodes to (j + 1) - 0.5 * (2j + 3).
  uint8_t b[144] = {};
  testq::put16(b, 0x3c00);
  testq::put16(b + 2, 0x3800);
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) { sc[j] = j + 1; mn[j] = 2 * j + 3; }
  for (int j = 0; j < 4; ++j) {
    b[4 + j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
    b[8 + j] = uint8_t(mn[j] | (mn[j + 4] >> 4) << 6);
    b[12 + j] = uint8_t((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
  }
  for (int i = 0; i < 128; ++i) b[16 + i] = 0x11;
  float y[256];
  dequantize_row(QType::Q4_K, b, y, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], float(sc[e / 32]) - 0.5f * float(mn[e / 32])) << e;
}

TEST(Dequantize, RowNotMultipleOfBlockIsRefused) {
  uint8_t b[144] = {};
  float y[256];
  try {
    dequantize_row(QType::Q4_K, b, y, 100);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q4_K"), std::string::npos) << e.what();
  }
  EXPECT_THROW(qtype_row_bytes(QType::Q8_0, 33), Error);
  EXPECT_EQ(qtype_row_bytes(QType::Q6_K, 512), 420u);
  EXPECT_EQ(qtype_row_bytes(QType::Q5_0, 64), 44u);
}

TEST(QTypeTable, NamesAndUnsupportedIds) {
  EXPECT_EQ(qtype_name(QType::Q4_K), "q4_K");
  EXPECT_TRUE(qtype_supported(6));
  EXPECT_FALSE(qtype_supported(10));
  EXPECT_EQ(ggml_type_name(10), "q2_K");
  EXPECT_EQ(ggml_type_name(1000), "unknown");
}
