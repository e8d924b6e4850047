#pragma once
// Token sampling from logits: greedy, temperature, top-k, top-p, min-p, repetition penalty, seed.
#include <cstdint>
#include <random>
#include <vector>

namespace eft {

struct SamplerParams {
  float temperature = 0.f;          // 0: greedy (argmax)
  int32_t top_k = 0;                // 0: off
  float top_p = 1.f;                // 1: off
  float min_p = 0.f;                // 0: off; keeps tokens with p >= min_p * p_max
  float repetition_penalty = 1.f;   // 1: off; applied to tokens in `history` (CTRL-style)
  int32_t repetition_window = 64;   // how many recent tokens count as history
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // logits: [vocab] (modified in place by penalties). history: tokens so far.
  int32_t sample(float* logits, int32_t vocab, const std::vector<int32_t>& history);
  // Probabilities after every transform (what sample() draws from); for tests and speculative decoding.
  std::vector<float> probabilities(const float* logits, int32_t vocab, const std::vector<int32_t>& history) const;
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
};

}  // namespace eft
