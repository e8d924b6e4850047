// PagedKvCache with its pools on the GPU: the CUDA backend's copy/zero hooks (src/kv/cuda/) do the
// copy-on-write of a forked sequence's shared tail block and zero the null page. Rows are written
// and read back with plain cudaMemcpy at the addresses slot() names, so what is checked is the
// device memory itself, not the cache's bookkeeping.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "eft/kv_cache.h"

namespace eft::test {
namespace {

#define EFT_KV_CUDA_OK(expr)                                                  \
  do {                                                                        \
    const cudaError_t e_ = (expr);                                            \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_);    \
  } while (0)

// Two layers, the second windowed (w = 4), so the pool has a null page that released blocks of
// that layer point at. kv_heads 2 x head_dim 8: a row is 16 floats.
KvCacheConfig config() {
  KvCacheConfig c;
  c.n_layers = 2;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.block_size = 4;
  c.n_blocks = 8;
  c.dtype = DType::f32;
  c.device = Device::cuda;
  c.layer_window = {0, 4};
  return c;
}

// The value stored for (sequence tag, layer, token, element): distinct for every row written.
float value(int tag, int layer, int t, int e) { return float(tag * 10000 + layer * 1000 + t * 20 + e); }

std::byte* row_addr(const PagedKvCache& c, void* pool, int64_t slot) {
  return static_cast<std::byte*>(pool) + slot * c.row_elems() * int64_t(sizeof(float));
}

// Writes token t of s in `layer`: K = value, V = -value.
void write_row(const PagedKvCache& c, SeqId s, int layer, int t, int tag) {
  const int64_t n = c.row_elems();
  std::vector<float> k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) {
    k[size_t(e)] = value(tag, layer, t, int(e));
    v[size_t(e)] = -k[size_t(e)];
  }
  const int64_t slot = c.slot(s, t, layer);
  const size_t bytes = size_t(n) * sizeof(float);
  EFT_KV_CUDA_OK(cudaMemcpy(row_addr(c, c.k_pool(layer), slot), k.data(), bytes, cudaMemcpyHostToDevice));
  EFT_KV_CUDA_OK(cudaMemcpy(row_addr(c, c.v_pool(layer), slot), v.data(), bytes, cudaMemcpyHostToDevice));
}

// Checks token t of s in `layer` holds the row write_row(.., tag) stored.
void expect_row(const PagedKvCache& c, SeqId s, int layer, int t, int tag, const char* what) {
  const int64_t n = c.row_elems();
  std::vector<float> k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  const int64_t slot = c.slot(s, t, layer);
  const size_t bytes = size_t(n) * sizeof(float);
  EFT_KV_CUDA_OK(cudaMemcpy(k.data(), row_addr(c, c.k_pool(layer), slot), bytes, cudaMemcpyDeviceToHost));
  EFT_KV_CUDA_OK(cudaMemcpy(v.data(), row_addr(c, c.v_pool(layer), slot), bytes, cudaMemcpyDeviceToHost));
  for (int64_t e = 0; e < n; ++e) {
    ASSERT_EQ(k[size_t(e)], value(tag, layer, t, int(e))) << what << ": K, seq " << s << " layer " << layer
                                                          << " token " << t << " element " << e;
    ASSERT_EQ(v[size_t(e)], -value(tag, layer, t, int(e))) << what << ": V, seq " << s << " layer " << layer
                                                           << " token " << t << " element " << e;
  }
}

// Every byte of page `page` in the K and V pools of `layer`, read back to the host.
std::vector<float> page_contents(const PagedKvCache& c, int layer, int32_t page, bool v) {
  const int64_t n = c.row_elems() * c.config().block_size;
  std::vector<float> out(static_cast<size_t>(n), -1.f);
  void* pool = v ? c.v_pool(layer) : c.k_pool(layer);
  const cudaError_t e = cudaMemcpy(out.data(), row_addr(c, pool, int64_t(page) * c.config().block_size),
                                   size_t(n) * sizeof(float), cudaMemcpyDeviceToHost);
  EXPECT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
  return out;
}

TEST(CudaKvCache, ForkCopiesTheSharedTailBlockOnTheDevice) {
  PagedKvCache c(config());
  const SeqId a = c.create();
  c.append(a, 6);  // block 0 full, block 1 holds tokens 4 and 5
  for (int l = 0; l < 2; ++l)
    for (int t = 0; t < 6; ++t) write_row(c, a, l, t, 1);
  const SeqId b = c.fork(a);
  c.append(b, 1);  // b's tail block is shared: copy-on-write through the device copy hook
  for (int l = 0; l < 2; ++l) write_row(c, b, l, 6, 2);

  for (int32_t g = 0; g < c.n_groups(); ++g) {
    const auto pa = c.block_ids(a, g), pb = c.block_ids(b, g);
    ASSERT_EQ(pa.size(), 2u);
    ASSERT_EQ(pb.size(), 2u);
    EXPECT_EQ(pa[0], pb[0]) << "the full block stays shared";
    EXPECT_NE(pa[1], pb[1]) << "the tail block was copied";
    EXPECT_EQ(c.refcount(pa[0]), 2);
    EXPECT_EQ(c.refcount(pa[1]), 1);
  }
  for (int l = 0; l < 2; ++l) {
    // The fork's copy holds the parent's rows (copied on the device) and its own new row.
    for (int t = 0; t < 6; ++t) expect_row(c, b, l, t, 1, "fork, copied row");
    expect_row(c, b, l, 6, 2, "fork, new row");
    // The parent's block is unchanged: its rows, and no trace of the fork's write in its page.
    for (int t = 0; t < 6; ++t) expect_row(c, a, l, t, 1, "parent");
    const std::vector<float> parent_tail = page_contents(c, l, c.block_ids(a, c.group_of(l))[1], false);
    const int64_t row = c.row_elems();
    for (int64_t e = 0; e < row; ++e)
      EXPECT_NE(parent_tail[size_t(2 * row + e)], value(2, l, 6, int(e))) << "fork's row leaked into the parent";
  }
}

TEST(CudaKvCache, NullPageReadsAsZeros) {
  // Fill a first cache's pools with 0xFF bytes and free them: the allocator usually hands the same
  // memory to the next cache of the same shape, so its null page is zero only if the zero hook ran.
  {
    PagedKvCache dirty(config());
    // pool_bytes covers K and V of the G layer slots; each layer's pool is one slot tensor.
    const size_t bytes = size_t(dirty.pool_bytes()) / 2 / size_t(dirty.layers_per_group());
    for (int l = 0; l < dirty.config().n_layers; ++l) {
      EFT_KV_CUDA_OK(cudaMemset(dirty.k_pool(l), 0xFF, bytes));
      EFT_KV_CUDA_OK(cudaMemset(dirty.v_pool(l), 0xFF, bytes));
    }
    EFT_KV_CUDA_OK(cudaDeviceSynchronize());
  }
  PagedKvCache c(config());
  const int32_t null = c.null_block();
  ASSERT_GE(null, 0) << "a windowed layer must give the pool a null page";
  const int windowed = 1;
  for (bool v : {false, true})
    for (float x : page_contents(c, windowed, null, v)) ASSERT_EQ(x, 0.f) << (v ? "V" : "K") << " null page";

  // Grow a sequence past the window: its first block of the windowed layer is released and its
  // table entry names the null page, which still reads as zeros through slot()'s addresses.
  const SeqId s = c.create();
  c.append(s, 10);
  for (int t = 0; t < 10; ++t) write_row(c, s, windowed, t, 3);
  c.append(s, 1);  // length 10, window 4: tokens 0..3 can no longer be attended to
  ASSERT_EQ(c.released_blocks(s, c.group_of(windowed)), 1);
  EXPECT_EQ(c.block_ids(s, c.group_of(windowed))[0], null);
  for (bool v : {false, true})
    for (float x : page_contents(c, windowed, null, v)) ASSERT_EQ(x, 0.f) << (v ? "V" : "K") << " null page";
  for (int t = 4; t < 10; ++t) expect_row(c, s, windowed, t, 3, "rows inside the window");
}

}  // namespace
}  // namespace eft::test
