// Which tokenizer goes with a model file: GGUF carries its own in metadata; safetensors
// checkpoints keep tokenizer.json in the same directory.
#include <filesystem>

#include "eft/engine.h"
#include "eft/error.h"
#include "eft/model_file.h"

namespace eft {

std::unique_ptr<Tokenizer> load_tokenizer(const ModelFile& f) {
  if (f.format() == "gguf") return tokenizer_from_model_file(f);
  namespace fs = std::filesystem;
  const fs::path p = f.path();
  const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  const fs::path json = dir / "tokenizer.json";
  check(fs::exists(json), "{}: no tokenizer.json beside the safetensors weights (looked for {})", f.path(),
        json.string());
  return tokenizer_from_hf_json(json.string());
}

}  // namespace eft
