#pragma once
// Token sampling from logits: greedy, temperature, top-k, top-p, min-p, repetition penalty, seed.
//
// Pipeline (the order of HF transformers' warpers, so references agree):
//   1. repetition penalty (CTRL): for each distinct token among the last `repetition_window`
//      history tokens, logit > 0 -> logit / penalty, else logit * penalty
//   2. temperature == 0 -> greedy: argmax (lowest id on ties), probability 1
//   3. z = logit / temperature
//   4. top-k: keep the k largest z (ties broken by lower id)
//   5. softmax over the kept tokens
//   6. top-p: keep the smallest set of most probable tokens whose mass reaches top_p
//   7. min-p: keep tokens with p >= min_p * p_max
//   8. renormalize; sample() draws from exactly these probabilities (probabilities() returns them)
// Cost: O(vocab) for the softmax; selection (nth_element / partial_sort) only when top-k or
// top-p is on, and top-p sorts a growing prefix only until it holds the requested mass.
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
  int32_t repetition_window = 64;   // how many recent tokens count as history; <= 0: all of it
  uint64_t seed = 0;
};

// The kept tokens and their probabilities (renormalized, float), in no particular order.
struct TokenDistribution {
  std::vector<int32_t> ids;
  std::vector<float> probs;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);  // throws naming a bad parameter
  // logits: [vocab] (modified in place by penalties). history: tokens so far.
  int32_t sample(float* logits, int32_t vocab, const std::vector<int32_t>& history);
  // Probabilities after every transform (what sample() draws from); for tests and speculative decoding.
  std::vector<float> probabilities(const float* logits, int32_t vocab, const std::vector<int32_t>& history) const;
  // The same distribution in sparse form (cheaper than a dense [vocab] vector).
  TokenDistribution distribution(const float* logits, int32_t vocab, const std::vector<int32_t>& history) const;
  // Draws a token from explicit probabilities [vocab] (need not be normalized; >= 0) with this
  // sampler's generator, e.g. the residual distribution of speculative decoding.
  int32_t draw(const float* probs, int32_t vocab);
  int32_t draw(const TokenDistribution& d);
  double uniform();                 // [0, 1) from this sampler's generator (acceptance tests)
  void reseed(uint64_t seed);
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
};

// The CTRL repetition penalty of step 1, in place on logits [vocab].
void apply_repetition_penalty(float* logits, int32_t vocab, const std::vector<int32_t>& history, float penalty,
                              int32_t window);

}  // namespace eft
