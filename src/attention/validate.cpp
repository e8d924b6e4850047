// Validation of one attention call: every error names the field and the bad value.
#include <cmath>

#include "eft/attention.h"
#include "eft/error.h"

namespace eft {

std::string_view method_name(AttnMethod m) {
  switch (m) {
    case AttnMethod::standard: return "standard";
    case AttnMethod::flash: return "flash";
    case AttnMethod::sparse: return "sparse";
    case AttnMethod::linear: return "linear";
  }
  return "?";
}

AttnMethod method_from_name(std::string_view n) {
  for (AttnMethod m : {AttnMethod::standard, AttnMethod::flash, AttnMethod::sparse, AttnMethod::linear})
    if (method_name(m) == n) return m;
  fail("unknown attention method '{}' (expected standard, flash, sparse or linear)", n);
}

namespace {
bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

void validate_mask(const Mask& m, bool host) {
  switch (m.type) {
    case MaskType::none:
    case MaskType::causal: break;
    case MaskType::window:
      check(m.left >= -1 && m.right >= -1, "mask.window: negative window extent (left={}, right={})", m.left, m.right);
      break;
    case MaskType::strided:
      check(m.stride > 0, "mask.stride must be positive for a strided mask (got {})", m.stride);
      check(m.left >= -1 && m.right >= -1, "mask.strided: negative local window (left={}, right={})", m.left, m.right);
      break;
    case MaskType::longformer:
      check(m.left >= -1 && m.right >= -1, "mask.longformer: negative local window (left={}, right={})", m.left, m.right);
      check(m.n_global >= 0, "mask.n_global is negative ({})", m.n_global);
      check(m.n_global == 0 || m.global != nullptr, "mask.global is null with n_global={}", m.n_global);
      if (host)
        for (int32_t g = 0; g < m.n_global; ++g) {
          check(m.global[g] >= 0, "mask.global[{}] = {} is negative", g, m.global[g]);
          check(g == 0 || m.global[g] > m.global[g - 1],
                "mask.global must be sorted ascending without duplicates (global[{}] = {} after {})", g,
                m.global[g], m.global[g - 1]);
        }
      break;
    case MaskType::block_sparse:
      check(m.block > 0, "mask.block must be positive for a block-sparse mask (got {})", m.block);
      check(m.n_qb > 0 && m.n_kb > 0, "mask block layout is empty ({} x {})", m.n_qb, m.n_kb);
      check(m.layout != nullptr, "mask.layout is null for a block-sparse mask");
      break;
  }
}
}  // namespace

void validate_attention(const AttentionParams& p, const AttentionArgs& a, bool host) {
  check(p.head_dim > 0, "head_dim must be positive (got {})", p.head_dim);
  check(p.q_heads > 0, "q_heads must be positive (got {})", p.q_heads);
  check(p.kv_heads > 0, "kv_heads must be positive (got {})", p.kv_heads);
  check(p.q_heads % p.kv_heads == 0, "q_heads ({}) must be a multiple of kv_heads ({})", p.q_heads, p.kv_heads);
  check(std::isfinite(p.scale) && p.scale >= 0.f, "scale must be finite and >= 0 (0 = 1/sqrt(head_dim)); got {}", p.scale);
  check(std::isfinite(p.softcap) && p.softcap >= 0.f, "softcap must be finite and >= 0; got {}", p.softcap);
  check(is_float(a.q_dtype), "Q dtype {} is not a float type", dtype_name(a.q_dtype));
  check(is_float(a.kv.dtype), "K/V dtype {} is not a float type", dtype_name(a.kv.dtype));
  check(is_float(a.o_dtype), "O dtype {} is not a float type", dtype_name(a.o_dtype));
  check(a.q != nullptr, "args.q (Q) is null");
  check(a.kv.k != nullptr, "args.kv.k (K) is null");
  check(a.kv.v != nullptr, "args.kv.v (V) is null");
  check(a.o != nullptr, "args.o (O) is null");
  const int64_t qrow = int64_t(p.q_heads) * p.head_dim, kvrow = int64_t(p.kv_heads) * p.head_dim;
  check(a.q_row_stride == 0 || a.q_row_stride >= qrow, "q_row_stride {} < q_heads*head_dim {}", a.q_row_stride, qrow);
  check(a.o_row_stride == 0 || a.o_row_stride >= qrow, "o_row_stride {} < q_heads*head_dim {}", a.o_row_stride, qrow);
  check(a.kv.row_stride == 0 || a.kv.row_stride >= kvrow, "kv.row_stride {} < kv_heads*head_dim {}", a.kv.row_stride, kvrow);
  validate_mask(p.mask, host);
  if (p.method == AttnMethod::linear) {
    check(p.mask.type == MaskType::none || p.mask.type == MaskType::causal,
          "linear attention supports masks none and causal only");
    check(p.linear.features > 0, "linear.features must be positive (got {})", p.linear.features);
    check(p.softcap == 0.f, "linear attention does not support softcap");
  }

  const SeqBatch& b = a.batch;
  check(b.n_seqs >= 0, "batch.n_seqs is negative ({})", b.n_seqs);
  if (b.n_seqs == 0) return;
  check(b.q_start && b.kv_len, "batch.q_start and batch.kv_len must be set");
  if (a.kv.layout == KvLayout::contiguous) {
    check(a.kv.kv_start != nullptr, "kv.kv_start must be set for a contiguous KV view");
  } else {
    check(a.kv.block_table != nullptr, "kv.block_table must be set for a paged KV view");
    check(a.kv.block_size > 0, "kv.block_size must be positive (got {})", a.kv.block_size);
    check(a.kv.max_blocks > 0, "kv.max_blocks must be positive (got {})", a.kv.max_blocks);
    check(a.kv.n_blocks > 0, "kv.n_blocks must be positive (got {})", a.kv.n_blocks);
  }
  if (!host) return;
  check(b.q_start[0] == 0, "batch.q_start[0] must be 0 (got {})", b.q_start[0]);
  for (int32_t s = 0; s < b.n_seqs; ++s) {
    const int32_t q_len = b.q_start[s + 1] - b.q_start[s];
    const int32_t kv_len = b.kv_len[s];
    check(q_len >= 0, "batch.q_start is not ascending at sequence {} ({} then {})", s, b.q_start[s], b.q_start[s + 1]);
    check(kv_len >= 0, "batch.kv_len[{}] is negative ({})", s, kv_len);
    const int64_t pos0 = b.q_pos0 ? b.q_pos0[s] : int64_t(kv_len) - q_len;
    check(pos0 >= 0, "sequence {}: first query position {} is negative (q_len {} > kv_len {}?)", s, pos0, q_len, kv_len);
    if (a.kv.layout == KvLayout::contiguous) {
      check(a.kv.kv_start[s] >= 0, "kv.kv_start[{}] is negative ({})", s, a.kv.kv_start[s]);
    } else {
      const int64_t need = (int64_t(kv_len) + a.kv.block_size - 1) / a.kv.block_size;
      check(need <= a.kv.max_blocks, "sequence {}: kv_len {} needs {} blocks but the block table has {}", s, kv_len,
            need, a.kv.max_blocks);
      for (int64_t i = 0; i < need; ++i) {
        const int32_t blk = a.kv.block_table[int64_t(s) * a.kv.max_blocks + i];
        check(blk >= 0 && blk < a.kv.n_blocks, "block_table[{}][{}] = {} points outside the pool of {} blocks", s, i,
              blk, a.kv.n_blocks);
      }
    }
    if (p.mask.type == MaskType::longformer && p.mask.n_global > 0) {
      const int64_t span = std::max<int64_t>(kv_len, pos0 + q_len);
      check(p.mask.global[p.mask.n_global - 1] < span,
            "mask.global position {} is out of range for sequence {} of length {}", p.mask.global[p.mask.n_global - 1],
            s, span);
    }
    if (p.mask.type == MaskType::block_sparse) {
      const int64_t qb = q_len ? (pos0 + q_len - 1) / p.mask.block + 1 : 0;
      const int64_t kb = kv_len ? (int64_t(kv_len) - 1) / p.mask.block + 1 : 0;
      check(qb <= p.mask.n_qb && kb <= p.mask.n_kb,
            "sequence {}: block layout {}x{} is too small for {} query and {} key blocks", s, p.mask.n_qb, p.mask.n_kb,
            qb, kb);
    }
  }
}

}  // namespace eft
