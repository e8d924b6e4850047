// Generation loop: prefill, then one token per step with the paged KV cache (or, without it, the
// whole prefix recomputed each step), sampling, stop conditions, streaming and statistics.
#include <algorithm>
#include <chrono>
#include <set>

#include "eft/engine.h"
#include "eft/error.h"
#include "eft/tensor.h"

namespace eft {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
}  // namespace

std::string StopStringFilter::push(const std::string& text) {
  if (stopped_) return {};
  pending_ += text;
  size_t first = std::string::npos;
  for (const auto& s : stops_) {
    if (s.empty()) continue;
    first = std::min(first, pending_.find(s));
  }
  if (first != std::string::npos) {
    std::string out = pending_.substr(0, first);
    pending_.clear();
    stopped_ = true;
    return out;
  }
  // Hold back the longest tail that is the beginning of some stop string: it may still complete.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopStringFilter::flush() {
  std::string out = stopped_ ? std::string() : pending_;
  pending_.clear();
  return out;
}

std::vector<int32_t> Generator::generate_tokens(const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                                                GenerateStats* stats, const TokenCallback& on_token) {
  const ModelConfig& c = model_.config();
  check(!prompt.empty(), "generate: the prompt has no tokens");
  check(opt.max_tokens >= 0, "generate: max_tokens = {} is negative", opt.max_tokens);
  check(opt.block_size > 0, "generate: block_size = {} must be positive", opt.block_size);
  const auto t0 = Clock::now();
  // Scratch that attention methods allocate per call goes through Tensor: the peak above what
  // existed before (minus the KV pool, counted on its own) is workspace too.
  const int64_t mem_before = memory_stats(Device::cpu).current;
  reset_peak_memory(Device::cpu);

  // The pool holds exactly one sequence of prompt + max_tokens (and a spare block for the
  // partially filled last one); a longer request fails up front instead of mid-way.
  const int64_t total = int64_t(prompt.size()) + opt.max_tokens;
  const int64_t n_blocks = (total + opt.block_size - 1) / opt.block_size + 1;
  check(n_blocks < (1ll << 31), "generate: {} tokens need too many KV blocks", total);
  PagedKvCache cache(model_.kv_cache_config(int32_t(n_blocks), opt.block_size, opt.kv_dtype));

  std::set<int32_t> stop_ids(opt.extra_stop_tokens.begin(), opt.extra_stop_tokens.end());
  if (opt.stop_at_eos && tok_ != nullptr)
    for (int32_t t : tok_->stop_tokens()) stop_ids.insert(t);

  Sampler sampler(opt.sampling);
  std::vector<int32_t> history = prompt;  // prompt + generated, for penalties and --no-kv-cache
  std::vector<int32_t> out;
  std::vector<float> logits;  // [vocab] of the last position
  std::vector<float> seen;    // copy handed to on_token

  SeqId seq = cache.create();
  ForwardBatch b;
  b.tokens = prompt;
  b.seqs = {seq};
  b.n_new = {int32_t(prompt.size())};
  model_.forward(b, cache, opt.forward, logits);
  GenerateStats st;
  st.prompt_tokens = int32_t(prompt.size());
  st.prompt_seconds = seconds_since(t0);
  st.stop_reason = "max tokens";
  Clock::time_point t_first{};

  for (int32_t i = 0; i < opt.max_tokens; ++i) {
    if (on_token) seen = logits;
    const int32_t tok = sampler.sample(logits.data(), c.vocab, history);
    if (i == 0) {
      t_first = Clock::now();
      st.ttft_seconds = seconds_since(t0);
    }
    out.push_back(tok);
    history.push_back(tok);
    if (on_token && !on_token(tok, seen)) {
      st.stop_reason = "stop string";
      break;
    }
    if (stop_ids.count(tok)) {
      st.stop_reason = "stop token";
      break;
    }
    if (i + 1 == opt.max_tokens) break;
    if (opt.use_kv_cache) {
      b.tokens = {tok};
      b.n_new = {1};
    } else {
      // The baseline without a KV cache: forget everything and recompute the whole prefix.
      cache.free(seq);
      seq = cache.create();
      b.seqs = {seq};
      b.tokens = history;
      b.n_new = {int32_t(history.size())};
    }
    model_.forward(b, cache, opt.forward, logits);
  }
  st.generated_tokens = int32_t(out.size());
  if (!out.empty()) st.generate_seconds = seconds_since(t_first);
  const MemoryByKind m = model_.memory();
  st.weights_bytes = m.weights_mapped + m.weights_owned;
  const int64_t transient = memory_stats(Device::cpu).peak - mem_before - cache.pool_bytes();
  st.workspace_bytes = m.workspace + std::max<int64_t>(0, transient);
  st.kv_cache_bytes = cache.pool_bytes();
  st.kv_bytes_per_token = cache.bytes_per_token();
  if (stats) *stats = st;
  return out;
}

GenerateStats Generator::generate(const std::string& prompt, const GenerateOptions& opt,
                                  const std::function<void(const std::string&)>& on_text) {
  check(tok_ != nullptr, "generate: text generation needs a tokenizer");
  const std::vector<int32_t> ids = tok_->encode(prompt, opt.add_special, opt.parse_special);
  check(!ids.empty(), "generate: the prompt encodes to no tokens");
  StreamDecoder dec(*tok_);
  StopStringFilter filter(opt.stop_strings);
  std::set<int32_t> stop_ids(opt.extra_stop_tokens.begin(), opt.extra_stop_tokens.end());
  if (opt.stop_at_eos)
    for (int32_t t : tok_->stop_tokens()) stop_ids.insert(t);
  GenerateStats st;
  generate_tokens(ids, opt, &st, [&](int32_t tok, const std::vector<float>&) {
    if (stop_ids.count(tok)) return true;  // a stop token ends generation and is not shown
    const std::string shown = filter.push(dec.push(tok));
    if (!shown.empty()) on_text(shown);
    return !filter.stopped();
  });
  if (!filter.stopped()) {
    std::string tail = filter.push(dec.flush());
    tail += filter.flush();
    if (!tail.empty()) on_text(tail);
  }
  return st;
}

}  // namespace eft
