// The storage-type table: ggml type ids, names and block geometry. Kept in eft_loader because the
// loader needs row sizes to validate tensor extents, and eft_quant links eft_loader (not the reverse).
#include <limits>

#include "eft/error.h"
#include "eft/quant.h"

namespace eft {

namespace {
struct QTypeInfo {
  QType type;
  std::string_view name;
  int64_t block_elems;
  int64_t block_bytes;
};

// Block sizes of ggml's formats (facts of the GGUF format):
//   q4_0: f16 d + 16 bytes of nibbles            (32 elems, 18 bytes)
//   q4_1: f16 d, f16 m + 16 bytes of nibbles     (32 elems, 20 bytes)
//   q5_0: f16 d + 4 bytes of fifth bits + 16 bytes of nibbles        (32 elems, 22 bytes)
//   q5_1: f16 d, f16 m + 4 bytes of fifth bits + 16 bytes of nibbles (32 elems, 24 bytes)
//   q8_0: f16 d + 32 int8                        (32 elems, 34 bytes)
//   q4_K: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes          (256 elems, 144 bytes)
//   q5_K: f16 d, f16 dmin, 12 scale bytes, 32 high-bit bytes, 128    (256 elems, 176 bytes)
//   q6_K: 128 low-nibble bytes, 64 high-2-bit bytes, 16 int8 scales, f16 d (256 elems, 210 bytes)
constexpr QTypeInfo kTable[] = {
    {QType::F32, "f32", 1, 4},       {QType::F16, "f16", 1, 2},        {QType::BF16, "bf16", 1, 2},
    {QType::Q8_0, "q8_0", 32, 34},   {QType::Q4_0, "q4_0", 32, 18},    {QType::Q4_1, "q4_1", 32, 20},
    {QType::Q5_0, "q5_0", 32, 22},   {QType::Q5_1, "q5_1", 32, 24},
    {QType::Q4_K, "q4_K", 256, 144}, {QType::Q5_K, "q5_K", 256, 176},  {QType::Q6_K, "q6_K", 256, 210},
};

const QTypeInfo& info(QType t) {
  for (const QTypeInfo& i : kTable)
    if (i.type == t) return i;
  fail("unsupported tensor type id {} ({})", uint32_t(t), ggml_type_name(uint32_t(t)));
}

// ggml's type names by id, including the ones eft does not read, so a refusal can say what the
// file holds. Ids 4, 5, 31-33 and 36-38 were retired from ggml.
constexpr std::string_view kGgmlNames[] = {
    "f32",     "f16",    "q4_0",    "q4_1",    "q4_2 (retired)", "q4_3 (retired)", "q5_0",  "q5_1",
    "q8_0",    "q8_1",   "q2_K",    "q3_K",    "q4_K",           "q5_K",           "q6_K",  "q8_K",
    "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s",   "iq4_nl",         "iq3_s",          "iq2_s", "iq4_xs",
    "i8",      "i16",    "i32",     "i64",     "f64",            "iq1_m",          "bf16",  "q4_0_4_4 (retired)",
    "q4_0_4_8 (retired)", "q4_0_8_8 (retired)", "tq1_0", "tq2_0", "iq4_nl_4_4 (retired)",
    "iq4_nl_4_8 (retired)", "iq4_nl_8_8 (retired)", "mxfp4"};
}  // namespace

std::string_view ggml_type_name(uint32_t id) {
  return id < std::size(kGgmlNames) ? kGgmlNames[id] : std::string_view("unknown");
}

std::string_view qtype_name(QType t) { return info(t).name; }

bool qtype_supported(uint32_t id) {
  for (const QTypeInfo& i : kTable)
    if (uint32_t(i.type) == id) return true;
  return false;
}

int64_t qtype_block_elems(QType t) { return info(t).block_elems; }
int64_t qtype_block_bytes(QType t) { return info(t).block_bytes; }

size_t qtype_row_bytes(QType t, int64_t n) {
  const QTypeInfo& i = info(t);
  check(n >= 0 && n % i.block_elems == 0, "row of {} elements is not a multiple of the {} block size {}", n, i.name,
        i.block_elems);
  int64_t blocks = n / i.block_elems;
  check(blocks <= std::numeric_limits<int64_t>::max() / i.block_bytes, "row of {} {} elements overflows the byte count",
        n, i.name);
  return size_t(blocks * i.block_bytes);
}

}  // namespace eft
