// The two real GGUF models (fetched by tools/fetch_models.sh into ~/.cache/eft): they open, every
// tensor has a supported type and a shape consistent with the metadata, and every tensor
// dequantizes to finite values. Skipped, with a message, where the files are absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
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
