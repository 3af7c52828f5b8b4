// SlabPool: fixed-size blocks carved from slabs of their own, for the few
// objects a node keeps one of per connection (an MQTT device's session,
// connection and socket stream), of which there may be a million.
//
// Why not malloc: each malloc'd block carries a header and rounds up to 16
// bytes, and long-lived blocks end up interleaved with the short-lived ones
// of the same moment (a burst of handshakes: coroutine frames, CONNECT
// packets, read buffers), whose holes then stay resident between them. In
// slabs of their own, blocks pack end to end and the general heap keeps
// only what is short-lived, which it gives back.
//
// Freed blocks are reused for the next object of the same size; slabs are
// not returned to the system (a node keeps room for its peak). Thread-safe:
// a block may be freed on another thread than the one that took it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>

namespace skein::runtime {

class SlabPool {
 public:
  // The process-wide pool for blocks of `Size` bytes (never destroyed:
  // objects may die during static destruction).
  template <std::size_t Size>
  static SlabPool& of() {
    static SlabPool* pool = new SlabPool(Size);
    return *pool;
  }

  explicit SlabPool(std::size_t block_size);
  SlabPool(const SlabPool&) = delete;
  SlabPool& operator=(const SlabPool&) = delete;

  void* allocate();
  void deallocate(void* block) noexcept;

  std::size_t block_size() const { return block_size_; }
  // Blocks handed out and not yet given back (for tests and metrics).
  std::size_t in_use() const;

  static constexpr std::size_t kSlabBytes = 256 * 1024;

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  const std::size_t block_size_;
  mutable std::mutex mutex_;
  FreeBlock* free_ = nullptr;
  std::byte* cursor_ = nullptr;  // the unused rest of the newest slab
  std::byte* end_ = nullptr;
  std::size_t in_use_ = 0;
};

// Under AddressSanitizer blocks come from the heap, where it watches them.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kPlainHeap = true;
#else
inline constexpr bool kPlainHeap = false;
#endif

// An allocator for std::allocate_shared (and containers of one element at a
// time) drawing single objects from the SlabPool of their size.
template <class T>
struct SlabAllocator {
  using value_type = T;

  SlabAllocator() = default;
  template <class U>
  SlabAllocator(const SlabAllocator<U>&) noexcept {}  // NOLINT: rebinding converts implicitly

  static_assert(alignof(T) <= alignof(std::max_align_t));

  T* allocate(std::size_t n) {
    if (n != 1 || kPlainHeap) return std::allocator<T>().allocate(n);
    return static_cast<T*>(SlabPool::of<block_size()>().allocate());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n != 1 || kPlainHeap) return std::allocator<T>().deallocate(p, n);
    SlabPool::of<block_size()>().deallocate(p);
  }

  friend bool operator==(const SlabAllocator&, const SlabAllocator&) { return true; }

 private:
  // Whole multiples of the alignment of T and of a pointer (a free block
  // holds the next one): every block of a slab is then aligned for both.
  static constexpr std::size_t block_size() {
    constexpr std::size_t align = alignof(T) > alignof(void*) ? alignof(T) : alignof(void*);
    return (sizeof(T) + align - 1) / align * align;
  }
};

}  // namespace skein::runtime
