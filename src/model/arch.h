#pragma once
// One architecture = how its hyperparameters are read (GGUF metadata keys / HF config.json fields)
// and how one layer runs, built from the shared blocks. Each lives in src/model/arch/<name>.cpp.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eft/error.h"
#include "eft/model.h"
#include "eft/model_file.h"
#include "model/blocks.h"

namespace eft {

struct ArchSpec {
  std::string name;                     // internal name ("llama", "qwen2", "gemma3")
  std::vector<std::string> gguf_names;  // general.architecture values it accepts
  std::vector<std::string> hf_types;    // config.json model_type values it accepts
  // Architecture-specific settings, applied after the common keys were read.
  void (*from_gguf)(const ModelFile& f, const std::string& prefix, ModelConfig& c) = nullptr;
  void (*from_hf)(const nlohmann::json& j, ModelConfig& c) = nullptr;
  void (*layer)(LayerCtx& ctx) = nullptr;  // one transformer layer, in place on ctx.ws.x
};

const ArchSpec& llama_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& gemma3_arch();
const std::vector<const ArchSpec*>& all_archs();
const ArchSpec& arch_by_name(const std::string& name);  // internal name; throws when unknown

}  // namespace eft
