// Fixed-size blocks from slabs mapped for them (slab_pool.hpp).
#include "runtime/slab_pool.hpp"

#include <sys/mman.h>

namespace skein::runtime {

SlabPool::SlabPool(std::size_t block_size) : block_size_(block_size) {}

void* SlabPool::allocate() {
  std::lock_guard lock(mutex_);
  ++in_use_;
  if (free_) {
    FreeBlock* block = free_;
    free_ = block->next;
    return block;
  }
  if (cursor_ == nullptr || static_cast<std::size_t>(end_ - cursor_) < block_size_) {
    // Mapped apart from the heap; pages become resident as blocks use them.
    void* slab =
        ::mmap(nullptr, kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED) {
      --in_use_;
      throw std::bad_alloc();
    }
    cursor_ = static_cast<std::byte*>(slab);
    end_ = cursor_ + kSlabBytes;
  }
  void* block = cursor_;
  cursor_ += block_size_;
  return block;
}

void SlabPool::deallocate(void* block) noexcept {
  std::lock_guard lock(mutex_);
  --in_use_;
  auto* free = static_cast<FreeBlock*>(block);
  free->next = free_;
  free_ = free;
}

std::size_t SlabPool::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

}  // namespace skein::runtime
