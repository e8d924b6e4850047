#pragma once
// A ModelFile whose metadata a test writes directly: tiny vocabularies without a GGUF on disk.
#include <string>
#include <utility>
#include <vector>

#include "eft/model_file.h"

namespace eft::test {

class MemModelFile : public ModelFile {
 public:
  std::string path() const override { return "<memory>"; }
  std::string format() const override { return "gguf"; }
  void set(const std::string& key, MetaValue v) { meta_[key] = std::move(v); }
  void set_string(const std::string& key, std::string s) { meta_[key] = MetaValue{std::move(s)}; }
  void set_int(const std::string& key, int64_t x) { meta_[key] = MetaValue{x}; }
  void set_bool(const std::string& key, bool b) { meta_[key] = MetaValue{b}; }
  void set_strings(const std::string& key, std::vector<std::string> v) {
    meta_[key] = MetaValue{MetaValue::Array{std::move(v)}};
  }
  void set_ints(const std::string& key, std::vector<int64_t> v) { meta_[key] = MetaValue{MetaValue::Array{std::move(v)}}; }
  void set_floats(const std::string& key, std::vector<double> v) { meta_[key] = MetaValue{MetaValue::Array{std::move(v)}}; }
};

}  // namespace eft::test
