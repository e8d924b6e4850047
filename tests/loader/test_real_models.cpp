// The two real GGUF models (fetched by tools/fetch_models.sh into ~/.cache/eft): they open, every
// tensor has a supported type and a shape consistent with the metadata, and every tensor
// dequantizes to finite values. Skipped, with a message, where the files are absent.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "eft/error.h"
#include "eft/model_file.h"

using namespace eft;

namespace {
std::string cached(const char* name) {
  const char* c = std::getenv("EFT_CACHE");
  std::string dir = c ? c : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/eft";
  return dir + "/" + name;
}

bool sanitizer() { return std::getenv("EFT_TEST_SANITIZER") != nullptr; }

// Dequantizes every row (every 7th row under the sanitizers, which are ~20x slower) of every
// tensor; returns the number of non-finite values and fills per-type counts.
void check_all_finite(const ModelFile& f) {
  std::vector<float> row;
  for (const TensorInfo& t : f.tensors()) {
    ASSERT_TRUE(qtype_supported(uint32_t(t.type))) << t.name;
    const int64_t cols = t.cols(), rows = t.rows();
    ASSERT_EQ(t.nbytes, qtype_row_bytes(t.type, cols) * size_t(rows)) << t.name;
    row.resize(size_t(cols));
    const size_t rb = qtype_row_bytes(t.type, cols);
    const int64_t step = sanitizer() ? 7 : 1;
    int64_t bad = 0;
    double sumsq = 0;
    for (int64_t r = 0; r < rows; r += step) {
      dequantize_row(t.type, t.data + size_t(r) * rb, row.data(), cols);
      for (float v : row) {
        if (!std::isfinite(v)) ++bad;
        sumsq += double(v) * v;
      }
    }
    EXPECT_EQ(bad, 0) << t.name << " (" << qtype_name(t.type) << ") has non-finite values";
    EXPECT_GT(sumsq, 0.0) << t.name << " is all zeros";
  }
}
}  // namespace

TEST(RealModels, SmolLM2Q4_1) {
  std::string p = cached("SmolLM2-135M-Instruct.Q4_1.gguf");
  if (!std::filesystem::exists(p)) GTEST_SKIP() << p << " absent: run tools/fetch_models.sh smollm2";
  auto f = open_model_file(p);
  EXPECT_EQ(f->format(), "gguf");
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  const int64_t hidden = f->get_int("llama.embedding_length");
  EXPECT_EQ(hidden, 576);
  const auto& tokens = std::get<std::vector<std::string>>(f->get_array("tokenizer.ggml.tokens"));
  const TensorInfo& emb = f->get("token_embd.weight");
  ASSERT_EQ(emb.shape.size(), 2u);
  EXPECT_EQ(emb.shape[0], int64_t(tokens.size()));
  EXPECT_EQ(emb.shape[1], hidden);
  const int64_t layers = f->get_int("llama.block_count");
  EXPECT_NE(f->find(fmt::format("blk.{}.attn_q.weight", layers - 1)), nullptr);
  std::set<std::string> types;
  for (const TensorInfo& t : f->tensors()) types.insert(std::string(qtype_name(t.type)));
  EXPECT_TRUE(types.count("q4_1")) << "expected q4_1 tensors";
  EXPECT_GT(f->total_bytes(), 50u << 20);
  check_all_finite(*f);
}

TEST(RealModels, Gemma3Q4_K_M) {
  std::string p = cached("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(p)) GTEST_SKIP() << p << " absent: run tools/fetch_models.sh gemma3";
  auto f = open_model_file(p);
  EXPECT_EQ(f->get_string("general.architecture"), "gemma3");
  const int64_t hidden = f->get_int("gemma3.embedding_length");
  const TensorInfo& emb = f->get("token_embd.weight");
  ASSERT_EQ(emb.shape.size(), 2u);
  EXPECT_EQ(emb.shape[1], hidden);
  std::set<std::string> types;
  for (const TensorInfo& t : f->tensors()) types.insert(std::string(qtype_name(t.type)));
  std::string all;
  for (const auto& s : types) all += s + " ";
  std::cout << "gemma3 tensor types: " << all << "\n";
  check_all_finite(*f);
}

TEST(RealModels, MissingTensorNamesFileAndTensor) {
  std::string p = cached("SmolLM2-135M-Instruct.Q4_1.gguf");
  if (!std::filesystem::exists(p)) GTEST_SKIP() << p << " absent: run tools/fetch_models.sh smollm2";
  auto f = open_model_file(p);
  try {
    f->get("blk.999.attn_q.weight");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(p), std::string::npos) << m;
    EXPECT_NE(m.find("blk.999.attn_q.weight"), std::string::npos) << m;
  }
}

// Rows of both real models decoded by an independent implementation (the gguf package's numpy
// dequantizer; tools/gen_real_dequant_refs.py): our dequantize_row must give the same values.
// The decoders use the same f32 operation order, so sampled values must match exactly; row sums
// (float64 over the f32 values) may differ only by summation order.
TEST(RealModels, DequantizeMatchesIndependentDecoder) {
  std::ifstream in(std::string(EFT_FIXTURES_DIR) + "/loader/real_dequant_refs.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json refs = nlohmann::json::parse(in);
  std::map<std::string, std::unique_ptr<ModelFile>> files;
  int checked = 0, skipped = 0;
  std::vector<float> row;
  for (const auto& r : refs["rows"]) {
    const std::string file = r["file"];
    if (!files.count(file)) {
      std::string p = cached(file.c_str());
      files[file] = std::filesystem::exists(p) ? open_model_file(p) : nullptr;
    }
    if (!files[file]) {
      ++skipped;
      continue;
    }
    const TensorInfo& t = files[file]->get(r["tensor"]);
    SCOPED_TRACE(file + " " + t.name + " row " + std::to_string(int64_t(r["row"])));
    std::string tn(qtype_name(t.type));
    for (char& c : tn) c = char(std::tolower(c));  // the generator writes "q4_k" for ggml's "q4_K"
    EXPECT_EQ(tn, std::string(r["type"]));
    const int64_t cols = r["cols"];
    ASSERT_EQ(t.cols(), cols);
    row.assign(size_t(cols), NAN);
    dequantize_row(t.type, t.data + qtype_row_bytes(t.type, cols) * size_t(int64_t(r["row"])), row.data(), cols);
    double sum = 0, sumsq = 0, sumabs = 0;
    for (float v : row) {
      sum += v;
      sumsq += double(v) * v;
      sumabs += std::fabs(v);
    }
    EXPECT_NEAR(sum, double(r["sum"]), 1e-9 * sumabs + 1e-12);
    EXPECT_NEAR(sumsq, double(r["sumsq"]), 1e-9 * sumsq + 1e-12);
    for (const auto& at : r["at"]) EXPECT_EQ(double(row[size_t(int64_t(at[0]))]), double(at[1])) << "column " << at[0];
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no real model in the cache (" << skipped << " rows skipped): run tools/fetch_models.sh all";
  std::cout << "checked " << checked << " rows against the independent decoder (" << skipped << " skipped)\n";
}
