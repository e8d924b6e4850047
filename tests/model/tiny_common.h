#pragma once
// Shared helpers of the model tests: the tiny fixtures written by tools/make_tiny_models.py and
// their golden logits from HF transformers.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eft/kv_cache.h"
#include "eft/model.h"

namespace eft::test {

inline std::string tiny_dir(const std::string& name) { return std::string(EFT_FIXTURES_DIR) + "/tiny/" + name; }

struct Golden {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<float>> logits;  // [prompt][len * vocab]
  int32_t vocab = 0;
};

inline Golden load_golden(const std::string& name) {
  Golden g;
  std::ifstream jf(tiny_dir(name) + "/golden.json");
  EXPECT_TRUE(jf.good()) << "missing " << tiny_dir(name) << "/golden.json";
  nlohmann::json j = nlohmann::json::parse(jf);
  g.vocab = j["vocab"].get<int32_t>();
  g.prompts = j["prompts"].get<std::vector<std::vector<int32_t>>>();
  for (size_t i = 0; i < g.prompts.size(); ++i) {
    std::vector<float> l(g.prompts[i].size() * size_t(g.vocab));
    std::ifstream f(tiny_dir(name) + "/logits_" + std::to_string(i) + ".f32", std::ios::binary);
    f.read(reinterpret_cast<char*>(l.data()), std::streamsize(l.size() * 4));
    EXPECT_EQ(size_t(f.gcount()), l.size() * 4) << "short logits file for " << name << " prompt " << i;
    g.logits.push_back(std::move(l));
  }
  return g;
}

// Relative L2 error of one row of logits: ||a - b|| / ||b||.
inline double rel_err(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// A cache for one model big enough for `tokens` tokens over `seqs` sequences.
inline PagedKvCache make_cache(const Model& m, int32_t tokens, int32_t block_size, int32_t seqs = 1) {
  const int32_t per_seq = (tokens + block_size - 1) / block_size + 1;
  return PagedKvCache(m.kv_cache_config(per_seq * seqs + 2, block_size));
}

}  // namespace eft::test
