#pragma once
// A model file opened read-only through mmap: GGUF (one file) or safetensors (one file or a
// sharded index). Both give the same view: metadata key/values and tensor descriptors pointing
// into the mapping. Every malformed input raises eft::Error naming the file and the field.
// Pages are read lazily by the OS when tensors are touched, so opening is cheap; total_bytes()
// tells a caller how much weight data a full load will touch (for a progress bar or a budget).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "eft/quant.h"

namespace eft {

// GGUF metadata value. Arrays of strings (vocab, merges) and of numbers (scores, token types)
// are kept typed so the tokenizer can read them without copies of copies.
// GGUF integer scalars of up to 64 signed / 32 unsigned bits are int64_t; uint64 is uint64_t;
// f32/f64 are double. Integer arrays of any width are vector<int64_t> (a uint64 element above
// INT64_MAX is refused); float arrays are vector<double>. Arrays of arrays cannot be held and are
// refused with an error naming the key.
struct MetaValue {
  using Array = std::variant<std::vector<int64_t>, std::vector<double>, std::vector<std::string>, std::vector<bool>>;
  std::variant<int64_t, uint64_t, double, bool, std::string, Array> v;
};

// "int", "uint", "float", "bool", "string", "int array", "float array", "string array", "bool array".
std::string meta_type_name(const MetaValue& m);

struct TensorInfo {
  std::string name;
  QType type = QType::F32;
  // Row-major shape, outermost first: a GGUF tensor with ne = {cols, rows} has shape {rows, cols};
  // a safetensors [out, in] weight has shape {out, in}.
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }  // innermost (row length)
  int64_t rows() const;                                              // numel / cols
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
  // get_int accepts any integer value that fits int64 (and a float with an integral value, as
  // JSON configs write "10000.0"); get_float accepts floats and integers.
  bool has(const std::string& key) const { return meta_.count(key) != 0; }
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  const MetaValue::Array& get_array(const std::string& key) const;
  // The same with a fallback when the key is absent (a present key of the wrong type still throws).
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;
  std::string get_string_or(const std::string& key, const std::string& fallback) const;
  // Sum of all tensors' nbytes: what a full load touches.
  uint64_t total_bytes() const;

 protected:
  std::map<std::string, MetaValue> meta_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
};

// Opens by content: GGUF magic, a safetensors header, or a directory / *.index.json holding
// safetensors shards with a config.json beside them (whose fields land in metadata as
// "hf.<key>", with the raw JSON text under "hf.config_json"; nested objects are flattened as
// "hf.<key>.<subkey>", arrays of numbers/strings/bools become arrays). A single safetensors
// file's "__metadata__" strings land as "safetensors.<key>".
std::unique_ptr<ModelFile> open_model_file(const std::string& path);

// Parses a GGUF or single safetensors file held in memory (detected by content), without
// copying: the buffer must outlive the returned object. `name` stands for the path in errors.
// Used by the fuzz targets and by tests that build files in memory.
std::unique_ptr<ModelFile> open_model_file_from_memory(const void* data, size_t size,
                                                       const std::string& name = "<memory>");

}  // namespace eft
