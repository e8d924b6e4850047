// Generation loop: prefill, then one token per step with the paged KV cache (or, without it, the
// whole prefix recomputed each step), sampling, stop conditions, streaming and statistics.
#include <algorithm>
#include <chrono>
#include <ctime>
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
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
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
  const double cpu0 = process_cpu_seconds();
  // Scratch that attention methods allocate per call goes through Tensor: the peak above what
  // existed before (minus the KV pool, counted on its own) is workspace too.
  const int64_t mem_before = memory_stats(Device::cpu).current;
  reset_peak_memory(Device::cpu);

  // The pool holds exactly one sequence of prompt + max_tokens (and a spare block for the
  // partially filled last one); a longer request fails up front instead of mid-way.
  const int64_t total = int64_t(prompt.size()) + opt.max_tokens;
  const int64_t n_blocks = (total + opt.block_size - 1) / opt.block_size + 1;
  check(n_blocks < (1ll << 31), "generate: {} tokens need too many KV blocks", total);
  const bool keep = opt.reuse_prefix && opt.use_kv_cache;
  std::unique_ptr<PagedKvCache> local;
  PagedKvCache* cache = nullptr;
  SeqId seq = -1;
  int32_t reuse = 0;
  bool new_pool = true;  // the pool was allocated by this call (its bytes are not workspace)
  const std::vector<int32_t> kept = std::move(kept_tokens_);
  kept_tokens_.clear();  // stays empty if this call throws: the next one starts over
  if (keep && kept_ && kept_->config().block_size == opt.block_size && kept_->config().dtype == opt.kv_dtype &&
      kept_->config().n_blocks >= n_blocks) {
    cache = kept_.get();
    seq = kept_seq_;
    new_pool = false;
    // At least the last prompt token is recomputed: its logits start the generation.
    const size_t most = std::min(kept.size(), prompt.size() - 1);
    size_t common = 0;
    while (common < most && kept[common] == prompt[common]) ++common;
    try {
      cache->truncate(seq, int32_t(common));
      reuse = int32_t(common);
    } catch (const Error&) {  // a sliding window already released keys the shorter prefix needs
      cache->free(seq);
      seq = kept_seq_ = cache->create();
    }
  } else {
    // A kept cache gets twice the room so that a growing conversation reallocates (and
    // recomputes its prefix) only every time its length doubles.
    const int64_t alloc = keep ? std::min<int64_t>(2 * n_blocks, (1ll << 31) - 1) : n_blocks;
    auto fresh = std::make_unique<PagedKvCache>(
        model_.kv_cache_config(int32_t(alloc), opt.block_size, opt.kv_dtype));
    if (keep) {
      kept_ = std::move(fresh);
      cache = kept_.get();
      seq = kept_seq_ = cache->create();
    } else {
      local = std::move(fresh);
      cache = local.get();
      seq = cache->create();
    }
  }

  std::set<int32_t> stop_ids(opt.extra_stop_tokens.begin(), opt.extra_stop_tokens.end());
  if (opt.stop_at_eos && tok_ != nullptr)
    for (int32_t t : tok_->stop_tokens()) stop_ids.insert(t);

  Sampler sampler(opt.sampling);
  std::vector<int32_t> history = prompt;  // prompt + generated, for penalties and --no-kv-cache
  std::vector<int32_t> out;
  std::vector<float> logits;  // [vocab] of the last position
  std::vector<float> seen;    // copy handed to on_token

  ForwardBatch b;
  b.tokens.assign(prompt.begin() + reuse, prompt.end());
  b.seqs = {seq};
  b.n_new = {int32_t(b.tokens.size())};
  model_.forward(b, *cache, opt.forward, logits);
  GenerateStats st;
  st.prompt_tokens = int32_t(prompt.size());
  st.reused_tokens = reuse;
  st.prompt_seconds = seconds_since(t0);
  st.prompt_cpu_seconds = process_cpu_seconds() - cpu0;
  st.stop_reason = "max tokens";
  Clock::time_point t_first{};
  double cpu_first = 0;

  for (int32_t i = 0; i < opt.max_tokens; ++i) {
    if (on_token) seen = logits;
    const int32_t tok = sampler.sample(logits.data(), c.vocab, history);
    if (i == 0) {
      t_first = Clock::now();
      cpu_first = process_cpu_seconds();
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
      cache->free(seq);
      seq = cache->create();
      b.seqs = {seq};
      b.tokens = history;
      b.n_new = {int32_t(history.size())};
    }
    model_.forward(b, *cache, opt.forward, logits);
  }
  st.generated_tokens = int32_t(out.size());
  if (!out.empty()) {
    st.generate_seconds = seconds_since(t_first);
    st.generate_cpu_seconds = process_cpu_seconds() - cpu_first;
  }
  const MemoryByKind m = model_.memory();
  st.weights_bytes = m.weights_mapped + m.weights_owned;
  const int64_t transient =
      memory_stats(Device::cpu).peak - mem_before - (new_pool ? cache->pool_bytes() : 0);
  st.workspace_bytes = m.workspace + std::max<int64_t>(0, transient);
  st.kv_cache_bytes = cache->pool_bytes();
  st.kv_used_bytes = cache->memory().used_bytes;
  st.kv_bytes_per_token = cache->bytes_per_token();
  if (keep) kept_tokens_.assign(history.begin(), history.begin() + cache->length(seq));
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
