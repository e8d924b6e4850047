// Bad input to attention_cpu raises eft::Error whose message names the offending field, for every
// exact method (validation runs before any work, so no method can crash on it).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "attn_test_util.h"
#include "eft/error.h"

namespace eft::test {
namespace {

// A small valid case that each test breaks in one way.
struct Valid {
  AttnCase c;
  AttentionArgs a;
  explicit Valid(AttnCaseSpec spec = {}) : c(make_case(spec, run_seed())), a(c.args()) {}
};
AttnCaseSpec base_spec(bool paged = false) {
  AttnCaseSpec s;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.head_dim = 16;
  s.q_lens = {5, 1};
  s.kv_lens = {5, 9};
  s.paged = paged;
  s.block_size = 4;
  return s;
}

// Runs the broken call under every exact method; each must throw eft::Error mentioning `field`.
void expect_error(const std::function<void(AttentionParams&, AttentionArgs&)>& breakit, const std::string& field,
                  bool paged = false, AttnCaseSpec spec = base_spec()) {
  spec.paged = paged;
  for (AttnMethod m : {AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse}) {
    Valid v(spec);
    AttentionParams p = v.c.params;
    p.method = m;
    attention_cpu(p, v.a);  // the unbroken call is fine
    breakit(p, v.a);
    try {
      attention_cpu(p, v.a);
      ADD_FAILURE() << "no error for broken " << field << " (" << method_name(m) << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos)
          << "message '" << e.what() << "' does not name " << field;
    }
  }
}

TEST(AttnErrors, ShapesThatDisagree) {
  expect_error([](AttentionParams&, AttentionArgs& a) { a.q_row_stride = 3; }, "q_row_stride");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.o_row_stride = 63; }, "o_row_stride");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.row_stride = 31; }, "kv.row_stride");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.head_dim = 0; }, "head_dim");
  // More queries than keys with the queries taken as the last tokens: q_len 5 > kv_len 2.
  static int32_t short_kv[2] = {2, 9};
  expect_error([](AttentionParams&, AttentionArgs& a) { a.batch.kv_len = short_kv; }, "kv_len");
  static int32_t bad_start[3] = {0, 5, 4};
  expect_error([](AttentionParams&, AttentionArgs& a) { a.batch.q_start = bad_start; }, "q_start");
  static uint8_t layout[1] = {1};
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_block_sparse(layout, 4, 1, 1, false); },
               "block layout");
}

TEST(AttnErrors, HeadsNotMultiple) {
  expect_error([](AttentionParams& p, AttentionArgs&) { p.kv_heads = 3; }, "q_heads");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.kv_heads = 0; }, "kv_heads");
}

TEST(AttnErrors, NegativeWindow) {
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_window(-3, 2); }, "left=-3");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_window(4, -2); }, "right=-2");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_strided(4, -5, false); }, "left=-5");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_strided(0, 2, false); }, "mask.stride");
}

TEST(AttnErrors, GlobalsOutOfRangeOrUnsorted) {
  static int32_t far[2] = {1, 7};  // 7 is past the first sequence (5 tokens)
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_longformer(2, 2, far, 2, false); },
               "mask.global position 7");
  static int32_t unsorted[3] = {0, 3, 2};
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_longformer(2, 2, unsorted, 3, false); },
               "sorted");
  static int32_t negative[1] = {-1};
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_longformer(2, 2, negative, 1, false); },
               "mask.global[0] = -1");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_longformer(2, 2, nullptr, 2, false); },
               "mask.global is null");
}

TEST(AttnErrors, BlockTableOutsideThePool) {
  static int32_t table[6];
  expect_error(
      [](AttentionParams&, AttentionArgs& a) {
        for (int i = 0; i < a.kv.max_blocks * 2; ++i) table[i] = a.kv.block_table[i];
        table[a.kv.max_blocks + 1] = a.kv.n_blocks;  // sequence 1, block 1: one past the pool
        a.kv.block_table = table;
      },
      "block_table[1][1]", /*paged=*/true);
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.block_size = 0; }, "kv.block_size", true);
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.block_table = nullptr; }, "kv.block_table", true);
}

TEST(AttnErrors, NullPointers) {
  expect_error([](AttentionParams&, AttentionArgs& a) { a.q = nullptr; }, "args.q");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.k = nullptr; }, "args.kv.k");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.v = nullptr; }, "args.kv.v");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.o = nullptr; }, "args.o");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.batch.q_start = nullptr; }, "batch.q_start");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.kv.kv_start = nullptr; }, "kv.kv_start");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.mask = mask_block_sparse(nullptr, 4, 2, 3, false); },
               "mask.layout");
}

TEST(AttnErrors, BadScalarsAndTypes) {
  expect_error([](AttentionParams& p, AttentionArgs&) { p.scale = -1.f; }, "scale");
  expect_error([](AttentionParams& p, AttentionArgs&) { p.softcap = NAN; }, "softcap");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.q_dtype = DType::i32; }, "Q dtype");
  expect_error([](AttentionParams&, AttentionArgs& a) { a.o_dtype = DType::u8; }, "O dtype");
}

}  // namespace
}  // namespace eft::test
