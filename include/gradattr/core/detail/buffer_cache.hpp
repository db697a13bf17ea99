#pragma once
// A cache of freed large buffers (docs/architecture.md, "Memory"), so that a call repeated with
// the same shapes reuses its big tensors instead of mapping fresh pages.
//
// glibc serves an allocation from 32 MiB up (the largest threshold mallopt allows) with its own
// mmap and unmaps it on free; touching it again costs a page fault per 4 KiB. VGG19's recorded
// pass with weight gradients allocates ~480 MB that way on every call (fc6's and fc7's weight
// gradients): 124k minor faults per call. With the cache, a freed buffer of at least
// kMinBytes is kept (up to a byte budget, oldest evicted first) and handed out again to the
// next request of the same rounded size.
//
// Off (budget 0) unless enabled: gradattr::tune_allocator_for_tensors() turns it on where glibc's
// settings apply, i.e. not under a sanitizer, which should see every free. Thread-safe (one
// mutex; taken only for buffers of 32 MiB and more, a few per call).
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace gradattr::detail {

class BufferCache {
 public:
  static constexpr std::size_t kMinBytes = std::size_t{32} << 20;
  static constexpr std::size_t kGranule = std::size_t{1} << 20;  // sizes rounded up to 1 MiB

  static BufferCache& instance() noexcept {
    static BufferCache cache;
    return cache;
  }

  // bytes rounded as the cache stores them (requests below kMinBytes unchanged).
  static std::size_t rounded(std::size_t bytes) noexcept {
    return bytes < kMinBytes ? bytes : (bytes + kGranule - 1) / kGranule * kGranule;
  }

  // A block of exactly `bytes` (already rounded) from the cache, or null.
  void* take(std::size_t bytes) noexcept {
    if (bytes < kMinBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = blocks_.size(); i-- > 0;) {  // newest first: warmest pages
      if (blocks_[i].bytes != bytes) continue;
      void* p = blocks_[i].ptr;
      blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
      cached_ -= bytes;
      ++hits_;
      return p;
    }
    return nullptr;
  }

  // Keeps p (a block of `bytes` from aligned_alloc) for reuse, or frees it.
  void give_back(void* p, std::size_t bytes) noexcept {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes <= budget_) {
        while (cached_ + bytes > budget_) evict_oldest();
        try {
          blocks_.push_back({p, bytes});
          cached_ += bytes;
          return;
        } catch (const std::bad_alloc&) {
          // fall through: free it
        }
      }
    }
    std::free(p);
  }

  // The most bytes kept; 0 turns the cache off and frees what it holds.
  void set_budget(std::size_t bytes) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    budget_ = bytes;
    while (cached_ > budget_) evict_oldest();
  }
  std::size_t budget() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return budget_;
  }
  std::size_t cached_bytes() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }
  std::size_t hits() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
  }

  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;

 private:
  BufferCache() = default;
  ~BufferCache() {
    for (const auto& b : blocks_) std::free(b.ptr);
  }
  void evict_oldest() noexcept {  // requires: mutex_ held, blocks_ not empty when cached_ > 0
    if (blocks_.empty()) return;
    std::free(blocks_.front().ptr);
    cached_ -= blocks_.front().bytes;
    blocks_.erase(blocks_.begin());
  }

  struct Block {
    void* ptr;
    std::size_t bytes;
  };
  mutable std::mutex mutex_;
  std::vector<Block> blocks_;  // oldest first
  std::size_t budget_ = 0, cached_ = 0, hits_ = 0;
};

}  // namespace gradattr::detail
