#include "kv/block_allocator.h"

#include "eft/error.h"

namespace eft::kv {

BlockAllocator::BlockAllocator(int32_t n_pages, int32_t first_usable)
    : n_pages_(n_pages), first_usable_(first_usable), refs_(size_t(n_pages), 0) {
  check(first_usable >= 0 && first_usable <= n_pages, "BlockAllocator: first_usable {} outside [0, {}]", first_usable,
        n_pages);
  free_.reserve(size_t(n_pages - first_usable));
  // Pushed in reverse so the first allocations hand out ascending ids (readable in tests/dumps).
  for (int32_t id = n_pages - 1; id >= first_usable; --id) free_.push_back(id);
}

int32_t BlockAllocator::alloc() {
  check(!free_.empty(), "BlockAllocator: no free page (caller must plan allocations first)");
  int32_t id = free_.back();
  free_.pop_back();
  refs_[size_t(id)] = 1;
  return id;
}

void BlockAllocator::retain(int32_t id) {
  check(usable_id(id) && refs_[size_t(id)] > 0, "BlockAllocator: retain of page {} that is not allocated", id);
  ++refs_[size_t(id)];
}

bool BlockAllocator::release(int32_t id) {
  check(usable_id(id) && refs_[size_t(id)] > 0, "BlockAllocator: release of page {} that is not allocated", id);
  if (--refs_[size_t(id)] > 0) return false;
  free_.push_back(id);
  return true;
}

int32_t BlockAllocator::refcount(int32_t id) const {
  check(id >= 0 && id < n_pages_, "BlockAllocator: page id {} outside the pool of {}", id, n_pages_);
  return refs_[size_t(id)];
}

}  // namespace eft::kv
