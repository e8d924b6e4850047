#pragma once
// Runs an AttnCase (tests/common/attn_case.h) on the GPU: host case -> device copies -> poisoned
// output -> eft::cuda::attention -> host doubles. The plan is made from the host copies of the
// batch metadata, the launch gets the device copies, as the API asks.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/attn_case.h"
#include "eft/attention_cuda.h"
#include "eft/error.h"

namespace eft::test {

#define EFT_CUDA_OK(expr)                                                              \
  do {                                                                                 \
    cudaError_t e_ = (expr);                                                           \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_);             \
  } while (0)

// Owning device buffer (test helper only).
struct DevBuf {
  void* p = nullptr;
  size_t bytes = 0;
  DevBuf() = default;
  explicit DevBuf(size_t n) : bytes(n) {
    if (n && cudaMalloc(&p, n) != cudaSuccess) p = nullptr;
  }
  DevBuf(const void* host, size_t n) : DevBuf(n) {
    if (p && n) cudaMemcpy(p, host, n, cudaMemcpyHostToDevice);
  }
  ~DevBuf() { if (p) cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(p); }
};
template <typename T>
std::unique_ptr<DevBuf> upload(const std::vector<T>& v) {
  return std::make_unique<DevBuf>(v.data(), v.size() * sizeof(T));
}

// The bounds on relative L2 error against the float64 reference.
inline double tol(DType t) { return t == DType::bf16 ? 5e-3 : 1e-3; }

// A spec with inputs and output in dt, q_heads / kv_heads heads of head_dim D.
inline AttnCaseSpec base_spec(int D, DType dt, int qh, int kvh) {
  AttnCaseSpec s;
  s.head_dim = D;
  s.dtype = dt;
  s.o_dtype = dt;
  s.q_heads = qh;
  s.kv_heads = kvh;
  return s;
}

// True when the planner picks a Hopper (wgmma) main loop for a plain prefill on this device and
// build: compute capability 9.0 and code built for sm_90a. Then wgmma and wgmma_ws can be forced.
inline bool hopper_loops_usable() {
  AttnCase c = make_case(base_spec(128, DType::bf16, 2, 2), 1);
  return cuda::plan_attention(c.params, c.args(), {.kernel = cuda::AttnKernel::prefill}).main_loop !=
         cuda::MainLoop::mma_sync;
}

// The message of the eft::Error that f() throws, "" when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct GpuResult {
  std::vector<double> out;  // [q_tokens, q_heads, D]
  std::vector<float> lse;   // [q_tokens, q_heads]
  cuda::AttentionPlan plan;
};

// Device mirror of a case; `q_pos0` (optional, host) sets explicit query positions.
struct DeviceCase {
  AttnCase& c;
  std::vector<int32_t> q_pos0;
  std::unique_ptr<DevBuf> q, k, v, o, lse, q_start, kv_len, pos0, kv_start, block_table, global, layout;

  explicit DeviceCase(AttnCase& cs, std::vector<int32_t> pos = {}) : c(cs), q_pos0(std::move(pos)) {
    q = upload(c.q);
    k = upload(c.k);
    v = upload(c.v);
    o = std::make_unique<DevBuf>(std::max<size_t>(c.o.size(), 16));
    lse = std::make_unique<DevBuf>(std::max<size_t>(size_t(c.q_tokens) * c.spec.q_heads * 4, 16));
    q_start = upload(c.q_start);
    kv_len = upload(c.kv_len);
    if (!q_pos0.empty()) pos0 = upload(q_pos0);
    if (c.spec.paged) block_table = upload(c.block_table);
    else kv_start = upload(c.kv_start);
    if (!c.spec.global.empty()) global = upload(c.spec.global);
    if (!c.spec.layout.empty()) layout = upload(c.spec.layout);
  }
  AttentionArgs host_args() {
    AttentionArgs a = c.args();
    if (!q_pos0.empty()) a.batch.q_pos0 = q_pos0.data();
    return a;
  }
  AttentionArgs dev_args() {
    AttentionArgs a = host_args();
    a.q = q->p;
    a.kv.k = k->p;
    a.kv.v = v->p;
    a.o = o->p;
    a.lse = lse->as<float>();
    a.batch.q_start = q_start->as<int32_t>();
    a.batch.kv_len = kv_len->as<int32_t>();
    a.batch.q_pos0 = pos0 ? pos0->as<int32_t>() : nullptr;
    if (c.spec.paged) a.kv.block_table = block_table->as<int32_t>();
    else a.kv.kv_start = kv_start->as<int32_t>();
    return a;
  }
  AttentionParams dev_params() const {
    AttentionParams p = c.params;
    if (global) p.mask.global = global->as<int32_t>();
    if (layout) p.mask.layout = layout->as<uint8_t>();
    return p;
  }
  // Plans on the host copies, poisons O / LSE / workspace with NaN, launches, copies back.
  void run(const cuda::AttentionPlanOptions& opt, GpuResult& r, cudaStream_t stream = nullptr) {
    r.plan = cuda::plan_attention(c.params, host_args(), opt);
    DevBuf ws(r.plan.workspace_bytes);
    ASSERT_TRUE(r.plan.workspace_bytes == 0 || ws.p);
    EFT_CUDA_OK(cudaMemset(o->p, 0xff, o->bytes));  // 0xffff.. is NaN in f32, f16 and bf16
    EFT_CUDA_OK(cudaMemset(lse->p, 0xff, lse->bytes));
    if (ws.p) EFT_CUDA_OK(cudaMemset(ws.p, 0xff, ws.bytes));
    cuda::attention(dev_params(), dev_args(), r.plan, cuda::Workspace{ws.p, ws.bytes}, stream);
    EFT_CUDA_OK(cudaStreamSynchronize(stream));
    EFT_CUDA_OK(cudaGetLastError());
    read_back(r);
  }
  void read_back(GpuResult& r) {
    EFT_CUDA_OK(cudaMemcpy(c.o.data(), o->p, c.o.size(), cudaMemcpyDeviceToHost));
    r.out = c.out_f64();
    r.lse.resize(size_t(c.q_tokens) * c.spec.q_heads);
    EFT_CUDA_OK(cudaMemcpy(r.lse.data(), lse->p, r.lse.size() * 4, cudaMemcpyDeviceToHost));
  }
  // float64 reference (and its LSE) for the same call.
  void reference(std::vector<double>& out, std::vector<double>& ref_lse) {
    AttentionParams p = c.params;
    p.method = AttnMethod::standard;
    out.assign(size_t(c.out_elems()), 0.0);
    ref_lse.assign(size_t(c.q_tokens) * c.spec.q_heads, 0.0);
    attention_reference(p, host_args(), out.data(), ref_lse.data());
  }
};

// Captures launch(stream) in a CUDA graph, poisons O and LSE with NaN, replays the graph once and
// reads the result back into r: a captured launch must read nothing at capture time that the
// replay would not see.
template <typename Launch>
void replay_captured(DeviceCase& d, Launch&& launch, GpuResult& r) {
  cudaStream_t st;
  EFT_CUDA_OK(cudaStreamCreate(&st));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  EFT_CUDA_OK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
  launch(st);
  EFT_CUDA_OK(cudaStreamEndCapture(st, &graph));
  EFT_CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  EFT_CUDA_OK(cudaMemset(d.o->p, 0xff, d.o->bytes));
  EFT_CUDA_OK(cudaMemset(d.lse->p, 0xff, d.lse->bytes));
  EFT_CUDA_OK(cudaGraphLaunch(exec, st));
  EFT_CUDA_OK(cudaStreamSynchronize(st));
  d.read_back(r);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
}

}  // namespace eft::test
