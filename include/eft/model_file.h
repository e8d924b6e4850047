#pragma once
// A model file opened read-only through mmap: GGUF (one file) or safetensors (one file or a
// sharded index). Both give the same view: metadata key/values and tensor descriptors pointing
// into the mapping. Every malformed input raises eft::Error naming the file and the field.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "eft/quant.h"

namespace eft {

// GGUF metadata value. Arrays of strings (vocab, merges) and of numbers (scores, token types)
// are kept typed so the tokenizer can read them without copies of copies.
struct MetaValue {
  using Array = std::variant<std::vector<int64_t>, std::vector<double>, std::vector<std::string>, std::vector<bool>>;
  std::variant<int64_t, uint64_t, double, bool, std::string, Array> v;
};

struct TensorInfo {
  std::string name;
  QType type = QType::F32;
  // Row-major shape, outermost first: a GGUF tensor with ne = {cols, rows} has shape {rows, cols};
  // a safetensors [out, in] weight has shape {out, in}.
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
};

class ModelFile {
 public:
  virtual ~ModelFile() = default;
  virtual std::string path() const = 0;
  virtual std::string format() const = 0;  // "gguf" or "safetensors"
  const std::map<std::string, MetaValue>& metadata() const { return meta_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  const TensorInfo& get(const std::string& name) const;   // throws naming the file and tensor
  // Typed metadata access; throws naming the file and key when missing or of another type.
  bool has(const std::string& key) const { return meta_.count(key) != 0; }
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  const MetaValue::Array& get_array(const std::string& key) const;

 protected:
  std::map<std::string, MetaValue> meta_;
  std::vector<TensorInfo> tensors_;
};

// Opens by content: GGUF magic, a safetensors header, or a directory / *.index.json holding
// safetensors shards with a config.json beside them (whose fields land in metadata as
// "hf.<key>", with the raw JSON text under "hf.config_json").
std::unique_ptr<ModelFile> open_model_file(const std::string& path);

}  // namespace eft
