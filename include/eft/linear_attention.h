#pragma once
// Linear attention: Performer FAVOR+ (Choromanski et al. 2020) with positive orthogonal random
// features.
//
// Softmax attention weighs key j by exp(s * q.k_j), s = effective_scale(p). With x~ = x * sqrt(s)
// (for the default s = 1/sqrt(d) that is x * d^(-1/4)) and w ~ N(0, I_d):
//     exp(q~.k~) = E_w[ exp(w.q~ - |q~|^2/2) * exp(w.k~ - |k~|^2/2) ]
// so with m drawn rows w_r (the projection W [m, d]) and
//     phi(x)_r = exp(w_r.x~ - |x~|^2/2) / sqrt(m)        phi: R^d -> R^m, every entry > 0
// phi(q).phi(k) is an unbiased estimate of exp(s * q.k), and attention becomes
//     O_i = phi(q_i) S / phi(q_i).z       S = sum_j phi(k_j) v_j^T [m, d],  z = sum_j phi(k_j) [m]
// which costs O(N m d) instead of O(N^2 d). Causal attention keeps S and z as running prefix sums.
//
// Numerical stability: every phi is computed as exp(u - a) with u the exponent above and a an
// offset (per query row: its own max; for keys: the running max over the keys seen so far, with
// S and z rescaled by exp(a_old - a_new) when it grows, as online softmax does). The offsets cancel
// between numerator and denominator, so the result is the same function; they are added back for
// the log-normaliser (LSE) output, which estimates log sum_j exp(s * q.k_j).
//
// attention_cpu(method = linear) is stateless: each call rebuilds S and z from the K/V it is given
// (O(kv_len m d)), which suits prefill; a decode loop keeps a LinearAttentionState instead, whose
// step costs O(heads m d) however long the sequence already is.
//
// The state lives per (sequence, KV head): S and z depend only on K and V, so the query heads of a
// GQA/MQA group share their KV head's state, exactly as they share its KV cache, and the state
// shrinks with kv_heads the same way. Its size (kv_heads * m * (d + 1) floats) does not grow with
// the sequence.
#include <cstdint>
#include <vector>

#include "eft/attention.h"
#include "eft/tensor.h"

namespace eft {

namespace favor {

// Draws the FAVOR+ projection W [m, d] from `seed`, deterministically on every platform (own
// splitmix64 + Box-Muller, no std:: distributions): m rows in blocks of d mutually orthogonal
// directions (modified Gram-Schmidt in float64 on a Gaussian d x d block; the last block keeps its
// first m mod d rows), each row then scaled by an independent chi(d) length (the norm of a fresh
// Gaussian vector), so every row is marginally N(0, I_d) while rows within a block are orthogonal.
std::vector<float> draw_projection(int32_t features, int32_t head_dim, uint64_t seed);

// The feature map for one call: W transposed (so the inner loop over features vectorizes) and the
// input scale sqrt(s).
struct FeatureMap {
  int32_t m = 0, d = 0;
  float x_scale = 1.f;     // sqrt(effective_scale): x~ = x * x_scale
  std::vector<float> wt;   // [d, m] = W^T
};
// From p.linear.projection when set, else drawn from p.linear.seed.
FeatureMap make_feature_map(const AttentionParams& p);

// Exponents for n rows x [n, ldx] (first d columns used):
//   u[t, r] = w_r.x~_t - |x~_t|^2/2 - ln(m)/2            u: [n, m]
// (the 1/sqrt(m) of phi folded into the exponent). row_max (optional) [n] gets each row's max;
// returns the max over all n*m entries.
float feature_exponents(const FeatureMap& f, const float* x, int64_t ldx, int64_t n, float* u,
                        float* row_max = nullptr);

// In place: y[i] = exp(y[i] - a) for i < n; vectorized polynomial exp (relative error ~1e-7);
// arguments below about -87 give 0.
void exp_shifted(float* y, int64_t n, float a);

// The small GEMM behind the feature map, the state update and the readout:
//   C [M, N] = (accumulate ? C : 0) + A [M, K] * B [K, N]
// A's element (i, k) is a[i * a_rs + k * a_cs] (so a transposed A costs nothing); B and C are
// row-major with leading dimensions ldb, ldc. Register-blocked over 8 rows x 32 columns of C.
// k_block > 0: K is summed in runs of k_block products, each run's float sum added into C once, so
// no float partial sum carries more than k_block terms (more accurate for long K at the cost of
// one extra pass over C per run; the feature exponents use it).
struct MatmulArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* a = nullptr;
  int64_t a_rs = 0, a_cs = 1;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
  int64_t k_block = 0;
};
void matmul(const MatmulArgs& g);

}  // namespace favor

// Decode-time linear attention for one sequence (all heads of one layer): the FAVOR+ state
// S [kv_heads, m, d], z [kv_heads, m] and the key offset per KV head. step() appends one token
// (its K and V for every KV head) and returns the attention output of its query (causal: the token
// sees itself and everything before). Cost per step O(heads * m * d), memory constant.
// Equal to the last row of attention_cpu with method linear and a causal mask over the same tokens.
class LinearAttentionState {
 public:
  // Uses q_heads, kv_heads, head_dim, scale and linear (features, seed or projection); the mask
  // must be none or causal (a decode step is causal either way). Throws eft::Error on bad params.
  explicit LinearAttentionState(const AttentionParams& p);

  // q [q_heads, d], k [kv_heads, d], v [kv_heads, d] -> o [q_heads, d]; lse (optional) [q_heads]
  // = estimated log sum_j exp(s * q.k_j) over the tokens so far.
  void step(const float* q, const float* k, const float* v, float* o, float* lse = nullptr);

  // Appends one token's k [kv_heads, d], v [kv_heads, d] without a query (e.g. a prompt whose
  // outputs are not needed); step() = append() + the readout of q.
  void append(const float* k, const float* v);

  int64_t tokens() const { return tokens_; }
  int64_t state_bytes() const;  // S, z and the offsets; independent of tokens()
  void reset();

 private:
  int32_t q_heads_, kv_heads_, d_, m_;
  favor::FeatureMap map_;
  // Through eft::Tensor so that memory_stats() counts the state like any other engine buffer.
  Tensor s_;       // [kv_heads, m, d]
  Tensor z_;       // [kv_heads, m]
  Tensor offset_;  // [kv_heads] running max of key exponents (-inf before any key)
  Tensor u_;       // [m] scratch
  int64_t tokens_ = 0;
};

}  // namespace eft
