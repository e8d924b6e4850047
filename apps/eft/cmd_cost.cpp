// `eft cost`: the exact cost of attention for a list of sequence lengths (include/eft/cost_model.h).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "eft/cost_model.h"
#include "eft/error.h"
#include "eft/parallel.h"

namespace eft::cli {
namespace {

struct CostOptions {
  std::vector<int64_t> ns{512, 1024, 2048, 4096, 8192, 16384, 32768};
  CostConfig cfg;
  std::string dtype = "f16";
  std::string mask = "causal";
  int64_t tile = 64;
  int64_t workers = 0;  // 0: the CPU threads eft would use
  bool json = false;
};

void run_cost(const CostOptions& o) {
  CostConfig c = o.cfg;
  c.dtype = dtype_from_name(o.dtype);
  check(o.mask == "causal" || o.mask == "none", "--mask must be causal or none (got '{}')", o.mask);
  c.causal = o.mask == "causal";
  c.tile_q = c.tile_k = o.tile;
  c.workers = o.workers > 0 ? o.workers : num_threads();
  const CostTable t = attention_cost(c, o.ns);
  const std::string out = o.json ? cost_table_json(t) : cost_table_text(t);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (o.json) std::fputc('\n', stdout);
}

const CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<CostOptions>();
  CLI::App* cmd = app.add_subcommand("cost", "exact cost of attention: scores, FLOPs, memory, KV cache by N");
  cmd->add_option("--n", o->ns, "sequence lengths")->delimiter(',')->capture_default_str();
  cmd->add_option("--heads", o->cfg.heads, "query heads")->capture_default_str();
  cmd->add_option("--kv-heads", o->cfg.kv_heads, "KV heads of the GQA column")->capture_default_str();
  cmd->add_option("--head-dim", o->cfg.head_dim, "head dimension d")->capture_default_str();
  cmd->add_option("--layers", o->cfg.layers, "layers (KV cache and model totals)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "KV cache dtype: f32, f16, bf16")->capture_default_str();
  cmd->add_option("--window", o->cfg.window, "sliding window w (keys per query)")->capture_default_str();
  cmd->add_option("--features", o->cfg.features, "linear attention features m")->capture_default_str();
  cmd->add_option("--mask", o->mask, "dense attention mask: causal or none")->capture_default_str();
  cmd->add_option("--tile", o->tile, "flash tile size (queries = keys)")->capture_default_str();
  cmd->add_option("--workers", o->workers, "flash workers holding tiles (default: --threads)");
  cmd->add_flag("--json", o->json, "machine-readable output (exact integers)");
  cmd->callback([o]() { run_cost(*o); });
});

}  // namespace
}  // namespace eft::cli
