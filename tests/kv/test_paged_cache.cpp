// PagedKvCache invariants checked against a simple model: each sequence is a vector of token
// values; after any sequence of create / append+write / fork / truncate / free (and failed
// appends), every live token read back through slot() holds what was written for that sequence,
// refcounts equal the number of table entries naming each block, and windowed layers hold exactly
// the blocks their window needs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "eft/error.h"
#include "eft/kv_cache.h"

using namespace eft;

namespace {

// Fresh per run (printed on failure); EFT_TEST_SEED=n replays a failing run.
bool under_sanitizer() { return std::getenv("EFT_TEST_SANITIZER") != nullptr; }
int random_reps() { return under_sanitizer() ? 2 : 4; }

uint64_t fresh_seed() {
  if (const char* e = std::getenv("EFT_TEST_SEED")) return std::strtoull(e, nullptr, 10);
  return std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
}

// Token rows: kv_heads = 1, head_dim = 2. K row = {value, layer}, V row = {-value, layer}.
struct Model {
  std::map<SeqId, std::vector<float>> tokens;            // written value of each token
  std::map<SeqId, std::vector<int32_t>> released;        // [n_groups] expected released blocks
};

struct Snapshot {
  std::map<SeqId, std::vector<std::vector<int32_t>>> tables;
  std::map<SeqId, int32_t> lengths;
  int32_t free_blocks = 0;
  std::vector<int32_t> refs;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const PagedKvCache& c) {
  Snapshot s;
  for (SeqId id : c.sequences()) {
    s.lengths[id] = c.length(id);
    for (int32_t g = 0; g < c.n_groups(); ++g) s.tables[id].push_back(c.block_ids(id, g));
  }
  s.free_blocks = c.free_blocks();
  const int32_t pages = c.total_blocks() + (c.null_block() >= 0 ? 1 : 0);
  for (int32_t b = 0; b < pages; ++b) s.refs.push_back(c.refcount(b));
  return s;
}

void write_tokens(PagedKvCache& c, SeqId s, int32_t t0, const std::vector<float>& vals) {
  const int32_t n = int32_t(vals.size());
  for (int32_t l = 0; l < c.config().n_layers; ++l) {
    std::vector<float> k(size_t(n) * 2), v(size_t(n) * 2);  // [n, 1, 2]
    for (int32_t i = 0; i < n; ++i) {
      k[size_t(i) * 2] = vals[size_t(i)];
      v[size_t(i) * 2] = -vals[size_t(i)];
      k[size_t(i) * 2 + 1] = v[size_t(i) * 2 + 1] = float(l);
    }
    c.write(l, s, t0, n, k.data(), v.data());
  }
}

// Every invariant; `where` names the step for failure messages.
void verify(const PagedKvCache& c, const Model& m, const std::string& where) {
  const KvCacheConfig& cfg = c.config();
  const int32_t bs = cfg.block_size;
  ASSERT_EQ(c.sequences().size(), m.tokens.size()) << where;
  const int32_t pages = c.total_blocks() + (c.null_block() >= 0 ? 1 : 0);
  std::vector<int32_t> refs(size_t(pages), 0);
  for (auto& [s, vals] : m.tokens) {
    ASSERT_EQ(c.length(s), int32_t(vals.size())) << where << " seq " << s;
    for (int32_t g = 0; g < c.n_groups(); ++g) {
      auto ids = c.block_ids(s, g);
      ASSERT_EQ(int32_t(ids.size()), (int32_t(vals.size()) + bs - 1) / bs) << where;
      const int32_t rel = c.released_blocks(s, g);
      ASSERT_EQ(rel, m.released.at(s)[size_t(g)]) << where << " seq " << s << " group " << g;
      const int32_t w = c.group_window(g);
      // The next queries (positions >= length) need keys >= length - w: they must be held.
      if (w > 0) {
        EXPECT_LE(int64_t(rel) * bs, std::max<int64_t>(0, int64_t(vals.size()) - w)) << where;
      }
      for (int32_t i = 0; i < int32_t(ids.size()); ++i) {
        if (i < rel) {
          ASSERT_EQ(ids[size_t(i)], c.null_block()) << where;
        } else {
          ASSERT_GE(ids[size_t(i)], 0) << where;
          ASSERT_NE(ids[size_t(i)], c.null_block()) << where;
          ++refs[size_t(ids[size_t(i)])];
        }
      }
    }
    for (int32_t l = 0; l < cfg.n_layers; ++l) {
      const int32_t g = c.group_of(l);
      const float* kp = static_cast<const float*>(c.k_pool(l));
      const float* vp = static_cast<const float*>(c.v_pool(l));
      for (int32_t t = 0; t < int32_t(vals.size()); ++t) {
        if (t / bs < c.released_blocks(s, g)) {
          EXPECT_THROW(c.slot(s, t, l), Error) << where;
          continue;
        }
        const int64_t r = c.slot(s, t, l);
        ASSERT_EQ(kp[r * 2], vals[size_t(t)]) << where << " seq " << s << " token " << t << " layer " << l;
        ASSERT_EQ(kp[r * 2 + 1], float(l)) << where;
        ASSERT_EQ(vp[r * 2], -vals[size_t(t)]) << where;
        ASSERT_EQ(vp[r * 2 + 1], float(l)) << where;
      }
    }
  }
  int32_t used = 0;
  for (int32_t b = 0; b < pages; ++b) {
    if (b == c.null_block()) continue;
    ASSERT_EQ(c.refcount(b), refs[size_t(b)]) << where << " block " << b;
    used += refs[size_t(b)] > 0;
  }
  ASSERT_EQ(c.used_blocks(), used) << where;
  ASSERT_EQ(c.used_blocks() + c.free_blocks(), c.total_blocks()) << where;
  if (c.null_block() >= 0) {
    // The null page stays zero: kernels may address it for masked-out positions.
    for (int32_t l = 0; l < cfg.n_layers; ++l)
      for (int32_t i = 0; i < bs * 2; ++i)
        ASSERT_EQ(static_cast<const float*>(c.k_pool(l))[int64_t(c.null_block()) * bs * 2 + i], 0.f) << where;
  }
}

void expected_release_on_append(const PagedKvCache& c, Model& m, SeqId s) {
  const int32_t L = int32_t(m.tokens[s].size()), bs = c.config().block_size;
  for (int32_t g = 0; g < c.n_groups(); ++g) {
    const int32_t w = c.group_window(g);
    if (w > 0 && L - w > 0) m.released[s][size_t(g)] = std::max(m.released[s][size_t(g)], (L - w) / bs);
  }
}

struct RandomOpsCase {
  std::vector<int32_t> windows;
  int32_t n_layers;
  int32_t block_size;
  int32_t n_blocks;
};

void run_random_ops(const RandomOpsCase& rc, uint64_t seed, int steps) {
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  KvCacheConfig cfg;
  cfg.n_layers = rc.n_layers;
  cfg.kv_heads = 1;
  cfg.head_dim = 2;
  cfg.block_size = rc.block_size;
  cfg.n_blocks = rc.n_blocks;
  cfg.layer_window = rc.windows;
  PagedKvCache c(cfg);
  Model m;
  float next_val = 1.f;
  int ooms = 0, refused_truncates = 0, forks = 0;
  auto pick = [&]() {
    auto it = m.tokens.begin();
    std::advance(it, ptrdiff_t(rng() % m.tokens.size()));
    return it->first;
  };
  for (int step = 0; step < steps; ++step) {
    const std::string where = "step " + std::to_string(step);
    const int op = int(rng() % 10);
    if (m.tokens.empty() || op == 0) {
      SeqId s = c.create();
      m.tokens[s] = {};
      m.released[s].assign(size_t(c.n_groups()), 0);
    } else if (op <= 4) {  // append + write
      SeqId s = pick();
      const int32_t n = int32_t(rng() % (2 * rc.block_size + 1));
      Snapshot before = snapshot(c);
      const bool predicted = c.can_append(s, n);
      const int32_t cost = c.append_cost(s, n), free_before = c.free_blocks();
      try {
        c.append(s, n);
        ASSERT_TRUE(predicted) << where << ": can_append said no but append succeeded";
        ASSERT_EQ(free_before - c.free_blocks(), cost) << where << ": append_cost";
      } catch (const OutOfMemory&) {
        ASSERT_FALSE(predicted) << where << ": can_append said yes but append ran out";
        ++ooms;
        ASSERT_TRUE(snapshot(c) == before) << where << ": OutOfMemory changed the cache";
        verify(c, m, where + " after OOM");
        // Preempt like a scheduler would: free a random sequence.
        SeqId victim = pick();
        c.free(victim);
        m.tokens.erase(victim);
        m.released.erase(victim);
        continue;
      }
      expected_release_on_append(c, m, s);
      std::vector<float> vals(static_cast<size_t>(n));
      for (float& v : vals) v = next_val++;
      write_tokens(c, s, int32_t(m.tokens[s].size()), vals);
      m.tokens[s].insert(m.tokens[s].end(), vals.begin(), vals.end());
    } else if (op <= 6) {  // fork
      SeqId p = pick();
      SeqId ch = c.fork(p);
      ++forks;
      m.tokens[ch] = m.tokens[p];
      m.released[ch] = m.released[p];
    } else if (op <= 8) {  // truncate (rollback)
      SeqId s = pick();
      const int32_t len = int32_t(m.tokens[s].size());
      const int32_t n = len ? int32_t(rng() % uint64_t(len + 1)) : 0;
      bool allowed = true;
      for (int32_t g = 0; g < c.n_groups(); ++g)
        if (n > 0 && int64_t(m.released[s][size_t(g)]) * rc.block_size > int64_t(n) - c.group_window(g)) allowed = false;
      Snapshot before = snapshot(c);
      if (!allowed) {
        EXPECT_THROW(c.truncate(s, n), Error) << where;
        ASSERT_TRUE(snapshot(c) == before) << where << ": refused truncate changed the cache";
        ++refused_truncates;
      } else {
        c.truncate(s, n);
        m.tokens[s].resize(size_t(n));
        if (n == 0) m.released[s].assign(size_t(c.n_groups()), 0);
      }
    } else {  // free
      SeqId s = pick();
      c.free(s);
      m.tokens.erase(s);
      m.released.erase(s);
    }
    verify(c, m, where);
    if (testing::Test::HasFatalFailure()) return;
  }
  for (SeqId s : c.sequences()) c.free(s);
  EXPECT_EQ(c.used_blocks(), 0);
  EXPECT_EQ(c.free_blocks(), c.total_blocks());
  const int32_t pages = c.total_blocks() + (c.null_block() >= 0 ? 1 : 0);
  for (int32_t b = 0; b < pages; ++b) EXPECT_EQ(c.refcount(b), 0) << "block " << b;
  // The random walk must have exercised the interesting paths.
  EXPECT_GT(ooms, 0);
  EXPECT_GT(forks, 0);
  testing::Test::RecordProperty("ooms", ooms);
  testing::Test::RecordProperty("refused_truncates", refused_truncates);
}

}  // namespace

TEST(PagedKvCache, RandomOpsNoWindows) {
  for (int rep = 0; rep < random_reps(); ++rep) run_random_ops({{}, 3, 4, 24}, fresh_seed(), 600);
}

TEST(PagedKvCache, RandomOpsInterleavedWindows) {
  // Classes: full {0, 3}, window 8 {1, 2, 4, 5} -> groups of 2 layers: one full, two local.
  for (int rep = 0; rep < random_reps(); ++rep) run_random_ops({{0, 8, 8, 0, 8, 8}, 6, 4, 20}, fresh_seed(), 600);
}

TEST(PagedKvCache, RandomOpsMixedWindowsPerLayer) {
  // Three window classes of one layer each: G = 1, a table per layer.
  for (int rep = 0; rep < random_reps(); ++rep) run_random_ops({{5, 0, 12}, 3, 3, 24}, fresh_seed(), 600);
}

TEST(PagedKvCache, LayerGroups) {
  KvCacheConfig cfg;
  cfg.n_layers = 18;
  cfg.kv_heads = 1;
  cfg.head_dim = 4;
  cfg.n_blocks = 10;
  cfg.layer_window.assign(18, 512);
  for (int l = 5; l < 18; l += 6) cfg.layer_window[size_t(l)] = 0;  // Gemma 3: every 6th layer global
  PagedKvCache c(cfg);
  EXPECT_EQ(c.layers_per_group(), 3);
  EXPECT_EQ(c.n_groups(), 6);
  EXPECT_EQ(c.group_window(c.group_of(5)), 0);
  EXPECT_EQ(c.group_window(c.group_of(0)), 512);
  EXPECT_EQ(c.group_of(5), c.group_of(11));
  EXPECT_NE(c.k_pool(5), c.k_pool(11));  // same group, different layer slots
  EXPECT_EQ(c.total_blocks(), 60);       // n_blocks all-layer blocks = 60 pages of 3 layers
  EXPECT_EQ(c.null_block(), 0);
  EXPECT_EQ(c.bytes_per_block(), 2 * 3 * 16 * 4 * 4);
  EXPECT_EQ(c.pool_bytes(), 61 * c.bytes_per_block());
  EXPECT_EQ(c.bytes_per_token(), 2 * 18 * 4 * 4);
}

TEST(PagedKvCache, ForkCopyOnWriteDiverges) {
  KvCacheConfig cfg{2, 1, 2, 4, 16, DType::f32, Device::cpu, {}};
  PagedKvCache c(cfg);
  SeqId a = c.create();
  c.append(a, 6);  // blocks: [0..3], [4..5 + 2 free rows]
  write_tokens(c, a, 0, {1, 2, 3, 4, 5, 6});
  SeqId b = c.fork(a);
  EXPECT_EQ(c.block_ids(a, 0), c.block_ids(b, 0));
  EXPECT_EQ(c.used_blocks(), 2);
  EXPECT_EQ(c.refcount(c.block_ids(a, 0)[1]), 2);
  // Writing a shared block directly is refused: it would change the other sequence.
  EXPECT_THROW(write_tokens(c, b, 5, {60}), Error);
  c.append(b, 1);  // tail shared -> copied
  EXPECT_EQ(c.used_blocks(), 3);
  EXPECT_EQ(c.block_ids(a, 0)[0], c.block_ids(b, 0)[0]);  // the full block stays shared
  EXPECT_NE(c.block_ids(a, 0)[1], c.block_ids(b, 0)[1]);
  write_tokens(c, b, 6, {70});
  c.append(a, 3);  // a's tail is now private: written in place, then a new block
  EXPECT_EQ(c.used_blocks(), 4);
  write_tokens(c, a, 6, {7, 8, 9});
  Model m;
  m.tokens[a] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  m.tokens[b] = {1, 2, 3, 4, 5, 6, 70};
  m.released[a] = m.released[b] = {0};
  verify(c, m, "diverged");
  c.free(a);
  EXPECT_EQ(c.refcount(c.block_ids(b, 0)[0]), 1);
  c.free(b);
  EXPECT_EQ(c.used_blocks(), 0);
}

TEST(PagedKvCache, OutOfMemoryLeavesCacheUnchanged) {
  KvCacheConfig cfg{1, 1, 2, 4, 3, DType::f32, Device::cpu, {}};
  PagedKvCache c(cfg);
  SeqId a = c.create();
  c.append(a, 10);  // 3 blocks: the pool is full
  EXPECT_EQ(c.free_blocks(), 0);
  Snapshot before = snapshot(c);
  EXPECT_THROW(c.append(a, 3), OutOfMemory);
  EXPECT_TRUE(snapshot(c) == before);
  c.append(a, 1);  // fits in the tail block (length 11)
  SeqId b = c.fork(a);
  before = snapshot(c);
  EXPECT_THROW(c.append(b, 1), OutOfMemory);  // the shared tail needs a copy: no page for it
  EXPECT_TRUE(snapshot(c) == before);
  c.truncate(a, 4);  // a drops blocks 1 and 2, but b still holds them
  EXPECT_EQ(c.free_blocks(), 0);
  c.free(b);
  EXPECT_EQ(c.free_blocks(), 2);
  c.append(a, 8);
  EXPECT_EQ(c.free_blocks(), 0);
}

TEST(PagedKvCache, SlidingWindowReleasesAndReusesBlocks) {
  // Layer 0 full, layer 1 window 8; block size 4 -> G = 1, two groups, one page per group per block.
  KvCacheConfig cfg{2, 1, 2, 4, 24, DType::f32, Device::cpu, {0, 8}};
  PagedKvCache c(cfg);
  const int32_t local = c.group_of(1), full = c.group_of(0);
  EXPECT_EQ(c.total_blocks(), 48);
  SeqId s = c.create();
  c.append(s, 20);  // prefill: queries 0..19 need everything
  EXPECT_EQ(c.released_blocks(s, local), 0);
  const std::vector<int32_t> first_local = c.block_ids(s, local);
  EXPECT_EQ(c.used_blocks(), 10);
  c.append(s, 1);   // decode at position 20 needs keys >= 12: blocks 0..2 (tokens 0..11) released
  EXPECT_EQ(c.released_blocks(s, local), 3);
  EXPECT_EQ(c.released_blocks(s, full), 0);
  EXPECT_EQ(c.used_blocks(), 10 + 1 + 1 - 3);  // new block in each group, three local blocks back
  auto ids = c.block_ids(s, local);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ids[size_t(i)], c.null_block());
  // Decode many steps: the local group holds at most ceil(8 / 4) + 2 blocks, the full group grows.
  for (int step = 0; step < 40; ++step) {
    c.append(s, 1);
    const int32_t len = c.length(s);
    const auto lid = c.block_ids(s, local);
    const int32_t held = int32_t(lid.size()) - c.released_blocks(s, local);
    EXPECT_LE(held, 4) << "len " << len;
    EXPECT_LE(int64_t(c.released_blocks(s, local)) * 4, len - 1 - 8);  // keys >= len-1-8 kept for the last query
  }
  // 61 tokens: the full group holds 16 pages, the local one 3 instead of 16.
  EXPECT_EQ(c.used_blocks(), 16 + 3);
  // Released pages are reused: a second sequence fills the pool and gets the pages the window gave back.
  const int32_t free_before = c.free_blocks();
  SeqId t = c.create();
  c.append(t, 4 * (free_before / 2));
  EXPECT_EQ(c.free_blocks(), free_before % 2);
  // Without the release, s alone would hold 2 x 16 pages: the two sequences would not fit.
  EXPECT_GT(2 * 16 + c.used_blocks() - 19, c.total_blocks());
  // The pages the window gave back were handed out again (to s's own new blocks or to t).
  int reused = 0;
  for (SeqId q : {s, t})
    for (int32_t g = 0; g < 2; ++g)
      for (int32_t id : c.block_ids(q, g)) reused += std::count(first_local.begin(), first_local.end(), id) > 0;
  EXPECT_EQ(reused, int(first_local.size()));
  // Speculative rollback to the length before the last append always works (drafts rejected).
  const int32_t len = c.length(s);
  c.append(s, 1);
  c.truncate(s, len);
  c.truncate(s, len - 1);  // the last append started at len - 1
  // Rolling back past released keys is refused.
  EXPECT_THROW(c.truncate(s, len - 9), Error);
  EXPECT_EQ(c.length(s), len - 1);
  c.truncate(s, 0);  // empty: nothing is needed any more
  EXPECT_EQ(c.released_blocks(s, local), 0);
  c.free(s);
  c.free(t);
  EXPECT_EQ(c.used_blocks(), 0);
}

TEST(PagedKvCache, WindowReleaseCanBeTurnedOff) {
  KvCacheConfig cfg{2, 1, 2, 4, 24, DType::f32, Device::cpu, {0, 8}};
  cfg.release_windows = false;
  PagedKvCache off(cfg);
  cfg.release_windows = true;
  PagedKvCache on(cfg);
  EXPECT_EQ(off.n_groups(), 1);
  EXPECT_EQ(off.null_block(), -1);
  EXPECT_EQ(off.pool_bytes() + on.bytes_per_block(), on.pool_bytes());  // same pool but the null page
  SeqId a = off.create(), b = on.create();
  for (int i = 0; i < 60; ++i) {
    off.append(a, 1);
    on.append(b, 1);
  }
  // 60 tokens = 15 all-layer blocks without release; with it the local layer holds 3 half-size pages.
  EXPECT_EQ(off.used_blocks() * off.bytes_per_block(), 15 * 4 * off.bytes_per_token());
  EXPECT_EQ(on.used_blocks(), 15 + 3);
  EXPECT_EQ(on.memory().used_bytes, (15 + 3) * 4 * on.bytes_per_token() / 2);
  cfg.layer_window = {0, -1};
  cfg.release_windows = false;
  EXPECT_THROW(PagedKvCache{cfg}, Error);  // still validated
}

TEST(PagedKvCache, MemoryAccounting) {
  KvCacheConfig cfg{4, 2, 8, 16, 64, DType::f16, Device::cpu, {}};
  PagedKvCache c(cfg);
  EXPECT_EQ(c.bytes_per_token(), 2 * 4 * 2 * 8 * 2);
  EXPECT_EQ(c.bytes_per_block(), 16 * c.bytes_per_token());
  EXPECT_EQ(c.pool_bytes(), 64 * c.bytes_per_block());
  std::vector<int32_t> lens{1, 17, 40, 100};
  for (int32_t n : lens) c.append(c.create(), n);
  KvMemoryStats m = c.memory();
  EXPECT_EQ(m.used_blocks, 1 + 2 + 3 + 7);
  EXPECT_EQ(m.logical_tokens, 158);
  EXPECT_EQ(m.filled_slots, 158);
  EXPECT_EQ(m.allocated_slots, 13 * 16);
  EXPECT_EQ(m.waste_slots, 13 * 16 - 158);  // < one block per sequence
  EXPECT_LT(m.waste_slots, 4 * 16);
  // A contiguous cache reserving 2048 tokens per request wastes almost all of it.
  EXPECT_EQ(m.contiguous_bytes(2048, c.bytes_per_token()) - m.logical_bytes, (4 * 2048 - 158) * c.bytes_per_token());
  // Sharing: a fork holds no new memory until it diverges.
  c.fork(c.sequences().back());
  KvMemoryStats m2 = c.memory();
  EXPECT_EQ(m2.used_blocks, m.used_blocks);
  EXPECT_EQ(m2.logical_tokens, 258);
  EXPECT_EQ(m2.filled_slots, 158);
}

TEST(PagedKvCache, BadInputsAreErrors) {
  KvCacheConfig cfg{2, 1, 2, 4, 4, DType::f32, Device::cpu, {}};
  PagedKvCache c(cfg);
  SeqId s = c.create();
  EXPECT_THROW(c.append(s, -1), Error);
  EXPECT_THROW(c.append(99, 1), Error);
  EXPECT_THROW(c.truncate(s, 1), Error);
  EXPECT_THROW(c.slot(s, 0), Error);
  EXPECT_THROW(c.k_pool(2), Error);
  EXPECT_THROW(c.batch_view({s, 7}), Error);
  KvCacheConfig bad = cfg;
  bad.block_size = 0;
  EXPECT_THROW(PagedKvCache{bad}, Error);
  bad = cfg;
  bad.layer_window = {0};
  EXPECT_THROW(PagedKvCache{bad}, Error);
  bad = cfg;
  bad.layer_window = {0, -3};
  EXPECT_THROW(PagedKvCache{bad}, Error);
  bad = cfg;
  bad.dtype = DType::i32;
  EXPECT_THROW(PagedKvCache{bad}, Error);
}

namespace {
// A stand-in "device": host memory behind the device allocator and copy hooks, to check the
// cuda plumbing (pools allocated through the hook, copy-on-write through the copy hook).
int g_copies = 0, g_zeros = 0;
void* fake_alloc(size_t n) { return std::malloc(n); }
void fake_free(void* p) { std::free(p); }
void fake_copy(void* d, const void* s, size_t n) { ++g_copies; std::memcpy(d, s, n); }
void fake_zero(void* d, size_t n) { ++g_zeros; std::memset(d, 0, n); }
}  // namespace

TEST(PagedKvCache, DevicePoolsNeedCopyHooks) {
  KvCacheConfig cfg{2, 1, 2, 4, 4, DType::f32, Device::cuda, {0, 4}};
  set_device_allocator({fake_alloc, fake_free});
  set_kv_device_ops({});
  EXPECT_THROW(PagedKvCache{cfg}, Error);
  set_kv_device_ops({fake_copy, fake_zero});
  {
    PagedKvCache c(cfg);
    EXPECT_EQ(g_zeros, 2);  // null page of K and V, one layer slot
    SeqId a = c.create();
    c.append(a, 3);
    c.fork(a);
    c.append(a, 1);  // copy-on-write in both groups: K and V
    EXPECT_EQ(g_copies, 4);
    EXPECT_THROW(write_tokens(c, a, 3, {1}), Error);  // host writes into device pools are refused
  }
  set_kv_device_ops({});
  set_device_allocator({});
}
