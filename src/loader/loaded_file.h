#pragma once
// The one concrete ModelFile: parsers fill it, and it owns the mappings its tensors point into.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "eft/model_file.h"
#include "loader/mapping.h"

namespace eft::loader {

class LoadedModelFile : public ModelFile {
 public:
  LoadedModelFile(std::string path, std::string format) : path_(std::move(path)), format_(std::move(format)) {}
  std::string path() const override { return path_; }
  std::string format() const override { return format_; }

  void keep(std::shared_ptr<Mapping> m) { mappings_.push_back(std::move(m)); }
  // Shares another file's mappings (an index keeps its shards' mappings alive this way).
  void adopt_mappings(const LoadedModelFile& o) {
    mappings_.insert(mappings_.end(), o.mappings_.begin(), o.mappings_.end());
  }
  // Adds a metadata entry; throws naming `where` (the file) when the key is already present.
  void add_meta(const std::string& where, std::string key, MetaValue v);
  // Adds a tensor; throws naming `where` when a tensor of the same name exists.
  void add_tensor(const std::string& where, TensorInfo t);
  std::map<std::string, MetaValue>& meta() { return meta_; }

 private:
  std::string path_, format_;
  std::vector<std::shared_ptr<Mapping>> mappings_;
};

// Each parser reads one file already mapped; `name` is the path (or stand-in) used in errors.
std::unique_ptr<LoadedModelFile> parse_gguf(const std::string& name, std::shared_ptr<Mapping> m);
std::unique_ptr<LoadedModelFile> parse_safetensors(const std::string& name, std::shared_ptr<Mapping> m);
// Safetensors from a directory, a *.index.json or a single *.safetensors path, with the
// config.json beside it (when present) added as "hf.*" metadata.
std::unique_ptr<LoadedModelFile> open_safetensors_dir_or_index(const std::string& path);
// Adds config.json's fields as "hf.<key>" and its raw text as "hf.config_json".
void add_hf_config(LoadedModelFile& f, const std::string& config_path);

// Alignment the kernels need for a tensor of type t (4 for f32, 2 for f16/bf16 and the quantized
// blocks, whose fields are 16-bit).
inline size_t required_alignment(QType t) { return t == QType::F32 ? 4 : 2; }

// Tensors whose data sits at an address their type cannot be read from in place (general.alignment
// of 1, an unpadded safetensors header) are copied into an aligned heap mapping, which is returned
// for the file to keep (null when every tensor was aligned).
template <class Tensors, class Info>
std::shared_ptr<Mapping> realign_if_needed(Tensors& ts, Info info) {
  auto misaligned = [](const TensorInfo& ti) {
    return reinterpret_cast<uintptr_t>(ti.data) % required_alignment(ti.type) != 0;
  };
  size_t total = 0;
  for (auto& t : ts)
    if (misaligned(info(t))) total += (info(t).nbytes + 15) / 16 * 16;  // bounded by the file size
  if (total == 0) return nullptr;
  auto c = Mapping::heap(total);
  size_t off = 0;
  for (auto& t : ts) {
    TensorInfo& ti = info(t);
    if (!misaligned(ti)) continue;
    std::copy(ti.data, ti.data + ti.nbytes, c->heap_data() + off);
    ti.data = c->heap_data() + off;
    off += (ti.nbytes + 15) / 16 * 16;
  }
  return c;
}

bool looks_like_gguf(const uint8_t* p, size_t n);
bool looks_like_safetensors(const uint8_t* p, size_t n);

}  // namespace eft::loader
