// PagedKvCache: block tables per (sequence, layer group) over one page pool with reference counts.
// Design notes live at the top of include/eft/kv_cache.h. Not thread-safe: one owner (the
// scheduler) mutates it between forward passes.
#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <memory>

#include "eft/error.h"
#include "eft/kv_cache.h"
#include "kv/block_allocator.h"
#include "kv/device_copy.h"
#include "kv/layer_groups.h"

namespace eft {

namespace {
struct SeqState {
  int32_t len = 0;
  std::vector<std::vector<int32_t>> table;  // [n_groups][ceil(len / block_size)] page ids
  std::vector<int32_t> released;            // [n_groups] leading blocks released by the window
};

int32_t ceil_div(int64_t a, int64_t b) { return int32_t((a + b - 1) / b); }
}  // namespace

struct PagedKvCache::Impl {
  KvCacheConfig cfg;
  kv::LayerGroups groups;
  int32_t n_pages = 0;
  int32_t null_page = -1;
  kv::BlockAllocator alloc;
  std::vector<Tensor> k, v;  // [G] each [n_pages, block_size, kv_heads, head_dim]
  std::map<SeqId, SeqState> seqs;
  SeqId next_id = 0;
  int64_t row_bytes = 0;     // one token row of one layer: kv_heads * head_dim * dtype size

  Impl(const KvCacheConfig& c, kv::LayerGroups g, int32_t pages, int32_t null_id)
      : cfg(c), groups(std::move(g)), n_pages(pages), null_page(null_id), alloc(pages, null_id + 1) {}

  SeqState& seq(SeqId s, const char* op) {
    auto it = seqs.find(s);
    if (it == seqs.end()) fail("PagedKvCache::{}: unknown sequence id {}", op, s);
    return it->second;
  }
  const SeqState& seq(SeqId s, const char* op) const { return const_cast<Impl*>(this)->seq(s, op); }

  void check_layer(int32_t layer, const char* op) const {
    check(layer >= 0 && layer < cfg.n_layers, "PagedKvCache::{}: layer {} outside [0, {})", op, layer, cfg.n_layers);
  }

  std::byte* page_base(const Tensor& t, int32_t page) const {
    return static_cast<std::byte*>(t.data()) + int64_t(page) * cfg.block_size * row_bytes;
  }

  // Copy-on-write: the first `rows` token rows of page src into page dst, in every layer of the group.
  void copy_page_rows(int32_t dst, int32_t src, int32_t rows) {
    const size_t bytes = size_t(rows) * size_t(row_bytes);
    for (int32_t j = 0; j < groups.group_size; ++j) {
      kv::copy_kv_rows(cfg.device, page_base(k[size_t(j)], dst), page_base(k[size_t(j)], src), bytes);
      kv::copy_kv_rows(cfg.device, page_base(v[size_t(j)], dst), page_base(v[size_t(j)], src), bytes);
    }
  }

  void release_entry(int32_t page) {
    if (page != null_page) alloc.release(page);
  }
};

PagedKvCache::PagedKvCache(const KvCacheConfig& c) : impl_(nullptr) {
  check(c.kv_heads > 0, "KvCacheConfig.kv_heads must be positive (got {})", c.kv_heads);
  check(c.head_dim > 0, "KvCacheConfig.head_dim must be positive (got {})", c.head_dim);
  check(c.block_size > 0, "KvCacheConfig.block_size must be positive (got {})", c.block_size);
  check(c.n_blocks > 0, "KvCacheConfig.n_blocks must be positive (got {})", c.n_blocks);
  check(c.dtype == DType::f32 || c.dtype == DType::f16 || c.dtype == DType::bf16,
        "KvCacheConfig.dtype must be f32, f16 or bf16 (got {})", dtype_name(c.dtype));
  if (c.device == Device::cuda) kv::require_device_ops();
  // Windows still validated when release is off; grouping then ignores them (all layers full).
  kv::LayerGroups g = kv::make_layer_groups(c.n_layers, c.layer_window);
  if (!c.release_windows) g = kv::make_layer_groups(c.n_layers, {});
  const bool windows = g.any_window();
  const int64_t pages = int64_t(c.n_blocks) * g.n_groups() + (windows ? 1 : 0);
  check(pages <= INT32_MAX, "KvCacheConfig.n_blocks {} x {} layer groups overflows the page id range", c.n_blocks,
        g.n_groups());
  const int32_t null_id = windows ? 0 : -1;
  auto im = std::make_unique<Impl>(c, std::move(g), int32_t(pages), null_id);
  im->row_bytes = int64_t(c.kv_heads) * c.head_dim * int64_t(dtype_size(c.dtype));
  for (int32_t j = 0; j < im->groups.group_size; ++j) {
    im->k.emplace_back(Shape{pages, c.block_size, c.kv_heads, c.head_dim}, c.dtype, c.device);
    im->v.emplace_back(Shape{pages, c.block_size, c.kv_heads, c.head_dim}, c.dtype, c.device);
  }
  if (windows) {
    const size_t bytes = size_t(c.block_size) * size_t(im->row_bytes);
    for (int32_t j = 0; j < im->groups.group_size; ++j) {
      kv::zero_kv_rows(c.device, im->page_base(im->k[size_t(j)], null_id), bytes);
      kv::zero_kv_rows(c.device, im->page_base(im->v[size_t(j)], null_id), bytes);
    }
  }
  impl_ = im.release();
}

PagedKvCache::~PagedKvCache() { delete impl_; }

const KvCacheConfig& PagedKvCache::config() const { return impl_->cfg; }

SeqId PagedKvCache::create() {
  check(impl_->next_id < INT32_MAX, "PagedKvCache::create: sequence ids exhausted");
  SeqId id = impl_->next_id++;
  SeqState st;
  st.table.resize(size_t(impl_->groups.n_groups()));
  st.released.assign(size_t(impl_->groups.n_groups()), 0);
  impl_->seqs.emplace(id, std::move(st));
  return id;
}

bool PagedKvCache::contains(SeqId s) const { return impl_->seqs.count(s) != 0; }

std::vector<SeqId> PagedKvCache::sequences() const {
  std::vector<SeqId> r;
  for (auto& [id, st] : impl_->seqs) r.push_back(id);
  return r;
}

void PagedKvCache::free(SeqId s) {
  SeqState& st = impl_->seq(s, "free");
  for (auto& tab : st.table)
    for (int32_t page : tab) impl_->release_entry(page);
  impl_->seqs.erase(s);
}

SeqId PagedKvCache::fork(SeqId parent) {
  const SeqState& p = impl_->seq(parent, "fork");
  check(impl_->next_id < INT32_MAX, "PagedKvCache::fork: sequence ids exhausted");
  SeqState child = p;  // same pages; each gains a reference
  for (auto& tab : child.table)
    for (int32_t page : tab)
      if (page != impl_->null_page) impl_->alloc.retain(page);
  SeqId id = impl_->next_id++;
  impl_->seqs.emplace(id, std::move(child));
  return id;
}

namespace {
struct AppendPlan {
  std::vector<int32_t> new_released;  // [n_groups]
  int32_t need = 0;                   // pages to allocate (new blocks + copy-on-write)
  int32_t gain = 0;                   // pages that window releases give back to the free list
};

// What append(s, n) would do, without doing it.
AppendPlan plan_append(const kv::LayerGroups& groups, const kv::BlockAllocator& alloc, const SeqState& st,
                              int32_t bs, int32_t n) {
  const int32_t L = st.len, L2 = L + n, G = groups.n_groups();
  AppendPlan plan;
  plan.new_released.resize(size_t(G));
  for (int32_t g = 0; g < G; ++g) {
    const auto& tab = st.table[size_t(g)];
    const int32_t w = groups.window[size_t(g)];
    int32_t rel = st.released[size_t(g)];
    // Queries of this append sit at positions >= L and need keys >= L - w: blocks wholly below go.
    if (w > 0 && L - w > 0) rel = std::max(rel, (L - w) / bs);
    plan.new_released[size_t(g)] = rel;
    for (int32_t i = st.released[size_t(g)]; i < rel; ++i)
      if (alloc.refcount(tab[size_t(i)]) == 1) ++plan.gain;
    if (n > 0 && L % bs != 0 && alloc.refcount(tab.back()) > 1) ++plan.need;  // copy-on-write of the tail
    plan.need += ceil_div(L2, bs) - ceil_div(L, bs);
  }
  return plan;
}
}  // namespace

int32_t PagedKvCache::append_cost(SeqId s, int32_t n) const {
  const SeqState& st = impl_->seq(s, "append_cost");
  check(n >= 0 && int64_t(st.len) + n <= INT32_MAX, "PagedKvCache::append_cost: n = {} invalid for length {}", n,
        st.len);
  AppendPlan plan = plan_append(impl_->groups, impl_->alloc, st, impl_->cfg.block_size, n);
  return plan.need - plan.gain;
}

bool PagedKvCache::can_append(SeqId s, int32_t n) const { return append_cost(s, n) <= free_blocks(); }

void PagedKvCache::append(SeqId s, int32_t n) {
  Impl& im = *impl_;
  SeqState& st = im.seq(s, "append");
  check(n >= 0, "PagedKvCache::append: n = {} is negative (sequence {})", n, s);
  check(int64_t(st.len) + n <= INT32_MAX, "PagedKvCache::append: length {} + {} overflows (sequence {})", st.len, n, s);
  const int32_t bs = im.cfg.block_size, L = st.len, L2 = L + n;
  const int32_t G = im.groups.n_groups();

  // Plan first (nothing changes until we know the pool can hold it).
  const AppendPlan plan = plan_append(im.groups, im.alloc, st, bs, n);
  const std::vector<int32_t>& new_released = plan.new_released;
  if (plan.need > im.alloc.free_count() + plan.gain)
    throw OutOfMemory(fmt::format(
        "KV cache out of blocks: sequence {} (length {}) needs {} more pages for {} tokens; {} free of {} "
        "(+{} released by sliding windows)",
        s, L, plan.need, n, im.alloc.free_count(), im.alloc.usable(), plan.gain));

  // Releases of every group first: the allocations below may count on those pages.
  for (int32_t g = 0; g < G; ++g) {
    auto& tab = st.table[size_t(g)];
    for (int32_t i = st.released[size_t(g)]; i < new_released[size_t(g)]; ++i) {
      im.release_entry(tab[size_t(i)]);
      tab[size_t(i)] = im.null_page;  // stays a valid id: attention may address it (masked out)
    }
    st.released[size_t(g)] = new_released[size_t(g)];
  }
  for (int32_t g = 0; g < G; ++g) {
    auto& tab = st.table[size_t(g)];
    if (n > 0 && L % bs != 0 && im.alloc.refcount(tab.back()) > 1) {
      const int32_t fresh = im.alloc.alloc();
      im.copy_page_rows(fresh, tab.back(), L % bs);
      im.alloc.release(tab.back());  // still held by the other sharers
      tab.back() = fresh;
    }
    for (int32_t i = ceil_div(L, bs); i < ceil_div(L2, bs); ++i) tab.push_back(im.alloc.alloc());
  }
  st.len = L2;
}

void PagedKvCache::truncate(SeqId s, int32_t new_len) {
  Impl& im = *impl_;
  SeqState& st = im.seq(s, "truncate");
  check(new_len >= 0 && new_len <= st.len, "PagedKvCache::truncate: new_len {} outside [0, {}] (sequence {})", new_len,
        st.len, s);
  const int32_t bs = im.cfg.block_size, G = im.groups.n_groups();
  if (new_len > 0)
    for (int32_t g = 0; g < G; ++g) {
      const int32_t w = im.groups.window[size_t(g)];
      // Later queries (positions >= new_len) need keys >= new_len - w, which must still be held.
      check(int64_t(st.released[size_t(g)]) * bs <= int64_t(new_len) - w,
            "PagedKvCache::truncate: sequence {} to {} tokens needs keys from {} for window {} (layer group {}), "
            "but tokens below {} were already released",
            s, new_len, new_len - w, w, g, int64_t(st.released[size_t(g)]) * bs);
    }
  const int32_t keep = ceil_div(new_len, bs);
  for (int32_t g = 0; g < G; ++g) {
    auto& tab = st.table[size_t(g)];
    for (size_t i = size_t(keep); i < tab.size(); ++i) im.release_entry(tab[i]);
    tab.resize(size_t(keep));
    if (new_len == 0) st.released[size_t(g)] = 0;
  }
  st.len = new_len;
}

int32_t PagedKvCache::length(SeqId s) const { return impl_->seq(s, "length").len; }

int64_t PagedKvCache::slot(SeqId s, int32_t t, int32_t layer) const {
  const Impl& im = *impl_;
  im.check_layer(layer, "slot");
  const SeqState& st = im.seq(s, "slot");
  check(t >= 0 && t < st.len, "PagedKvCache::slot: token {} outside [0, {}) of sequence {}", t, st.len, s);
  const int32_t g = im.groups.group_of_layer[size_t(layer)], bs = im.cfg.block_size;
  check(t / bs >= st.released[size_t(g)],
        "PagedKvCache::slot: token {} of sequence {} was released by layer {}'s window {}", t, s, layer,
        im.groups.window[size_t(g)]);
  return int64_t(st.table[size_t(g)][size_t(t / bs)]) * bs + t % bs;
}

int64_t PagedKvCache::slot(SeqId s, int32_t t) const { return slot(s, t, 0); }

void* PagedKvCache::k_pool(int32_t layer) const {
  impl_->check_layer(layer, "k_pool");
  return impl_->k[size_t(impl_->groups.slot_of_layer[size_t(layer)])].data();
}

void* PagedKvCache::v_pool(int32_t layer) const {
  impl_->check_layer(layer, "v_pool");
  return impl_->v[size_t(impl_->groups.slot_of_layer[size_t(layer)])].data();
}

int64_t PagedKvCache::row_elems() const { return int64_t(impl_->cfg.kv_heads) * impl_->cfg.head_dim; }

void PagedKvCache::write(int32_t layer, SeqId s, int32_t t0, int32_t n, const void* k, const void* v) {
  Impl& im = *impl_;
  im.check_layer(layer, "write");
  check(im.cfg.device == Device::cpu, "PagedKvCache::write: the pools live on {}; write them with a device kernel",
        im.cfg.device == Device::cuda ? "cuda" : "?");
  const SeqState& st = im.seq(s, "write");
  check(n >= 0 && t0 >= 0 && int64_t(t0) + n <= st.len,
        "PagedKvCache::write: tokens [{}, {}) outside the length {} of sequence {} (append first)", t0,
        int64_t(t0) + n, st.len, s);
  check(n == 0 || (k && v), "PagedKvCache::write: k and v must be non-null");
  const int32_t g = im.groups.group_of_layer[size_t(layer)], bs = im.cfg.block_size;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t t = t0 + i;
    const int32_t idx = t / bs;
    if (idx < st.released[size_t(g)]) continue;  // outside the window: nothing will read it
    const int32_t page = st.table[size_t(g)][size_t(idx)];
    // Writing a shared page would change what another sequence sees.
    check(im.alloc.refcount(page) == 1,
          "PagedKvCache::write: token {} of sequence {} lies in block {} shared by {} sequences (only tokens "
          "appended since the last fork may be written)",
          t, s, page, im.alloc.refcount(page));
    const int64_t off = (int64_t(page) * bs + t % bs) * im.row_bytes;
    const size_t j = size_t(im.groups.slot_of_layer[size_t(layer)]);
    std::memcpy(static_cast<std::byte*>(im.k[j].data()) + off, static_cast<const std::byte*>(k) + i * im.row_bytes,
                size_t(im.row_bytes));
    std::memcpy(static_cast<std::byte*>(im.v[j].data()) + off, static_cast<const std::byte*>(v) + i * im.row_bytes,
                size_t(im.row_bytes));
  }
}

int32_t PagedKvCache::n_groups() const { return impl_->groups.n_groups(); }
int32_t PagedKvCache::group_of(int32_t layer) const {
  impl_->check_layer(layer, "group_of");
  return impl_->groups.group_of_layer[size_t(layer)];
}
int32_t PagedKvCache::group_window(int32_t group) const {
  check(group >= 0 && group < n_groups(), "PagedKvCache::group_window: group {} outside [0, {})", group, n_groups());
  return impl_->groups.window[size_t(group)];
}
int32_t PagedKvCache::layers_per_group() const { return impl_->groups.group_size; }
int32_t PagedKvCache::null_block() const { return impl_->null_page; }

std::vector<int32_t> PagedKvCache::block_ids(SeqId s, int32_t group) const {
  check(group >= 0 && group < n_groups(), "PagedKvCache::block_ids: group {} outside [0, {})", group, n_groups());
  return impl_->seq(s, "block_ids").table[size_t(group)];
}

int32_t PagedKvCache::released_blocks(SeqId s, int32_t group) const {
  check(group >= 0 && group < n_groups(), "PagedKvCache::released_blocks: group {} outside [0, {})", group,
        n_groups());
  return impl_->seq(s, "released_blocks").released[size_t(group)];
}

int32_t PagedKvCache::refcount(int32_t block) const { return impl_->alloc.refcount(block); }

PagedKvCache::BatchView PagedKvCache::batch_view(const std::vector<SeqId>& seqs) const {
  const Impl& im = *impl_;
  BatchView bv;
  const int32_t bs = im.cfg.block_size, G = im.groups.n_groups();
  bv.max_blocks = 1;  // attention validation wants a positive table width even for empty sequences
  for (SeqId s : seqs) bv.max_blocks = std::max(bv.max_blocks, ceil_div(im.seq(s, "batch_view").len, bs));
  const size_t width = size_t(bv.max_blocks);
  bv.tables.assign(size_t(G), std::vector<int32_t>(seqs.size() * width, -1));
  bv.kv_len.resize(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SeqState& st = im.seq(seqs[i], "batch_view");
    bv.kv_len[i] = st.len;
    for (int32_t g = 0; g < G; ++g) std::copy(st.table[size_t(g)].begin(), st.table[size_t(g)].end(), bv.tables[size_t(g)].begin() + ptrdiff_t(i * width));
  }
  bv.block_table = bv.tables[size_t(im.groups.group_of_layer[0])];
  return bv;
}

KvView PagedKvCache::BatchView::kv(int32_t layer, const PagedKvCache& c) const {
  const Impl& im = *c.impl_;
  im.check_layer(layer, "BatchView::kv");
  check(int32_t(tables.size()) == im.groups.n_groups(),
        "PagedKvCache::BatchView::kv: view has {} group tables but the cache has {} groups (built by another cache?)",
        tables.size(), im.groups.n_groups());
  KvView kv;
  kv.layout = KvLayout::paged;
  kv.dtype = im.cfg.dtype;
  kv.k = c.k_pool(layer);
  kv.v = c.v_pool(layer);
  kv.row_stride = 0;
  kv.block_table = tables[size_t(im.groups.group_of_layer[size_t(layer)])].data();
  kv.max_blocks = max_blocks;
  kv.block_size = im.cfg.block_size;
  kv.n_blocks = im.n_pages;
  return kv;
}

int32_t PagedKvCache::free_blocks() const { return impl_->alloc.free_count(); }
int32_t PagedKvCache::used_blocks() const { return impl_->alloc.used_count(); }
int32_t PagedKvCache::total_blocks() const { return impl_->alloc.usable(); }
int64_t PagedKvCache::bytes_per_block() const {
  return 2 * int64_t(impl_->groups.group_size) * impl_->cfg.block_size * impl_->row_bytes;
}
int64_t PagedKvCache::pool_bytes() const { return int64_t(impl_->n_pages) * bytes_per_block(); }
int64_t PagedKvCache::bytes_per_token() const { return 2 * int64_t(impl_->cfg.n_layers) * impl_->row_bytes; }

KvMemoryStats PagedKvCache::memory() const {
  const Impl& im = *impl_;
  KvMemoryStats m;
  m.total_blocks = total_blocks();
  m.used_blocks = used_blocks();
  m.free_blocks = free_blocks();
  m.block_bytes = bytes_per_block();
  m.pool_bytes = pool_bytes();
  m.used_bytes = int64_t(m.used_blocks) * m.block_bytes;
  const int32_t bs = im.cfg.block_size;
  std::vector<int32_t> rows(size_t(im.n_pages), 0);  // [n_pages] highest filled row count of each page
  for (auto& [id, st] : im.seqs) {
    ++m.n_seqs;
    m.max_len = std::max(m.max_len, st.len);
    m.logical_tokens += st.len;
    for (size_t g = 0; g < st.table.size(); ++g)
      for (int32_t i = st.released[g]; i < int32_t(st.table[g].size()); ++i) {
        const int32_t r = std::min(bs, st.len - i * bs);
        rows[size_t(st.table[g][size_t(i)])] = std::max(rows[size_t(st.table[g][size_t(i)])], r);
      }
  }
  m.allocated_slots = int64_t(m.used_blocks) * bs;
  for (int32_t page = 0; page < im.n_pages; ++page)
    if (page != im.null_page) m.filled_slots += rows[size_t(page)];
  m.waste_slots = m.allocated_slots - m.filled_slots;
  m.waste_bytes = m.waste_slots * m.block_bytes / bs;
  m.logical_bytes = m.logical_tokens * bytes_per_token();
  return m;
}

}  // namespace eft
