// Host side of CUDA attention: validation, planning (kernel, tiles, KV splits, workspace) and the
// launch. Everything that can fail with a message lives here; fwd.cu only holds kernels.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "attention/cuda/fwd_params.h"
#include "attention/cuda/launch_checks.h"
#include "attention/cuda/tma_map.h"
#include "eft/attention_cuda.h"
#include "eft/cuda.h"
#include "eft/error.h"

namespace eft::cuda {
namespace {

using detail::FwdConfig;
using detail::FwdParams;
using detail::align_up;
using detail::aligned16;

constexpr int kDecodeMaxQ = 8;              // decode kernel: q_len 1..8 (speculative verification)
constexpr int kMinTilesPerSplit = 2;        // a split below 128 keys costs more in merging than it gains
constexpr int kMaxSplits = detail::kMergeMaxSplits;
constexpr int kNarrowDecodeBlockN = 32;     // the 3-stage decode kernel of four CTAs per SM (fwd.cu)
constexpr int64_t kTailWaves = 4;           // masked prefill: waves of items in the cross-head tail


// The wgmma main loop runs when the binary carries sm_90a code (EFT_CUDA_SM90A, set by CMake when
// CMAKE_CUDA_ARCHITECTURES lists 90a) and the device is compute capability 9.0 (sm_90a code runs
// on nothing else).
bool wgmma_usable() {
#ifdef EFT_CUDA_SM90A
  return compute_capability() == 90;
#else
  return false;
#endif
}

// Resident CTAs per SM of an instantiation as its shared memory and threads allow (registers not
// counted): the estimate where no device reports the occupancy, or where the main loop's table
// does not ask it.
int estimated_ctas_per_sm(const FwdConfig& c) {
  return std::max(1, std::min(detail::smem_ctas_per_sm(c.smem_bytes), 2048 / c.threads));
}

const FwdConfig* main_loop_configs(MainLoop m, int* n) {
  if (m == MainLoop::wgmma_ws) return detail::fwd_sm90_ws_configs(n);
  return m == MainLoop::wgmma ? detail::fwd_sm90_configs(n) : detail::fwd_configs(n);
}

constexpr size_t kCounterBytes = 256;  // the warp-specialized loop's tile counter, after the partials

// Picks the instantiation for (head_dim, dtype, kernel, K/V stages) in the main loop's table.
// Decode prefers the smallest row block that holds q_len * group rows (less wasted tensor-core
// work), else the largest.
int pick_config(MainLoop m, int head_dim, DType dt, bool decode, int rows_wanted, int block_n, int stages = 2) {
  int n = 0;
  const FwdConfig* cfg = main_loop_configs(m, &n);
  int best = -1;
  for (int i = 0; i < n; ++i) {
    const FwdConfig& c = cfg[i];
    if (c.head_dim != head_dim || c.dtype != dt || c.decode != decode) continue;
    if (block_n > 0 && c.block_n != block_n) continue;
    if (c.stages != stages) continue;
    if (best < 0) { best = i; continue; }
    const FwdConfig& b = cfg[best];
    const bool c_fits = c.block_m >= rows_wanted, b_fits = b.block_m >= rows_wanted;
    if (c_fits && (!b_fits || c.block_m < b.block_m)) best = i;
    else if (!c_fits && !b_fits && c.block_m > b.block_m) best = i;
  }
  return best;
}

}  // namespace

AttentionPlan plan_attention(const AttentionParams& p, const AttentionArgs& a, const AttentionPlanOptions& opt) {
  validate_attention(p, a, /*host_pointers=*/true);
  check(p.method != AttnMethod::linear, "linear attention is not implemented on CUDA (use attention_cpu)");
  check(p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256,
        "CUDA attention supports head_dim 64, 128 and 256 (got {})", p.head_dim);
  check(a.q_dtype == DType::bf16 || a.q_dtype == DType::f16, "CUDA attention takes bf16 or f16 Q/K/V (Q is {})",
        dtype_name(a.q_dtype));
  check(a.kv.dtype == a.q_dtype, "CUDA attention needs K/V in the dtype of Q ({}), got {}", dtype_name(a.q_dtype),
        dtype_name(a.kv.dtype));
  check(opt.kv_splits >= 0, "kv_splits must be >= 0 (got {})", opt.kv_splits);
  check(opt.block_n >= 0, "block_n must be >= 0 (got {})", opt.block_n);

  AttentionPlan plan;
  plan.q_heads = p.q_heads;
  plan.kv_heads = p.kv_heads;
  plan.head_dim = p.head_dim;
  plan.n_seqs = a.batch.n_seqs;
  plan.dtype = a.q_dtype;
  plan.layout = a.kv.layout;
  plan.block_size = a.kv.layout == KvLayout::paged ? a.kv.block_size : 0;
  plan.mask = p.mask.type;
  const SeqBatch& b = a.batch;
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    plan.max_q_len = std::max(plan.max_q_len, b.q_start[s + 1] - b.q_start[s]);
    plan.max_kv_len = std::max(plan.max_kv_len, b.kv_len[s]);
  }
  plan.q_tokens = b.n_seqs > 0 ? b.q_start[b.n_seqs] : 0;

  const bool decode = opt.kernel == AttnKernel::decode ||
                      (opt.kernel == AttnKernel::automatic && plan.max_q_len <= kDecodeMaxQ);
  plan.kernel = decode ? AttnKernel::decode : AttnKernel::prefill;
  const bool hopper_loop = opt.main_loop == MainLoop::wgmma || opt.main_loop == MainLoop::wgmma_ws;
  check(!hopper_loop || !decode,
        "main_loop wgmma / wgmma_ws are prefill main loops; the decode kernel (q_len <= 8) uses mma_sync");
  check(!hopper_loop || wgmma_usable(),
        "main_loop wgmma / wgmma_ws need a compute capability 9.0 GPU and eft built for sm_90a "
        "(CMAKE_CUDA_ARCHITECTURES containing 90a); this device/build has {}",
        sm_count() > 0 ? device_name() : std::string("no CUDA device"));
  const int group = p.q_heads / p.kv_heads;
  const int max_q = std::max(plan.max_q_len, 1);
  if (opt.main_loop != MainLoop::automatic) {
    plan.main_loop = opt.main_loop;
  } else if (decode || !wgmma_usable()) {
    plan.main_loop = MainLoop::mma_sync;
  } else {
    // Hopper prefill: the warp-specialized loop for head_dim 128 and 256 (1.0-1.2x the plain
    // wgmma grid on an H200, bench/RESULTS.md 2026-11-28); head_dim 64 keeps the plain grid, whose
    // two CTAs per SM of 64-key tiles measured faster than the one warp-specialized CTA.
    const bool ws =
        p.head_dim >= 128 && pick_config(MainLoop::wgmma_ws, p.head_dim, a.q_dtype, false, max_q * group, opt.block_n) >= 0;
    plan.main_loop = ws ? MainLoop::wgmma_ws : MainLoop::wgmma;
  }
  plan.config = pick_config(plan.main_loop, p.head_dim, a.q_dtype, decode, max_q * group, opt.block_n);
  check(plan.config >= 0, "no CUDA attention kernel for head_dim {} dtype {}{}", p.head_dim, dtype_name(a.q_dtype),
        opt.block_n > 0 ? fmt::format(" and block_n {}", opt.block_n) : std::string());
  int n_cfg = 0;
  const FwdConfig& cfg = main_loop_configs(plan.main_loop, &n_cfg)[plan.config];
  plan.block_m = cfg.block_m;
  plan.block_n = cfg.block_n;
  plan.smem_bytes = cfg.smem_bytes;
  if (decode) {
    // As many heads of the group as fit next to q_len tokens; the rest go to further CTAs, which
    // re-read the same K/V (mostly from L2).
    plan.heads_per_cta = std::clamp(cfg.block_m / max_q, 1, group);
    plan.tokens_per_cta = cfg.block_m / plan.heads_per_cta;
  } else {
    plan.heads_per_cta = 1;
    plan.tokens_per_cta = cfg.block_m;
  }
  plan.head_chunks = (group + plan.heads_per_cta - 1) / plan.heads_per_cta;
  plan.q_tiles = (max_q + plan.tokens_per_cta - 1) / plan.tokens_per_cta;

  // CTAs that do work (short sequences' surplus CTAs exit at once).
  int64_t real_ctas = 0;
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int32_t q_len = b.q_start[s + 1] - b.q_start[s];
    real_ctas += (q_len + plan.tokens_per_cta - 1) / plan.tokens_per_cta;
  }
  real_ctas *= int64_t(p.kv_heads) * plan.head_chunks;

  const int kv_tiles = std::max(1, (plan.max_kv_len + cfg.block_n - 1) / cfg.block_n);
  if (opt.kv_splits > 0) {
    plan.kv_splits = std::min({opt.kv_splits, kv_tiles, kMaxSplits});
  } else if (decode && real_ctas > 0) {
    const int sms = detail::planning_sms(opt.sm_count);
    // CTAs of instantiation `config` resident at once (one wave): per SM asked of the device
    // (registers count too), else a shared-memory estimate.
    auto wave_of = [&](int config) {
      const FwdConfig& c = detail::fwd_configs(&n_cfg)[config];
      int per_sm = sm_count() > 0 ? detail::fwd_ctas_per_sm(config) : 0;
      if (per_sm <= 0) per_sm = estimated_ctas_per_sm(c);
      return int64_t(sms) * per_sm;
    };
    // A batch whose unsplit CTAs fill whole waves (>= 90 % of the slots over all waves) runs
    // unsplit on the 3-stage kernel: long CTAs keep two tiles in flight, and there are no partials
    // to write and merge (H200, 2026-11-28, GQA 32/8 D=128, 512 CTAs = 1.94 waves: batch 64 x 1k
    // 3854 GB/s against 3425 with 2 stages and 3 splits; 64 x 4k 4259 against 4203; 64 x 16k the
    // same). Split grids stay on 2 stages, where the 3-stage kernel measured slower (batch 1 x 32k,
    // 33 splits: 3314 against 3440 GB/s; 64 x 1k, 3 splits: 2998 against 3427). Paged caches take
    // the same rules since the kernel stages each CTA's block-table slice in shared memory (before
    // that, paged grids wanted more resident CTAs to hide the table reads and ran 6 % slower here;
    // now paged / contiguous: 16 x 1k 0.99, 64 x 1k 0.97, 64 x 4k 0.99, 1 x 32k 0.98, ab.sh 18:25).
    // A paged CTA whose unsplit range spans more blocks than it can stage (batch 64 x 32k in
    // 16-token blocks: 2048) would read the table from global memory on the 3-stage kernel, which
    // measured 0.94x contiguous there; it stays on the 2-stage kernel, whose splits are short enough.
    // A 3-stage instantiation usable here: same rows as cfg, its table slice long enough if paged.
    auto usable3 = [&](int block_n) {
      const int c = pick_config(plan.main_loop, p.head_dim, a.q_dtype, true, max_q * group, block_n, 3);
      if (c < 0 || detail::fwd_configs(&n_cfg)[c].block_m != cfg.block_m) return -1;
      if (a.kv.layout == KvLayout::paged &&
          (int64_t(plan.max_kv_len) + a.kv.block_size - 1) / a.kv.block_size > detail::fwd_configs(&n_cfg)[c].table_cap)
        return -1;
      return c;
    };
    const int cfg3 = usable3(opt.block_n);
    // Where the 3-stage grid takes more than one wave but a grid of narrow-tile CTAs (32 keys,
    // two warps, 56 KB: four per SM instead of two, the same bytes in flight per SM) takes one, that
    // one runs: all CTAs stream from the start and no SM waits for a second wave's prologue (batch
    // 64 x 1k: 512 CTAs = 1.94 waves of two per SM, 0.97 of four; H200 2026-11-28: 0.0699 ->
    // 0.0667 ms contiguous, 0.0723 -> 0.0690 paged, 64 x 4k / 16k / 32k within 0.2 %).
    const int cfg3n = opt.block_n > 0 ? -1 : usable3(kNarrowDecodeBlockN);
    bool three_stage = false;
    auto take = [&](int config, int64_t slots) {
      plan.config = config;  // same rows as cfg: only the key tile and the shared memory differ
      plan.block_n = detail::fwd_configs(&n_cfg)[config].block_n;
      plan.smem_bytes = detail::fwd_configs(&n_cfg)[config].smem_bytes;
      plan.kv_splits = 1;
      plan.wave_ctas = slots;
      three_stage = true;
    };
    if (cfg3 >= 0) {
      const int64_t slots3 = wave_of(cfg3), slots3n = cfg3n >= 0 && cfg3n != cfg3 ? wave_of(cfg3n) : 0;
      const double waves = double(real_ctas) / double(slots3);
      if (real_ctas > slots3 && real_ctas <= slots3n && double(real_ctas) >= 0.9 * double(slots3n))
        take(cfg3n, slots3n);
      else if (waves >= 1.0 && waves / std::ceil(waves) >= 0.9)
        take(cfg3, slots3);
    }
    if (!three_stage) {
      // Flash-decoding: cut the KV range when the batch cannot fill the GPU with resident CTAs.
      const int64_t slots = wave_of(plan.config);
      // Decode is memory-bound: about two streaming CTAs per SM already keep enough bytes in flight
      // for the full bandwidth, and every further split adds partials to write and merge (H200,
      // 2026-11-28: batch 16 x 4k ran 92 % of copy bandwidth with 2 splits = 256 CTAs, 86 % with 3;
      // batch 1 x 32k 40.5 us with 32 splits, 44.2 us with 49). So aim at 2 CTAs per SM; when that
      // takes more than one wave of resident CTAs, take the fewest splits from there whose last
      // wave is >= 90 % full (equal CTAs: a nearly empty last wave runs at a fraction of the
      // bandwidth for a whole CTA lifetime). Never cut a sequence into pieces shorter than
      // kMinTilesPerSplit tiles.
      const int max_splits = std::max(1, std::min(kv_tiles / kMinTilesPerSplit, kMaxSplits));
      const int64_t want = 2 * int64_t(sms);
      int best = int(std::clamp<int64_t>((want + real_ctas / 2) / real_ctas, 1, max_splits));
      if (real_ctas <= slots) {
        best = int(std::min<int64_t>(best, slots / real_ctas));  // rounding never spills into a second wave
      } else {
        double best_eff = 0;
        for (int s = best, first = best; s <= max_splits; ++s) {
          const double waves = double(real_ctas * s) / double(slots);
          const double eff = waves / std::ceil(waves);  // busy fraction of the slots over all waves
          if (eff > best_eff + 1e-9) {
            best = s;
            best_eff = eff;
          }
          if (eff >= 0.9 || s >= first + 8) break;
        }
      }
      // Splits of ceil(kv_tiles / best) tiles each: where fewer splits of that length cover the
      // range, the surplus ones would be empty CTAs and merge inputs (batch 1 x 32k: 33 splits of
      // 16 tiles, the last empty; 32 measured 2 % faster, H200 2026-11-28).
      const int per_split = (kv_tiles + best - 1) / best;
      plan.kv_splits = (kv_tiles + per_split - 1) / per_split;
      plan.wave_ctas = slots;
    }
  }
  plan.ctas = int64_t(plan.q_tiles) * plan.kv_splits * p.kv_heads * plan.head_chunks * b.n_seqs;
  plan.persistent = cfg.persistent;
  // O through TMA stores (fwd_sm90_ws.cu): one pass, O in the input type, and two Q buffers in the
  // loop's shared memory (head_dim <= 128), one of which holds a finished item's O while it leaves.
  // The boxes are 64 tokens of one head: rows of one head per CTA (prefill).
  plan.tma_store_o = opt.tma_store_o && plan.main_loop == MainLoop::wgmma_ws && plan.kv_splits == 1 &&
                     plan.heads_per_cta == 1 && a.o_dtype == a.q_dtype && p.head_dim <= 128;
  if (cfg.persistent) {
    // One wave: as many CTAs as fit at once (the occupancy the device reports), at most one per item.
    const int sms = detail::planning_sms(opt.sm_count);
    int per_sm = sm_count() <= 0 ? 0 : detail::fwd_sm90_ws_ctas_per_sm(plan.config);  // the only persistent loop
    if (per_sm <= 0) per_sm = 1;
    check(plan.ctas < (int64_t(1) << 31), "too many work items for the persistent prefill ({})", plan.ctas);
    plan.ctas = std::min<int64_t>(plan.ctas, int64_t(sms) * per_sm);
  }
  // Item order (fwd_params.h, scheduled_item): where a mask makes a prefill's query tiles differ in
  // work, about the last kTailWaves waves' worth of items (at most a quarter of the columns) go
  // column by column across heads and sequences, lightest last: the persistent loop's tickets, and
  // the plain grids' blocks in their launch order. H200, 2026-11-28, against head by head (the
  // warp-specialized loop): causal N = 512 ... 16k, D = 128 / 256 3.5-8.5 % faster, window N = 16k
  // W = 1k 0-2 %; a longer tail lost the L2 sharing of a head's K/V (N = 512, D = 256 causal, 3 of
  // 4 columns: 2.6 % slower than head by head, 1 of 4: 5.9 % faster); without a mask the items
  // are alike and reordering only lost L2 hits (N = 2k: 3-8 % slower).
  if (!decode && p.mask.type != MaskType::none) {
    // persistent: the CTAs launched are one wave
    const int64_t wave =
        plan.persistent ? plan.ctas : int64_t(detail::planning_sms(opt.sm_count)) * estimated_ctas_per_sm(cfg);
    const int64_t x_count = int64_t(plan.q_tiles) * plan.kv_splits;
    const int64_t yz = int64_t(p.kv_heads) * plan.head_chunks * b.n_seqs;
    // The plain grids (several CTAs per SM, started by the hardware in block order) take it from 8
    // columns on: at N = 512 (4 columns, D = 64) it ran 2.5 % slower; N = 1k 1.4 % (wgmma D = 64)
    // and 7.7 % (mma.sync D = 128) faster, N = 2k ... 16k 4-8 % faster (H200, 2026-11-29).
    const int64_t min_columns = plan.persistent ? 1 : 8;
    if (x_count >= min_columns && x_count * yz < (int64_t(1) << 31))  // int arithmetic in grid_item
      plan.tail_x = int32_t(std::min<int64_t>((kTailWaves * wave + yz - 1) / yz, std::max<int64_t>(1, x_count / 4)));
  }
  check(int64_t(plan.q_tiles) * plan.kv_splits < (int64_t(1) << 31), "too many query tiles x splits ({} x {})",
        plan.q_tiles, plan.kv_splits);
  check(int64_t(p.kv_heads) * plan.head_chunks <= 65535, "too many heads for one launch ({} CTA rows)",
        int64_t(p.kv_heads) * plan.head_chunks);
  check(b.n_seqs <= 65535, "at most 65535 sequences per CUDA attention call (got {})", b.n_seqs);
  if (plan.kv_splits > 1) {
    const size_t parts = size_t(plan.q_tokens) * p.q_heads * plan.kv_splits;
    plan.workspace_bytes = align_up(parts * p.head_dim * sizeof(float), 256) + align_up(parts * sizeof(float), 256);
  }
  if (plan.main_loop == MainLoop::wgmma_ws) plan.workspace_bytes += kCounterBytes;
  return plan;
}

void attention(const AttentionParams& p, const AttentionArgs& a, const AttentionPlan& plan, Workspace ws,
               cudaStream_t stream) {
  // Cheap checks only: no device memory is read, so this stays graph-capturable.
  check(plan.config >= 0, "attention(): the plan is empty (make it with plan_attention)");
  check(p.q_heads == plan.q_heads && p.kv_heads == plan.kv_heads && p.head_dim == plan.head_dim,
        "attention(): heads/head_dim {}/{}/{} differ from the plan's {}/{}/{}", p.q_heads, p.kv_heads, p.head_dim,
        plan.q_heads, plan.kv_heads, plan.head_dim);
  detail::check_matches_plan("attention", a, plan.n_seqs, plan.dtype, plan.layout, plan.block_size);
  check(p.mask.type == plan.mask, "attention(): mask type {} differs from the plan's {}", int(p.mask.type),
        int(plan.mask));
  check(a.o_dtype == DType::f32 || a.o_dtype == DType::bf16 || a.o_dtype == DType::f16,
        "attention(): O dtype {} is not f32, bf16 or f16", dtype_name(a.o_dtype));
  const detail::AttnIoParams io = detail::check_io("attention", p, a, ws, plan.workspace_bytes);
  if (plan.n_seqs == 0 || plan.q_tokens == 0) return;
  detail::check_batch_pointers("attention", a);

  FwdParams f;
  static_cast<detail::AttnIoParams&>(f) = io;
  f.heads_per_cta = plan.heads_per_cta;
  f.head_chunks = plan.head_chunks;
  f.tokens_per_cta = plan.tokens_per_cta;
  f.q_tiles = plan.q_tiles;
  f.kv_splits = plan.kv_splits;
  f.persistent_ctas = plan.persistent ? int32_t(plan.ctas) : 0;
  f.tail_x = plan.tail_x;
  const float scale = effective_scale(p);
  constexpr float kLog2e = 1.4426950408889634f;
  f.scale_log2 = scale * kLog2e;
  if (p.softcap > 0.f) {
    f.softcap_log2 = p.softcap * kLog2e;
    f.scale_over_cap = scale / p.softcap;
  }
  f.mask = p.mask;
  if (plan.kv_splits > 1) {
    const size_t parts = size_t(plan.q_tokens) * p.q_heads * plan.kv_splits;
    f.part_o = static_cast<float*>(ws.data);
    f.part_lse = reinterpret_cast<float*>(static_cast<char*>(ws.data) + align_up(parts * p.head_dim * sizeof(float), 256));
  }
  cudaError_t e = cudaSuccess;
  if (plan.main_loop == MainLoop::wgmma_ws) {
    // The tile scheduler's counter: the last kCounterBytes of the workspace, zeroed on the stream
    // (a memset node when captured), so every call and every graph replay starts from item 0.
    f.item_counter = reinterpret_cast<int32_t*>(static_cast<char*>(ws.data) + plan.workspace_bytes - kCounterBytes);
    if (plan.tma_store_o && a.o_dtype == plan.dtype)  // (the call's O may differ from the plan's args)
      f.o_tma = detail::encode_o_rows_map(&f.o_map, f.o, plan.dtype, plan.q_tokens, p.q_heads, p.head_dim, f.o_stride)
                    ? 1
                    : 0;
    e = cudaMemsetAsync(f.item_counter, 0, sizeof(int32_t), stream);
    check(e == cudaSuccess, "CUDA attention: zeroing the tile counter failed: {}", cudaGetErrorString(e));
    e = detail::launch_fwd_sm90_ws(plan.config, f, stream);
  } else if (plan.main_loop == MainLoop::wgmma) {
    e = detail::launch_fwd_sm90(plan.config, f, plan.n_seqs, stream);
  } else {
    e = detail::launch_fwd(plan.config, f, plan.n_seqs, stream);
  }
  check(e == cudaSuccess, "CUDA attention kernel launch failed: {}", cudaGetErrorString(e));
  if (plan.kv_splits > 1) {
    e = detail::launch_merge(f, plan.q_tokens, p.head_dim, compute_capability() >= 90, stream);
    check(e == cudaSuccess, "CUDA attention merge launch failed: {}", cudaGetErrorString(e));
  }
}

}  // namespace eft::cuda
