// tokenizer.json reading: accepted layouts and the errors for what eft does not implement.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eft/error.h"
#include "eft/tokenizer.h"

namespace eft {
namespace {

using nlohmann::json;

// A minimal byte-level tokenizer.json: a few letters, one merge, one special token, BOS template.
json tiny() {
  return json::parse(R"({
    "added_tokens": [{"id": 5, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": ["a b", ["Ġ", "ab"]]}
  })");
}

std::string write(const json& j, const std::string& name) {
  const auto dir = std::filesystem::path(EFT_BINARY_DIR) / "tokenizer_test_files";
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path) << j.dump();
  return path;
}

void expect_error(const json& j, const std::string& name, const std::string& needle) {
  const std::string path = write(j, name);
  try {
    tokenizer_from_hf_json(path);
    ADD_FAILURE() << name << ": expected an error mentioning " << needle;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "the error should name the file: " << msg;
  }
}

TEST(HfJson, TinyTokenizer) {
  auto t = tokenizer_from_hf_json(write(tiny(), "tiny.json"));
  EXPECT_EQ(t->vocab_size(), 6);
  EXPECT_EQ(t->encode("ab ab", false, true), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(t->encode("ab", true, true), (std::vector<int32_t>{5, 2}));
  EXPECT_EQ(t->encode("<s>ab", false, true), (std::vector<int32_t>{5, 2}));
  EXPECT_EQ(t->bos(), 5);
  EXPECT_EQ(t->decode({5, 2, 4}), "<s>ab ab");
  EXPECT_EQ(t->decode({5, 2, 4}, true), "ab ab");
}

TEST(HfJson, TokenizerConfigBesideTheFileNamesEosAndBos) {
  json j = tiny();
  j["post_processor"] = nullptr;  // no BOS template: tokenizer_config.json decides
  j["added_tokens"].push_back(json::parse(R"({"id": 6, "content": "</s>", "special": true})"));
  const auto dir = std::filesystem::path(EFT_BINARY_DIR) / "tokenizer_test_files" / "with_config";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}, "add_bos_token": true})";
  auto t = tokenizer_from_hf_json((dir / "tokenizer.json").string());
  EXPECT_EQ(t->bos(), 5);
  EXPECT_EQ(t->eos(), 6);
  EXPECT_EQ(t->encode("ab", true, true), (std::vector<int32_t>{5, 2}));
  const auto stops = t->stop_tokens();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 6), stops.end());
}

TEST(HfJson, RefusesWhatItDoesNotImplement) {
  EXPECT_THROW(tokenizer_from_hf_json("/nonexistent/tokenizer.json"), Error);
  {
    const std::string path = write(json(), "x.json");
    std::ofstream(path) << "{ not json";
    EXPECT_THROW(tokenizer_from_hf_json(path), Error);
  }
  json j = tiny();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j, "norm.json", "Lowercase");
  j = tiny();
  j["model"]["type"] = "WordPiece";
  expect_error(j, "wp.json", "WordPiece");
  j = tiny();
  j["model"]["merges"].push_back("x y");
  expect_error(j, "merge.json", "merge 2");
  j = tiny();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(j, "pre.json", "Whitespace");
  j = tiny();
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]})");
  expect_error(j, "regex.json", "regex");
  j = tiny();
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed"}, {"type": "ByteLevel", "use_regex": false}]})");
  expect_error(j, "behavior.json", "Removed");
  j = tiny();
  j["model"]["vocab"].erase("Ġab");
  j["model"]["merges"] = json::array({"a b"});
  expect_error(j, "gap.json", "up to 5");
  j = tiny();
  j["added_tokens"][0]["id"] = 2000000000;  // absurd: must be refused, not allocated
  expect_error(j, "huge.json", "2000000000");
  j = tiny();
  j["added_tokens"][0]["lstrip"] = true;
  expect_error(j, "lstrip.json", "lstrip");
}

}  // namespace
}  // namespace eft
