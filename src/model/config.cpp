// Hyperparameters from GGUF metadata ("<arch>.*" keys) or HF config.json ("hf.config_json"),
// common fields here, architecture-specific ones in arch/<name>.cpp.
#include <fmt/ranges.h>

#include <cmath>

#include "eft/error.h"
#include "model/arch.h"

namespace eft {

const std::vector<const ArchSpec*>& all_archs() {
  static const std::vector<const ArchSpec*> a = {&llama_arch(), &qwen2_arch(), &gemma3_arch()};
  return a;
}

const ArchSpec& arch_by_name(const std::string& name) {
  for (const ArchSpec* a : all_archs())
    if (a->name == name) return *a;
  fail("unknown architecture '{}' (supported: llama, qwen2, gemma3)", name);
}

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

int32_t positive_int(const std::string& file, const std::string& key, int64_t v, int64_t max) {
  check(v > 0 && v <= max, "{}: {} = {} is out of range (1 .. {})", file, key, v, max);
  return int32_t(v);
}

void finish_and_check(const std::string& file, ModelConfig& c) {
  check(c.n_kv_heads > 0 && c.n_heads % c.n_kv_heads == 0,
        "{}: head_count ({}) must be a positive multiple of head_count_kv ({})", file, c.n_heads, c.n_kv_heads);
  if (c.head_dim == 0) {
    check(c.hidden % c.n_heads == 0, "{}: hidden size {} is not divisible by head count {}", file, c.hidden,
          c.n_heads);
    c.head_dim = c.hidden / c.n_heads;
  }
  if (c.rope_dim == 0) c.rope_dim = c.head_dim;
  check(c.rope_dim > 0 && c.rope_dim <= c.head_dim && c.rope_dim % 2 == 0,
        "{}: rope dimension {} must be even and at most head_dim {}", file, c.rope_dim, c.head_dim);
  check(std::isfinite(c.norm_eps) && c.norm_eps > 0.f && c.norm_eps < 1.f, "{}: rms_norm_eps = {} is out of range",
        file, c.norm_eps);
  check(std::isfinite(c.rope_base) && c.rope_base > 1.f, "{}: rope base = {} is out of range", file, c.rope_base);
  check(std::isfinite(c.rope_scale) && c.rope_scale > 0.f, "{}: rope scaling factor = {} is out of range", file,
        c.rope_scale);
  if (c.layer_window.empty()) c.layer_window.assign(size_t(c.n_layers), 0);
  check(int32_t(c.layer_window.size()) == c.n_layers, "{}: {} layer types given for {} layers", file,
        c.layer_window.size(), c.n_layers);
  for (int32_t w : c.layer_window) check(w >= 0, "{}: sliding window {} is negative", file, w);
}

// ---- GGUF ----
ModelConfig from_gguf(const ModelFile& f) {
  const std::string file = f.path();
  const std::string gname = f.get_string("general.architecture");
  const ArchSpec* spec = nullptr;
  for (const ArchSpec* a : all_archs())
    if (contains(a->gguf_names, gname)) spec = a;
  check(spec != nullptr, "{}: general.architecture = '{}' is not supported (llama, qwen2, gemma3)", file, gname);
  ModelConfig c;
  c.arch = spec->name;
  c.source = "gguf";
  const std::string p = gname + ".";
  auto geti = [&](const std::string& k, int64_t max) { return positive_int(file, p + k, f.get_int(p + k), max); };
  c.hidden = geti("embedding_length", 1 << 20);
  c.n_layers = geti("block_count", 4096);
  c.n_heads = geti("attention.head_count", 4096);
  c.n_kv_heads = f.has(p + "attention.head_count_kv") ? geti("attention.head_count_kv", 4096) : c.n_heads;
  c.ffn = geti("feed_forward_length", 1 << 22);
  if (f.has(p + "context_length")) c.max_context = geti("context_length", 1 << 30);
  if (f.has(p + "attention.key_length")) c.head_dim = geti("attention.key_length", 1 << 14);
  if (f.has(p + "attention.value_length"))
    check(f.get_int(p + "attention.value_length") == (c.head_dim ? c.head_dim : c.hidden / c.n_heads),
          "{}: {}attention.value_length = {} differs from key_length (unsupported)", file, p,
          f.get_int(p + "attention.value_length"));
  if (f.has(p + "rope.dimension_count")) c.rope_dim = geti("rope.dimension_count", 1 << 14);
  c.norm_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon"));
  if (f.has(p + "rope.freq_base")) c.rope_base = float(f.get_float(p + "rope.freq_base"));
  if (f.has(p + "rope.scaling.type") && f.get_string(p + "rope.scaling.type") == "linear" &&
      f.has(p + "rope.scaling.factor"))
    c.rope_scale = float(f.get_float(p + "rope.scaling.factor"));
  if (f.has(p + "attn_logit_softcapping")) c.attn_softcap = float(f.get_float(p + "attn_logit_softcapping"));
  if (f.has(p + "final_logit_softcapping")) c.final_softcap = float(f.get_float(p + "final_logit_softcapping"));
  const TensorInfo& emb = f.get("token_embd.weight");
  check(emb.shape.size() == 2 && emb.shape[1] == c.hidden, "{}: token_embd.weight has shape [{}], expected [vocab, {}]",
        file, fmt::join(emb.shape, ", "), c.hidden);
  c.vocab = positive_int(file, "token_embd.weight rows", emb.shape[0], 1 << 24);
  c.tied_embeddings = f.find("output.weight") == nullptr;
  spec->from_gguf(f, p, c);
  finish_and_check(file, c);
  return c;
}

// ---- HF config.json ----
template <typename T>
T json_get(const nlohmann::json& j, const std::string& file, const char* key) {
  check(j.contains(key) && !j[key].is_null(), "{}: config.json has no field '{}'", file, key);
  try {
    return j[key].get<T>();
  } catch (const std::exception& e) {
    fail("{}: config.json field '{}' has the wrong type ({})", file, key, e.what());
  }
}

ModelConfig from_hf(const ModelFile& f) {
  const std::string file = f.path();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f.get_string("hf.config_json"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: config.json is not valid JSON ({})", file, e.what());
  }
  const std::string type = json_get<std::string>(j, file, "model_type");
  const ArchSpec* spec = nullptr;
  for (const ArchSpec* a : all_archs())
    if (contains(a->hf_types, type)) spec = a;
  check(spec != nullptr, "{}: config.json model_type = '{}' is not supported (llama, mistral, qwen2, gemma3_text)",
        file, type);
  ModelConfig c;
  c.arch = spec->name;
  c.source = "safetensors";
  c.rope_style = RopeStyle::neox;  // HF checkpoints keep Q/K unpermuted: rotate_half pairing
  auto geti = [&](const char* k, int64_t max) { return positive_int(file, k, json_get<int64_t>(j, file, k), max); };
  c.vocab = geti("vocab_size", 1 << 24);
  c.hidden = geti("hidden_size", 1 << 20);
  c.n_layers = geti("num_hidden_layers", 4096);
  c.n_heads = geti("num_attention_heads", 4096);
  c.n_kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                     ? geti("num_key_value_heads", 4096)
                     : c.n_heads;
  c.ffn = geti("intermediate_size", 1 << 22);
  if (j.contains("head_dim") && !j["head_dim"].is_null()) c.head_dim = geti("head_dim", 1 << 14);
  if (j.contains("max_position_embeddings")) c.max_context = geti("max_position_embeddings", 1 << 30);
  c.norm_eps = float(json_get<double>(j, file, "rms_norm_eps"));
  // transformers 4.x: rope_theta at the top; 5.x: rope_parameters {rope_theta, rope_type, factor}
  // (for Gemma 3 one entry per layer type, read in arch/gemma3.cpp).
  if (j.contains("rope_theta")) c.rope_base = float(json_get<double>(j, file, "rope_theta"));
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object() &&
      j["rope_parameters"].contains("rope_theta"))
    c.rope_base = float(j["rope_parameters"]["rope_theta"].get<double>());
  for (const char* k : {"rope_scaling", "rope_parameters"})
    if (j.contains(k) && j[k].is_object() && j[k].value("rope_type", j[k].value("type", "default")) == "linear")
      c.rope_scale = float(j[k].value("factor", 1.0));
  c.tied_embeddings = j.value("tie_word_embeddings", false);
  // Per-layer attention type: "layer_types" when given (newer transformers), else the arch decides.
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    const auto& lt = j["layer_types"];
    check(int64_t(lt.size()) == c.n_layers, "{}: config.json layer_types has {} entries for {} layers", file,
          lt.size(), c.n_layers);
    const bool has_w = j.contains("sliding_window") && j["sliding_window"].is_number_integer();
    for (const auto& t : lt) {
      const std::string s = t.get<std::string>();
      check(s == "full_attention" || s == "sliding_attention", "{}: config.json layer_types entry '{}' is unknown",
            file, s);
      check(s == "full_attention" || has_w, "{}: layer_types has sliding_attention but sliding_window is unset",
            file);
      c.layer_window.push_back(s == "sliding_attention" ? j["sliding_window"].get<int32_t>() : 0);
    }
  }
  if (j.contains("attn_logit_softcapping") && j["attn_logit_softcapping"].is_number())
    c.attn_softcap = float(j["attn_logit_softcapping"].get<double>());
  if (j.contains("final_logit_softcapping") && j["final_logit_softcapping"].is_number())
    c.final_softcap = float(j["final_logit_softcapping"].get<double>());
  spec->from_hf(j, c);
  if (c.tied_embeddings == false && f.find("lm_head.weight") == nullptr) c.tied_embeddings = true;
  finish_and_check(file, c);
  return c;
}

}  // namespace

ModelConfig read_model_config(const ModelFile& f) {
  if (f.format() == "gguf") return from_gguf(f);
  check(f.has("hf.config_json"), "{}: safetensors model without a config.json beside it", f.path());
  return from_hf(f);
}

}  // namespace eft
