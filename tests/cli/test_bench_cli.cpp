// `eft bench attention` end to end on tiny sizes: every method reports, the measured memory
// behaves as each method's design says (standard's grows as N^2, flash's and linear's do not), the
// exact methods agree with flash, bad options fail with a message naming the option. No timings
// are checked.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <utility>

namespace {

struct EftRun {
  int status;
  std::string out;
};

EftRun run_eft(const std::string& args) {
  const std::string exe = std::string(EFT_BINARY_DIR) + "/eft";
  FILE* f = popen((exe + " " + args).c_str(), "r");
  if (!f) return {-1, ""};
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return {pclose(f), out};
}

bool have_eft() { return std::filesystem::exists(std::string(EFT_BINARY_DIR) + "/eft"); }

TEST(BenchCli, JsonReportsEveryMethodWithMeasuredMemory) {
  if (!have_eft()) GTEST_SKIP() << "eft not built";
  const EftRun r = run_eft("--threads 2 bench attention --json --n 128,512 --reps 1 --heads 2 --head-dim 32 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["threads"].get<int>(), 2);
  EXPECT_EQ(j["config"]["mask"].get<std::string>(), "causal");
  std::map<std::pair<int64_t, std::string>, nlohmann::json> by;
  for (const auto& e : j["results"]) by[std::make_pair(e["n"].get<int64_t>(), e["method"].get<std::string>())] = e;
  auto at = [&](int64_t n, const char* m) -> const nlohmann::json& { return by[std::make_pair(n, std::string(m))]; };
  ASSERT_EQ(by.size(), 8u);
  for (const auto& [key, e] : by) {
    SCOPED_TRACE(key.second + " N=" + std::to_string(key.first));
    ASSERT_FALSE(e["skipped"].get<bool>());
    EXPECT_GT(e["median_ms"].get<double>(), 0.0);
    EXPECT_GT(e["flops"].get<int64_t>(), 0);
    EXPECT_GT(e["peak_extra_bytes"].get<int64_t>(), 0) << "every method allocates scratch through Tensor";
    EXPECT_GT(e["cpu_busy"].get<double>(), 0.0);  // CPU time / (wall * threads): a share of the machine
    EXPECT_LT(e["cpu_busy"].get<double>(), 1.5);
    if (key.second == "standard" || key.second == "sparse") {
      EXPECT_LT(e["rel_l2_vs_flash"].get<double>(), 1e-5);
    }
    if (key.second == "linear") {
      EXPECT_GT(e["rel_l2_vs_flash"].get<double>(), 1e-3) << "an approximation";
    }
  }
  // Standard's [N, N] scores: 16x the entries at 4x the length (at least 8x the memory, measured).
  const int64_t s128 = at(128, "standard")["peak_extra_bytes"].get<int64_t>();
  const int64_t s512 = at(512, "standard")["peak_extra_bytes"].get<int64_t>();
  EXPECT_GT(s512, 8 * s128);
  // Linear's state and flash's tiles do not depend on N (flash may size its scratch by the number
  // of workers that have work, so allow a small factor; N^2 growth would be 16x).
  EXPECT_EQ(at(128, "linear")["peak_extra_bytes"], at(512, "linear")["peak_extra_bytes"]);
  EXPECT_LE(at(512, "flash")["peak_extra_bytes"].get<int64_t>(),
            4 * at(128, "flash")["peak_extra_bytes"].get<int64_t>());
  // FLOPs as documented: standard counts N^2, sparse the causal triangle, flash at least that.
  EXPECT_EQ(at(512, "standard")["flops"].get<int64_t>(), 4LL * 32 * 512 * 512 * 2);
  EXPECT_EQ(at(512, "sparse")["flops"].get<int64_t>(), 4LL * 32 * (512LL * 513 / 2) * 2);
}

// --decode: one query over N keys; linear steps its constant-size state (allocated before the
// timed calls, so a step allocates nothing).
TEST(BenchCli, DecodeTimesOneStep) {
  if (!have_eft()) GTEST_SKIP() << "eft not built";
  const EftRun r = run_eft(
      "--threads 1 bench attention --decode --json --n 64,256 --reps 1 --heads 2 --head-dim 16 --features 32 "
      "--methods flash,linear 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& e : j["results"]) {
    const int64_t n = e["n"].get<int64_t>();
    if (e["method"] == "flash") {
      EXPECT_EQ(e["flops"].get<int64_t>(), 4LL * 16 * n * 2);  // the last query sees all n keys
    } else {
      // One key row and one query row per head: 2 * (2*32*16 + 2*32*17) each.
      EXPECT_EQ(e["flops"].get<int64_t>(), 4LL * (2 * 32 * 16 + 2 * 32 * 17));
      EXPECT_EQ(e["peak_extra_bytes"].get<int64_t>(), 0);
      EXPECT_NE(e["note"].get<std::string>().find("state"), std::string::npos);
    }
  }
}

TEST(BenchCli, MaxMemSkipsStandardAndSaysSo) {
  if (!have_eft()) GTEST_SKIP() << "eft not built";
  const EftRun r = run_eft(
      "--threads 1 bench attention --n 64,1024 --reps 1 --heads 1 --head-dim 16 --methods standard,flash "
      "--max-mem 100K 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("skipped: would need"), std::string::npos) << r.out;
  const EftRun c = run_eft("--threads 1 bench attention --csv --n 64 --reps 1 --heads 1 --head-dim 16 --mask window:8 2>/dev/null");
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out.rfind("n,method,", 0), 0u) << c.out;
  EXPECT_NE(c.out.find("linear supports masks none/causal only"), std::string::npos) << c.out;
}

TEST(BenchCli, BadOptionsNameTheOption) {
  if (!have_eft()) GTEST_SKIP() << "eft not built";
  EftRun r = run_eft("bench attention --mask diagonal 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--mask"), std::string::npos) << r.out;
  r = run_eft("bench attention --max-mem 3X 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--max-mem"), std::string::npos) << r.out;
  r = run_eft("bench attention --methods flash,quantum 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("quantum"), std::string::npos) << r.out;
}

}  // namespace
