// Exact integer cost model of attention (see include/eft/cost_model.h for the conventions).
#include "eft/cost_model.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eft/error.h"

namespace eft {

namespace {

// a * b, or an error naming what overflowed (a table for N = 10^7 must fail loudly, not wrap).
int64_t mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  check(!__builtin_mul_overflow(a, b, &r), "cost model: {} overflows int64 ({} * {})", what, a, b);
  return r;
}
int64_t add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  check(!__builtin_add_overflow(a, b, &r), "cost model: {} overflows int64 ({} + {})", what, a, b);
  return r;
}

}  // namespace

int64_t dense_entries(int64_t n, bool causal) {
  check(n >= 0, "cost model: N must be >= 0 (got {})", n);
  // N(N+1)/2: divide the even factor first so the product stays exact.
  if (causal) return n % 2 == 0 ? mul(n / 2, n + 1, "causal entries") : mul(n, (n + 1) / 2, "causal entries");
  return mul(n, n, "score entries");
}

int64_t window_entries(int64_t n, int64_t w) {
  check(n >= 0, "cost model: N must be >= 0 (got {})", n);
  check(w > 0, "cost model: window must be positive (got {})", w);
  if (n <= w) return dense_entries(n, true);
  // The first w queries see 1..w keys, the remaining n - w see w each.
  return add(dense_entries(w, true), mul(n - w, w, "window entries"), "window entries");
}

int64_t exact_attention_flops(int64_t entries, int64_t head_dim) {
  return mul(mul(4, head_dim, "flops"), entries, "attention flops");
}

int64_t linear_attention_flops(const LinearFlopsArgs& a) {
  check(a.features > 0 && a.head_dim > 0, "cost model: features ({}) and head_dim ({}) must be positive", a.features,
        a.head_dim);
  const int64_t md = mul(a.features, a.head_dim, "m*d"), md1 = mul(a.features, a.head_dim + 1, "m*(d+1)");
  // per query row: feature map 2md + readout 2m(d+1); per key row: feature map 2md + update 2m(d+1)
  const int64_t per_row = add(mul(2, md, "feature map"), mul(2, md1, "state"), "linear flops");
  const int64_t q = mul(mul(a.n_q, a.q_heads, "query rows"), per_row, "linear query flops");
  const int64_t k = mul(mul(a.n_kv, a.kv_heads, "key rows"), per_row, "linear key flops");
  return add(q, k, "linear flops");
}

int64_t kv_bytes_per_token(int64_t layers, int64_t kv_heads, int64_t head_dim, DType dtype) {
  return mul(mul(mul(2, layers, "kv bytes"), kv_heads, "kv bytes"), mul(head_dim, int64_t(dtype_size(dtype)), "kv"),
             "kv bytes per token");
}

CostTable attention_cost(const CostConfig& c, const std::vector<int64_t>& ns) {
  check(c.heads > 0, "--heads must be positive (got {})", c.heads);
  check(c.kv_heads > 0 && c.heads % c.kv_heads == 0, "--kv-heads {} must be positive and divide --heads {}",
        c.kv_heads, c.heads);
  check(c.head_dim > 0, "--head-dim must be positive (got {})", c.head_dim);
  check(c.layers > 0, "--layers must be positive (got {})", c.layers);
  check(c.window > 0, "--window must be positive (got {})", c.window);
  check(c.features > 0, "--features must be positive (got {})", c.features);
  check(c.tile_q > 0 && c.tile_k > 0, "flash tiles must be positive (got {} x {})", c.tile_q, c.tile_k);
  check(c.workers > 0, "workers must be positive (got {})", c.workers);
  check(c.dtype == DType::f32 || c.dtype == DType::f16 || c.dtype == DType::bf16,
        "--dtype must be f32, f16 or bf16 (got {})", dtype_name(c.dtype));
  CostTable t;
  t.cfg = c;
  t.kv_token_mha = kv_bytes_per_token(c.layers, c.heads, c.head_dim, c.dtype);
  t.kv_token_gqa = kv_bytes_per_token(c.layers, c.kv_heads, c.head_dim, c.dtype);
  t.kv_token_mqa = kv_bytes_per_token(c.layers, 1, c.head_dim, c.dtype);
  const int64_t d = c.head_dim;
  const int64_t tile_floats = c.tile_q * d * 2 + c.tile_q * c.tile_k + 2 * c.tile_q;
  for (int64_t n : ns) {
    check(n > 0, "--n values must be positive (got {})", n);
    CostRow r;
    r.n = n;
    r.score_entries = mul(dense_entries(n, false), c.heads, "score entries");
    r.attended_entries = mul(dense_entries(n, c.causal), c.heads, "attended entries");
    r.flops_qk = mul(mul(2, d, "flops"), r.attended_entries, "QK^T flops");
    r.flops_pv = r.flops_qk;
    r.flops_attention = add(r.flops_qk, r.flops_pv, "attention flops");
    r.flops_attention_model = mul(r.flops_attention, c.layers, "model attention flops");
    r.standard_score_bytes = mul(r.score_entries, 4, "score bytes");
    r.flash_work_bytes = mul(mul(tile_floats, 4, "flash bytes"), c.workers, "flash bytes");
    r.window_entries = mul(window_entries(n, c.window), c.heads, "window entries");
    r.window_flops = exact_attention_flops(r.window_entries, d);
    r.linear_flops = linear_attention_flops(
        {.n_q = n, .n_kv = n, .features = c.features, .head_dim = d, .q_heads = c.heads, .kv_heads = c.heads});
    r.linear_state_bytes =
        mul(mul(mul(c.layers, c.heads, "state"), mul(c.features, d + 1, "state"), "state"), 4, "linear state bytes");
    r.kv_bytes_mha = mul(t.kv_token_mha, n, "KV bytes (MHA)");
    r.kv_bytes_gqa = mul(t.kv_token_gqa, n, "KV bytes (GQA)");
    r.kv_bytes_mqa = mul(t.kv_token_mqa, n, "KV bytes (MQA)");
    t.rows.push_back(r);
  }
  return t;
}

std::string format_bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double x = double(b);
  int u = 0;
  while (std::abs(x) >= 1024.0 && u < 5) {
    x /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.3g} {}", x, units[u]);
}

std::string format_si(double x) {
  const char* units[] = {"", "k", "M", "G", "T", "P", "E"};
  int u = 0;
  while (std::abs(x) >= 1000.0 && u < 6) {
    x /= 1000.0;
    ++u;
  }
  return fmt::format("{:.3g}{}{}", x, u ? " " : "", units[u]);
}

std::string cost_table_text(const CostTable& t) {
  const CostConfig& c = t.cfg;
  std::string s = fmt::format(
      "attention cost per layer: heads={} head_dim={} layers={} mask={} | window w={} keys | linear m={} features\n"
      "KV cache per token (all layers, {}): MHA ({} kv heads) {}, GQA ({} kv heads) {}, MQA (1 kv head) {}\n"
      "linear-attention state per sequence (all layers, MHA, f32): {} (constant in N)\n"
      "flash working memory: {} workers x ({}x{} tiles) = {} (constant in N)\n\n",
      c.heads, c.head_dim, c.layers, c.causal ? "causal" : "none", c.window, c.features, dtype_name(c.dtype),
      c.heads, format_bytes(t.kv_token_mha), c.kv_heads, format_bytes(t.kv_token_gqa), format_bytes(t.kv_token_mqa),
      format_bytes(t.rows.empty() ? 0 : t.rows[0].linear_state_bytes), c.workers, c.tile_q, c.tile_k,
      format_bytes(t.rows.empty() ? 0 : t.rows[0].flash_work_bytes));
  s += fmt::format("{:>7} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}\n", "N", "scores", "FLOPs",
                   "std scores", "window", "linear", "linear/", "KV MHA", "KV GQA", "KV MQA");
  s += fmt::format("{:>7} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}\n", "", "N^2*h", "QK^T+PV",
                   "memory f32", "FLOPs", "FLOPs", "exact", "context", "context", "context");
  for (const CostRow& r : t.rows) {
    s += fmt::format("{:>7} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}\n", r.n,
                     format_si(double(r.score_entries)), format_si(double(r.flops_attention)),
                     format_bytes(r.standard_score_bytes), format_si(double(r.window_flops)),
                     format_si(double(r.linear_flops)),
                     fmt::format("{:.3g}x", double(r.linear_flops) / double(r.flops_attention)),
                     format_bytes(r.kv_bytes_mha), format_bytes(r.kv_bytes_gqa), format_bytes(r.kv_bytes_mqa));
  }
  return s;
}

std::string cost_table_json(const CostTable& t) {
  const CostConfig& c = t.cfg;
  nlohmann::json j;
  j["config"] = {{"heads", c.heads},       {"kv_heads", c.kv_heads}, {"head_dim", c.head_dim},
                 {"layers", c.layers},     {"dtype", std::string(dtype_name(c.dtype))},
                 {"window", c.window},     {"features", c.features}, {"causal", c.causal},
                 {"tile_q", c.tile_q},     {"tile_k", c.tile_k},     {"workers", c.workers}};
  j["per_token"] = {{"kv_bytes_mha", t.kv_token_mha}, {"kv_bytes_gqa", t.kv_token_gqa},
                    {"kv_bytes_mqa", t.kv_token_mqa}};
  j["rows"] = nlohmann::json::array();
  for (const CostRow& r : t.rows)
    j["rows"].push_back({{"n", r.n},
                         {"score_entries", r.score_entries},
                         {"attended_entries", r.attended_entries},
                         {"flops_qk", r.flops_qk},
                         {"flops_pv", r.flops_pv},
                         {"flops_attention", r.flops_attention},
                         {"flops_attention_model", r.flops_attention_model},
                         {"standard_score_bytes", r.standard_score_bytes},
                         {"flash_work_bytes", r.flash_work_bytes},
                         {"window_entries", r.window_entries},
                         {"window_flops", r.window_flops},
                         {"linear_flops", r.linear_flops},
                         {"linear_state_bytes", r.linear_state_bytes},
                         {"kv_bytes_mha", r.kv_bytes_mha},
                         {"kv_bytes_gqa", r.kv_bytes_gqa},
                         {"kv_bytes_mqa", r.kv_bytes_mqa}});
  return j.dump(2);
}

}  // namespace eft
