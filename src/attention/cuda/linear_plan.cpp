// Host side of CUDA linear attention: the device feature map, validation, planning (runs,
// workspace), the launches, and the decode state. Everything that can fail with a message lives
// here; the linear_*.cu files only hold kernels.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "attention/cuda/launch_checks.h"
#include "attention/cuda/linear_params.h"
#include "eft/cuda.h"
#include "eft/error.h"
#include "eft/linear_attention.h"
#include "eft/linear_attention_cuda.h"

namespace eft::cuda {
namespace {

using detail::LinearFwdParams;
using detail::align_up;

constexpr int kMaxSegments = 64;    // each run gathers the earlier runs' states: keep that small


void check_head_dim(int32_t d) {
  check(d == 64 || d == 128 || d == 256, "CUDA linear attention supports head_dim 64, 128 and 256 (got {})", d);
}
void check_features(int32_t m) {
  check(m > 0 && m % 16 == 0 && m <= detail::kLinMaxFeatures,
        "CUDA linear attention needs linear.features a multiple of 16 in [16, {}] (got {})", detail::kLinMaxFeatures,
        m);
}
void check_io_dtypes(DType in, DType kv, DType out) {
  check(in == DType::bf16 || in == DType::f16, "CUDA linear attention takes bf16 or f16 Q/K/V (Q is {})",
        dtype_name(in));
  check(kv == in, "CUDA linear attention needs K/V in the dtype of Q ({}), got {}", dtype_name(in), dtype_name(kv));
  check(out == DType::f32 || out == DType::bf16 || out == DType::f16,
        "CUDA linear attention: O dtype {} is not f32, bf16 or f16", dtype_name(out));
}
void check_cuda(cudaError_t e, const char* what) {
  check(e == cudaSuccess, "CUDA linear attention: {} failed: {}", what, cudaGetErrorString(e));
}

}  // namespace

// ---- feature map ---------------------------------------------------------------------------------

LinearFeatureMap::LinearFeatureMap(const AttentionParams& p) {
  check_head_dim(p.head_dim);
  check_features(p.linear.features);
  const favor::FeatureMap f = favor::make_feature_map(p);  // the CPU's W and scale
  m_ = f.m;
  d_ = f.d;
  x_scale_ = f.x_scale;
  std::vector<float> w(size_t(m_) * d_);  // [m, d]: the kernels read one feature's row at a time
  for (int32_t r = 0; r < m_; ++r)
    for (int32_t c = 0; c < d_; ++c) w[size_t(r) * d_ + c] = f.wt[size_t(c) * m_ + r];
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&w_), w.size() * sizeof(float)), "cudaMalloc of the projection");
  const cudaError_t e = cudaMemcpy(w_, w.data(), w.size() * sizeof(float), cudaMemcpyHostToDevice);
  if (e != cudaSuccess) {
    cudaFree(w_);
    w_ = nullptr;
    check_cuda(e, "upload of the projection");
  }
}

LinearFeatureMap::~LinearFeatureMap() {
  if (w_) cudaFree(w_);
}

LinearFeatureMap::LinearFeatureMap(LinearFeatureMap&& o) noexcept
    : w_(o.w_), m_(o.m_), d_(o.d_), x_scale_(o.x_scale_) {
  o.w_ = nullptr;
}

// ---- plan ----------------------------------------------------------------------------------------

LinearAttentionPlan plan_linear_attention(const AttentionParams& p, const AttentionArgs& a,
                                          const LinearPlanOptions& opt) {
  check(p.method == AttnMethod::linear, "plan_linear_attention: params.method must be linear (got {})",
        method_name(p.method));
  validate_attention(p, a, /*host_pointers=*/true);  // also: mask none/causal, no softcap, features > 0
  check_head_dim(p.head_dim);
  check_features(p.linear.features);
  check_io_dtypes(a.q_dtype, a.kv.dtype, a.o_dtype);
  check(opt.segments >= 0, "plan_linear_attention: segments must be >= 0 (got {})", opt.segments);

  LinearAttentionPlan plan;
  plan.q_heads = p.q_heads;
  plan.kv_heads = p.kv_heads;
  plan.head_dim = p.head_dim;
  plan.features = p.linear.features;
  plan.n_seqs = a.batch.n_seqs;
  plan.dtype = a.q_dtype;
  plan.layout = a.kv.layout;
  plan.block_size = a.kv.layout == KvLayout::paged ? a.kv.block_size : 0;
  plan.causal = p.mask.type == MaskType::causal;
  plan.x_scale = std::sqrt(effective_scale(p));
  const SeqBatch& b = a.batch;
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    plan.max_q_len = std::max(plan.max_q_len, b.q_start[s + 1] - b.q_start[s]);
    plan.max_kv_len = std::max(plan.max_kv_len, b.kv_len[s]);
    if (a.kv.layout == KvLayout::contiguous && b.kv_len[s] > 0)
      plan.kv_rows = std::max(plan.kv_rows, int64_t(a.kv.kv_start[s]) + b.kv_len[s]);
  }
  if (a.kv.layout == KvLayout::paged) plan.kv_rows = int64_t(a.kv.n_blocks) * a.kv.block_size;
  plan.q_tokens = b.n_seqs > 0 ? b.q_start[b.n_seqs] : 0;
  plan.d_tiles = p.head_dim / detail::kLinDTile;

  // Runs per sequence. A CTA walks its run's chunks one after another and gathers the states of
  // the runs before it, so a run costs about (its chunks + the runs) chunk-steps; CTAs go in waves
  // of one per SM (registers and the f32 state in shared memory allow one). Pick the count with
  // the shortest critical path, waves x steps (ties: fewer runs, less workspace).
  const int64_t max_chunks = std::max<int64_t>(1, (plan.max_kv_len + detail::kLinChunk - 1) / detail::kLinChunk);
  const int64_t rows = std::max<int64_t>(1, int64_t(b.n_seqs) * p.kv_heads * plan.d_tiles);
  int64_t segs = opt.segments;
  if (segs == 0) {
    const int sms = detail::planning_sms(opt.sm_count);
    int64_t best_cost = -1;
    for (int64_t s = 1; s <= std::min<int64_t>(max_chunks, kMaxSegments); ++s) {
      const int64_t waves = (rows * s + sms - 1) / sms;
      const int64_t cost = waves * ((max_chunks + s - 1) / s + s);
      if (best_cost < 0 || cost < best_cost) {
        best_cost = cost;
        segs = s;
      }
    }
  }
  plan.segments = int32_t(std::clamp<int64_t>(segs, 1, std::min<int64_t>(max_chunks, kMaxSegments)));
  check(int64_t(plan.segments) * plan.d_tiles < (int64_t(1) << 31) && p.kv_heads <= 65535 && b.n_seqs <= 65535,
        "CUDA linear attention: grid too large ({} runs x {} KV heads x {} sequences)", plan.segments, p.kv_heads,
        b.n_seqs);

  const size_t m = size_t(plan.features), d = size_t(p.head_dim);
  const size_t q_rows = size_t(plan.q_tokens) * p.q_heads, k_rows = size_t(plan.kv_rows) * p.kv_heads;
  const size_t states = size_t(b.n_seqs) * p.kv_heads * plan.segments;
  size_t off = 0;
  auto piece = [&](size_t floats) {
    const size_t at = off;
    off = align_up(off + floats * sizeof(float), 256);
    return at;
  };
  piece(q_rows * m);  // uq at 0
  plan.off_qmax = piece(q_rows);
  plan.off_uk = piece(k_rows * m);
  plan.off_kmax = piece(k_rows);
  plan.off_seg_s = piece(states * m * d);
  plan.off_seg_z = piece(states * m);
  plan.off_seg_off = piece(states);
  plan.workspace_bytes = off;
  plan.valid = true;
  return plan;
}

// ---- prefill launch ------------------------------------------------------------------------------

void linear_attention(const AttentionParams& p, const AttentionArgs& a, const LinearAttentionPlan& plan,
                      const LinearFeatureMap& map, Workspace ws, cudaStream_t stream, LinearDecodeState* state) {
  // Cheap checks only: nothing on the device is read, so the call stays graph-capturable.
  check(plan.valid, "linear_attention(): the plan is empty (make it with plan_linear_attention)");
  check(p.q_heads == plan.q_heads && p.kv_heads == plan.kv_heads && p.head_dim == plan.head_dim,
        "linear_attention(): heads/head_dim {}/{}/{} differ from the plan's {}/{}/{}", p.q_heads, p.kv_heads,
        p.head_dim, plan.q_heads, plan.kv_heads, plan.head_dim);
  check(p.linear.features == plan.features, "linear_attention(): linear.features {} differs from the plan's {}",
        p.linear.features, plan.features);
  check((p.mask.type == MaskType::causal) == plan.causal, "linear_attention(): mask type differs from the plan's");
  detail::check_matches_plan("linear_attention", a, plan.n_seqs, plan.dtype, plan.layout, plan.block_size);
  check_io_dtypes(a.q_dtype, a.kv.dtype, a.o_dtype);
  check(map.w() != nullptr && map.features() == plan.features && map.head_dim() == plan.head_dim,
        "linear_attention(): the feature map ({} features, head_dim {}) does not match the plan ({}, {})",
        map.features(), map.head_dim(), plan.features, plan.head_dim);
  check(map.x_scale() == plan.x_scale,
        "linear_attention(): the feature map was made for another scale (x_scale {} vs {})", map.x_scale(),
        plan.x_scale);
  const detail::AttnIoParams io = detail::check_io("linear_attention", p, a, ws, plan.workspace_bytes);
  if (state) {
    check(state->n_seqs() == plan.n_seqs && state->q_heads() == plan.q_heads && state->kv_heads() == plan.kv_heads &&
              state->head_dim() == plan.head_dim && state->features() == plan.features,
          "linear_attention(): final_state (n_seqs {}, heads {}/{}, head_dim {}, features {}) does not match the "
          "call ({}, {}/{}, {}, {})",
          state->n_seqs(), state->q_heads(), state->kv_heads(), state->head_dim(), state->features(), plan.n_seqs,
          plan.q_heads, plan.kv_heads, plan.head_dim, plan.features);
  }
  if (plan.n_seqs == 0) return;
  detail::check_batch_pointers("linear_attention", a);

  LinearFwdParams f;
  static_cast<detail::AttnIoParams&>(f) = io;
  f.dtype = a.q_dtype;
  f.d = p.head_dim;
  f.m = plan.features;
  f.causal = plan.causal;
  f.x_scale = map.x_scale();
  f.w = map.w();
  f.q_tokens = plan.q_tokens;
  f.segments = plan.segments;
  f.d_tiles = plan.d_tiles;
  char* base = static_cast<char*>(ws.data);
  f.uq = reinterpret_cast<float*>(base);
  f.qmax = reinterpret_cast<float*>(base + plan.off_qmax);
  f.uk = reinterpret_cast<float*>(base + plan.off_uk);
  f.kmax = reinterpret_cast<float*>(base + plan.off_kmax);
  f.seg_s = reinterpret_cast<float*>(base + plan.off_seg_s);
  f.seg_z = reinterpret_cast<float*>(base + plan.off_seg_z);
  f.seg_off = reinterpret_cast<float*>(base + plan.off_seg_off);
  if (state) {
    f.st_s = state->s();
    f.st_z = state->z();
    f.st_off = state->offset();
  }
  check_cuda(detail::launch_linear_features(f, plan.n_seqs, plan.max_kv_len, stream), "feature kernel launch");
  check_cuda(detail::launch_linear_scan(f, plan.n_seqs, stream), "scan kernel launch");
}

// ---- decode state --------------------------------------------------------------------------------

LinearDecodeState::LinearDecodeState(const AttentionParams& p, int32_t n_seqs)
    : n_seqs_(n_seqs), q_heads_(p.q_heads), kv_heads_(p.kv_heads), d_(p.head_dim), m_(p.linear.features),
      x_scale_(0.f) {
  check(n_seqs >= 0, "LinearDecodeState: n_seqs must be >= 0 (got {})", n_seqs);
  check(p.q_heads > 0 && p.kv_heads > 0, "LinearDecodeState: q_heads ({}) and kv_heads ({}) must be positive",
        p.q_heads, p.kv_heads);
  check(p.q_heads % p.kv_heads == 0, "LinearDecodeState: q_heads ({}) must be a multiple of kv_heads ({})",
        p.q_heads, p.kv_heads);
  check(p.mask.type == MaskType::none || p.mask.type == MaskType::causal,
        "LinearDecodeState: linear attention supports masks none and causal only (mask type {})", int(p.mask.type));
  check(p.softcap == 0.f, "LinearDecodeState: linear attention does not support softcap (got {})", p.softcap);
  check(std::isfinite(p.scale) && p.scale >= 0.f, "LinearDecodeState: scale must be finite and >= 0 (got {})",
        p.scale);
  check_head_dim(p.head_dim);
  check_features(p.linear.features);
  x_scale_ = std::sqrt(effective_scale(p));
  const size_t sg = size_t(n_seqs) * kv_heads_, slices = size_t(d_) / detail::kLinDecodeSlice;
  if (sg == 0) return;
  auto alloc = [&](float** ptr, size_t n, const char* what) {
    check_cuda(cudaMalloc(reinterpret_cast<void**>(ptr), n * sizeof(float)), what);
  };
  try {
    alloc(&s_, sg * m_ * d_, "cudaMalloc of the state S");
    alloc(&z_, sg * slices * m_, "cudaMalloc of the state z");
    alloc(&off_, sg * slices, "cudaMalloc of the state offsets");
    reset(nullptr);
    check_cuda(cudaStreamSynchronize(nullptr), "state reset");
  } catch (...) {
    if (s_) cudaFree(s_);
    if (z_) cudaFree(z_);
    if (off_) cudaFree(off_);
    throw;
  }
}

LinearDecodeState::~LinearDecodeState() {
  if (s_) cudaFree(s_);
  if (z_) cudaFree(z_);
  if (off_) cudaFree(off_);
}

size_t LinearDecodeState::state_bytes() const {
  const size_t sg = size_t(n_seqs_) * kv_heads_, slices = size_t(d_) / detail::kLinDecodeSlice;
  return sizeof(float) * (sg * m_ * d_ + sg * slices * m_ + sg * slices);
}

void LinearDecodeState::reset(cudaStream_t stream) {
  const size_t sg = size_t(n_seqs_) * kv_heads_, slices = size_t(d_) / detail::kLinDecodeSlice;
  check_cuda(detail::launch_linear_state_reset(s_, sg * m_ * d_, z_, sg * slices * m_, off_, sg * slices, stream),
             "state reset launch");
}

void LinearDecodeState::step(const LinearFeatureMap& map, const void* q, const void* k, const void* v, DType dtype,
                             void* o, DType o_dtype, float* lse, cudaStream_t stream) {
  check_io_dtypes(dtype, dtype, o_dtype);
  check(map.w() != nullptr && map.features() == m_ && map.head_dim() == d_,
        "LinearDecodeState::step: the feature map ({} features, head_dim {}) does not match the state ({}, {})",
        map.features(), map.head_dim(), m_, d_);
  check(map.x_scale() == x_scale_,
        "LinearDecodeState::step: the feature map was made for another scale (x_scale {} vs {})", map.x_scale(),
        x_scale_);
  check(q && k && v && o, "LinearDecodeState::step: q, k, v and o must all be non-null");
  check((reinterpret_cast<uintptr_t>(lse) & 3u) == 0, "LinearDecodeState::step: lse must be 4-byte aligned");
  detail::LinearDecodeParams d;
  d.q = q;
  d.k = k;
  d.v = v;
  d.o = o;
  d.lse = lse;
  d.dtype = dtype;
  d.o_dtype = o_dtype;
  d.q_heads = q_heads_;
  d.kv_heads = kv_heads_;
  d.group = q_heads_ / kv_heads_;
  d.d = d_;
  d.m = m_;
  d.n_seqs = n_seqs_;
  d.x_scale = x_scale_;
  d.w = map.w();
  d.s = s_;
  d.z = z_;
  d.off = off_;
  check_cuda(detail::launch_linear_decode(d, stream), "decode kernel launch");
}

}  // namespace eft::cuda
