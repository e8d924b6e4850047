#include "attention/cuda/launch_checks.h"

#include "eft/cuda.h"
#include "eft/error.h"

namespace eft::cuda::detail {

int planning_sms(int requested) {
  constexpr int kDefaultSms = 132;
  return requested > 0 ? requested : (sm_count() > 0 ? sm_count() : kDefaultSms);
}

void check_matches_plan(const char* who, const AttentionArgs& a, int32_t n_seqs, DType dtype, KvLayout layout,
                        int32_t block_size) {
  check(a.batch.n_seqs == n_seqs, "{}(): batch.n_seqs {} differs from the plan's {}", who, a.batch.n_seqs, n_seqs);
  check(a.q_dtype == dtype && a.kv.dtype == dtype, "{}(): Q/K/V dtype {}/{} differs from the plan's {}", who,
        dtype_name(a.q_dtype), dtype_name(a.kv.dtype), dtype_name(dtype));
  check(a.kv.layout == layout, "{}(): KV layout differs from the plan's", who);
  check(layout != KvLayout::paged || a.kv.block_size == block_size, "{}(): kv.block_size {} differs from the plan's {}",
        who, a.kv.block_size, block_size);
}

AttnIoParams check_io(const char* who, const AttentionParams& p, const AttentionArgs& a, Workspace ws, size_t need) {
  check(a.q && a.kv.k && a.kv.v && a.o, "{}(): Q, K, V and O must all be non-null", who);
  check(aligned16(a.q) && aligned16(a.kv.k) && aligned16(a.kv.v) && aligned16(a.o),
        "{}(): Q, K, V and O must be 16-byte aligned (q={}, k={}, v={}, o={})", who, a.q, a.kv.k, a.kv.v,
        static_cast<const void*>(a.o));
  const int64_t qrow = int64_t(p.q_heads) * p.head_dim, kvrow = int64_t(p.kv_heads) * p.head_dim;
  AttnIoParams io;
  io.q_stride = a.q_row_stride ? a.q_row_stride : qrow;
  io.o_stride = a.o_row_stride ? a.o_row_stride : qrow;
  io.kv_stride = a.kv.row_stride ? a.kv.row_stride : kvrow;
  check(io.q_stride % 8 == 0 && io.o_stride % 8 == 0 && io.kv_stride % 8 == 0,
        "{}(): row strides must be multiples of 8 elements (q {}, kv {}, o {})", who, io.q_stride, io.kv_stride,
        io.o_stride);
  check((reinterpret_cast<uintptr_t>(a.lse) & 3u) == 0, "{}(): lse must be 4-byte aligned", who);
  check(ws.bytes >= need, "{}(): workspace of {} bytes is smaller than the {} the plan needs", who, ws.bytes, need);
  check(need == 0 || (ws.data && aligned16(ws.data)), "{}(): workspace pointer must be non-null and 16-byte aligned",
        who);
  io.q = a.q;
  io.k = a.kv.k;
  io.v = a.kv.v;
  io.o = a.o;
  io.lse = a.lse;
  io.q_heads = p.q_heads;
  io.kv_heads = p.kv_heads;
  io.group = p.kv_heads > 0 ? p.q_heads / p.kv_heads : 1;  // heads were validated by the planner
  io.o_dtype = a.o_dtype;
  io.kv = a.kv;
  io.block_shift = block_shift(a.kv);
  io.batch = a.batch;
  return io;
}

void check_batch_pointers(const char* who, const AttentionArgs& a) {
  check(a.batch.q_start && a.batch.kv_len, "{}(): batch.q_start and batch.kv_len must be set", who);
  check(a.kv.layout == KvLayout::contiguous ? a.kv.kv_start != nullptr : a.kv.block_table != nullptr,
        "{}(): kv.kv_start (contiguous) or kv.block_table (paged) must be set", who);
}

int32_t block_shift(const KvView& kv) {
  if (kv.layout != KvLayout::paged || kv.block_size <= 0 || (kv.block_size & (kv.block_size - 1)) != 0) return -1;
  return __builtin_ctz(unsigned(kv.block_size));
}

}  // namespace eft::cuda::detail
