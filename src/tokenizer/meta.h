#pragma once
// Typed reads of a ModelFile's metadata for the tokenizer, with errors naming the file and key.
// Reads metadata() directly so the tokenizer depends only on the ModelFile data model.
#include <string>
#include <vector>

#include "eft/model_file.h"

namespace eft::tok {

struct Meta {
  explicit Meta(const ModelFile& f);
  const ModelFile& f;
  std::string file;
  bool has(const std::string& key) const { return f.metadata().count(key) != 0; }
  const MetaValue& get(const std::string& key) const;
  std::string string(const std::string& key) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  int64_t integer(const std::string& key) const;
  bool boolean_or(const std::string& key, bool fallback) const;
  const std::vector<std::string>& strings(const std::string& key) const;
  std::vector<int64_t> ints(const std::string& key) const;
  std::vector<double> floats(const std::string& key) const;
};

}  // namespace eft::tok
