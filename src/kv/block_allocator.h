#pragma once
// Block allocator over a fixed pool of page ids: a free list plus a reference count per page.
// Pages [0, first_usable) are reserved (the null page) and never handed out.
#include <cstdint>
#include <vector>

namespace eft::kv {

class BlockAllocator {
 public:
  BlockAllocator(int32_t n_pages, int32_t first_usable);

  // A fresh page with refcount 1. The caller checks free_count() first (the cache plans every
  // allocation before it changes anything, so running out here is a logic error and throws).
  int32_t alloc();
  void retain(int32_t id);          // refcount + 1 (fork shares a page)
  bool release(int32_t id);         // refcount - 1; true when the page went back to the free list
  int32_t refcount(int32_t id) const;

  int32_t free_count() const { return int32_t(free_.size()); }
  int32_t usable() const { return n_pages_ - first_usable_; }
  int32_t used_count() const { return usable() - free_count(); }
  int32_t n_pages() const { return n_pages_; }
  bool usable_id(int32_t id) const { return id >= first_usable_ && id < n_pages_; }

 private:
  int32_t n_pages_;
  int32_t first_usable_;
  std::vector<int32_t> free_;  // stack of free ids; LIFO so a just-freed (cache-warm) page is reused first
  std::vector<int32_t> refs_;  // [n_pages]
};

}  // namespace eft::kv
