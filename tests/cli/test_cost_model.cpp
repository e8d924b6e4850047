// The cost model's formulas on hand-computed values, its JSON, and `eft cost` end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "eft/cost_model.h"
#include "eft/error.h"

namespace eft {
namespace {

TEST(CostModel, EntryCounts) {
  EXPECT_EQ(dense_entries(5, false), 25);
  EXPECT_EQ(dense_entries(5, true), 15);  // 5 + 4 + 3 + 2 + 1
  EXPECT_EQ(dense_entries(4, true), 10);
  EXPECT_EQ(dense_entries(0, true), 0);
  // window of 3 keys over 10 queries: 1 + 2 + 3 + 7 * 3
  EXPECT_EQ(window_entries(10, 3), 27);
  EXPECT_EQ(window_entries(2, 3), 3);   // shorter than the window: causal
  EXPECT_EQ(window_entries(3, 3), 6);
  // N = 8192, w = 4096: 4096 * 4097 / 2 + 4096 * 4096
  EXPECT_EQ(window_entries(8192, 4096), 8390656 + 16777216);
  // Odd and even N take different exact paths for N(N+1)/2.
  EXPECT_EQ(dense_entries(3037000499, true), int64_t(3037000499) * 1518500250);
}

TEST(CostModel, OpeningTableRowByHand) {
  CostConfig c;  // heads 32, kv_heads 8, d 128, layers 32, f16, w 4096, m 256, causal
  c.workers = 2;
  const CostTable t = attention_cost(c, {1024, 8192});
  // KV bytes per token: 2 * 32 layers * kv_heads * 128 * 2 bytes
  EXPECT_EQ(t.kv_token_mha, 524288);
  EXPECT_EQ(t.kv_token_gqa, 131072);
  EXPECT_EQ(t.kv_token_mqa, 16384);
  const CostRow& r = t.rows[0];
  EXPECT_EQ(r.n, 1024);
  EXPECT_EQ(r.score_entries, 1024LL * 1024 * 32);          // 33,554,432
  EXPECT_EQ(r.attended_entries, 1024LL * 1025 / 2 * 32);   // 16,793,600
  EXPECT_EQ(r.flops_qk, 4299161600LL);                     // 2 * 128 * 16,793,600
  EXPECT_EQ(r.flops_pv, 4299161600LL);
  EXPECT_EQ(r.flops_attention, 8598323200LL);
  EXPECT_EQ(r.flops_attention_model, 8598323200LL * 32);
  EXPECT_EQ(r.standard_score_bytes, 134217728LL);          // 128 MiB of f32 scores per layer
  EXPECT_EQ(r.window_entries, r.attended_entries);         // N < w: the window is the causal mask
  EXPECT_EQ(r.kv_bytes_gqa, 134217728LL);                  // 128 KiB * 1024
  // FAVOR+: per row 2*256*128 (features) + 2*256*129 (state) = 131,584; 2 * 1024 * 32 rows
  EXPECT_EQ(r.linear_flops, 131584LL * 1024 * 32 * 2);
  EXPECT_EQ(r.linear_state_bytes, 32LL * 32 * 256 * 129 * 4);
  // Flash: 2 workers * (64*128*2 + 64*64 + 2*64) floats
  EXPECT_EQ(r.flash_work_bytes, 2LL * (16384 + 4096 + 128) * 4);
  const CostRow& w = t.rows[1];
  EXPECT_EQ(w.window_entries, (8390656LL + 16777216) * 32);
  EXPECT_EQ(w.window_flops, 4LL * 128 * w.window_entries);
  EXPECT_EQ(w.flash_work_bytes, r.flash_work_bytes) << "flash memory must not grow with N";
}

TEST(CostModel, NonCausalAndMqaCounts) {
  CostConfig c;
  c.heads = 8;
  c.kv_heads = 1;
  c.head_dim = 64;
  c.layers = 2;
  c.dtype = DType::f32;
  c.causal = false;
  const CostTable t = attention_cost(c, {100});
  EXPECT_EQ(t.rows[0].attended_entries, 100LL * 100 * 8);
  EXPECT_EQ(t.rows[0].flops_attention, 4LL * 64 * 100 * 100 * 8);
  EXPECT_EQ(t.kv_token_gqa, t.kv_token_mqa);  // kv_heads = 1 is MQA
  EXPECT_EQ(t.kv_token_mqa, 2LL * 2 * 1 * 64 * 4);
  // GQA linear attention maps keys once per KV head.
  EXPECT_EQ(linear_attention_flops({.n_q = 10, .n_kv = 30, .features = 4, .head_dim = 2, .q_heads = 8, .kv_heads = 2}),
            (10LL * 8 + 30LL * 2) * (2 * 4 * 2 + 2 * 4 * 3));
}

TEST(CostModel, ErrorsNameTheValue) {
  CostConfig c;
  c.kv_heads = 5;  // does not divide 32
  try {
    attention_cost(c, {1024});
    ADD_FAILURE() << "kv_heads 5 with 32 heads must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5"), std::string::npos) << e.what();
  }
  c = CostConfig{};
  EXPECT_THROW(attention_cost(c, {0}), Error);
  EXPECT_THROW(attention_cost(c, {int64_t(4) << 32}), Error) << "N^2 * heads overflows int64";
  c.dtype = DType::i32;
  EXPECT_THROW(attention_cost(c, {16}), Error);
}

TEST(CostModel, JsonCarriesExactIntegers) {
  CostConfig c;
  const CostTable t = attention_cost(c, {32768});
  const auto j = nlohmann::json::parse(cost_table_json(t));
  EXPECT_EQ(j["rows"][0]["n"].get<int64_t>(), 32768);
  EXPECT_EQ(j["rows"][0]["score_entries"].get<int64_t>(), 32768LL * 32768 * 32);
  EXPECT_EQ(j["rows"][0]["standard_score_bytes"].get<int64_t>(), 32768LL * 32768 * 32 * 4);  // 128 GiB
  EXPECT_EQ(j["per_token"]["kv_bytes_gqa"].get<int64_t>(), 131072);
  EXPECT_EQ(j["config"]["dtype"].get<std::string>(), "f16");
  EXPECT_NE(cost_table_text(t).find("128 GiB"), std::string::npos) << cost_table_text(t);
}

TEST(CostModel, Formatting) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(int64_t(3) << 30), "3 GiB");
  EXPECT_EQ(format_si(8.6e9), "8.6 G");
  EXPECT_EQ(format_si(12), "12");
}

// `eft cost --json` end to end, through the built binary (ctest builds it with the tests).
TEST(CostCli, JsonMatchesTheModel) {
  const std::string exe = std::string(EFT_BINARY_DIR) + "/eft";
  if (!std::filesystem::exists(exe)) GTEST_SKIP() << exe << " not built";
  FILE* f = popen((exe + " cost --json --n 1024,4096 --heads 16 --kv-heads 4 --head-dim 64 --layers 2 --dtype bf16").c_str(),
                  "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  ASSERT_EQ(pclose(f), 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][1]["n"].get<int64_t>(), 4096);
  EXPECT_EQ(j["rows"][1]["flops_attention"].get<int64_t>(), 4LL * 64 * (4096LL * 4097 / 2) * 16);
  EXPECT_EQ(j["per_token"]["kv_bytes_gqa"].get<int64_t>(), 2LL * 2 * 4 * 64 * 2);
  // Bad input: a clear error, non-zero exit.
  FILE* g = popen((exe + " cost --mask window 2>&1").c_str(), "r");
  ASSERT_NE(g, nullptr);
  out.clear();
  while (size_t n = fread(buf, 1, sizeof buf, g)) out.append(buf, n);
  EXPECT_NE(pclose(g), 0);
  EXPECT_NE(out.find("--mask"), std::string::npos) << out;
}

}  // namespace
}  // namespace eft
