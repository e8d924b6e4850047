#pragma once
// Text generation over one Model: prompt → tokens (tokenizer + BOS rules), prefill, a decode loop
// with the Sampler, stop tokens / stop strings / max tokens, streamed text through StreamDecoder,
// and the numbers a user wants afterwards (tok/s, time to first token, memory by kind).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eft/model.h"
#include "eft/sampler.h"
#include "eft/tokenizer.h"

namespace eft {

struct GenerateOptions {
  int32_t max_tokens = 128;
  SamplerParams sampling;                 // temperature 0 = greedy
  std::vector<std::string> stop_strings;  // generation ends before any of these is shown
  bool stop_at_eos = true;                // the tokenizer's stop tokens end generation
  std::vector<int32_t> extra_stop_tokens;
  // false: every step recomputes the whole prefix (the "without KV cache" baseline).
  bool use_kv_cache = true;
  ForwardOptions forward;                 // attention method
  int32_t block_size = 16;                // KV cache block size in tokens
  DType kv_dtype = DType::f32;
  bool add_special = true;                // BOS etc. as the model's tokenizer rules say
  bool parse_special = true;              // "<|im_start|>" in the prompt is one token
  // Keep the KV cache between calls of one Generator and prefill only what differs from the
  // tokens already in it (a chat turn re-sends the whole conversation: only the new turn is new).
  bool reuse_prefix = false;
};

struct GenerateStats {
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  int32_t reused_tokens = 0;      // prompt tokens whose K/V came from the previous call (reuse_prefix)
  double prompt_seconds = 0;      // the prefill forward call
  double generate_seconds = 0;    // every decode step after the first token
  double ttft_seconds = 0;        // from the start of generate to the first sampled token
  // CPU time of the process (all threads) in the same two phases: on a shared machine, tokens per
  // CPU-second is the figure that other processes disturb least.
  double prompt_cpu_seconds = 0;
  double generate_cpu_seconds = 0;
  std::string stop_reason;        // "stop token", "stop string", "max tokens"
  int64_t weights_bytes = 0;      // mapped matrices + f32 norms/biases
  int64_t kv_cache_bytes = 0;     // the pool allocated for this request
  int64_t kv_used_bytes = 0;      // pages in use at the end (sliding-window layers release theirs)
  int64_t kv_bytes_per_token = 0;
  int64_t workspace_bytes = 0;    // activation buffers
  double prompt_tok_per_s() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  // Tokens after the first (the first comes out of the prefill).
  double gen_tok_per_s() const {
    return generate_seconds > 0 && generated_tokens > 1 ? (generated_tokens - 1) / generate_seconds : 0;
  }
};

class Generator {
 public:
  // `tok` may be null for token-level use (generate_tokens); both must outlive the generator.
  Generator(Model& model, const Tokenizer* tok) : model_(model), tok_(tok) {}

  // Streams text pieces to on_text as they become complete UTF-8 (and clear of stop strings).
  GenerateStats generate(const std::string& prompt, const GenerateOptions& opt,
                         const std::function<void(const std::string&)>& on_text);

  // Token level: continues `prompt` and returns the new tokens (stop token included, if hit).
  // on_token (optional) sees each token and the logits [vocab] it was sampled from (before the
  // sampler's penalties); returning false ends generation after that token.
  using TokenCallback = std::function<bool(int32_t token, const std::vector<float>& logits)>;
  std::vector<int32_t> generate_tokens(const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                                       GenerateStats* stats = nullptr, const TokenCallback& on_token = nullptr);

 private:
  Model& model_;
  const Tokenizer* tok_;
  // reuse_prefix: the cache kept from the previous call, its sequence and the tokens in it.
  std::unique_ptr<PagedKvCache> kept_;
  SeqId kept_seq_ = -1;
  std::vector<int32_t> kept_tokens_;
};

// Streams text while holding back any tail that could still become one of the stop strings.
class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what is safe to show. Sets stopped() once a stop string appeared (the
  // text from the stop string on is never returned).
  std::string push(const std::string& text);
  std::string flush();  // the held-back tail, at the end of generation (when not stopped)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// The model's tokenizer: from GGUF metadata, or the tokenizer.json beside safetensors weights.
std::unique_ptr<Tokenizer> load_tokenizer(const ModelFile& f);

// The default model (SmolLM2-135M-Instruct Q4_1): the cached file under $EFT_CACHE or
// ~/.cache/eft, else fetched by tools/fetch_models.sh (found through $EFT_ROOT, beside the
// executable, or in the source tree this was built from). Throws naming what it tried.
std::string default_model_path();

}  // namespace eft
