#pragma once
// Counter: a monotonic counter split into cache-line-sized cells, one per thread (threads are
// spread over the cells round-robin). Threads incrementing at once touch different cache lines, so
// a pool's fast path can count every acquisition without the cores fighting over one line; load()
// sums the cells (a moment-in-between view while increments land, never an invalid one).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cortex::metrics {

class Counter {
 public:
  void fetch_add(std::uint64_t n, std::memory_order = std::memory_order_relaxed) noexcept {
    cells_[cell_index()].v.fetch_add(n, std::memory_order_relaxed);
  }
  Counter& operator+=(std::uint64_t n) noexcept {
    fetch_add(n);
    return *this;
  }
  std::uint64_t load(std::memory_order = std::memory_order_relaxed) const noexcept {
    std::uint64_t sum = 0;
    for (const auto& c : cells_) sum += c.v.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  static constexpr std::size_t kCells = 16;
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> v{0};
  };
  /// This thread's cell: assigned once per thread, round-robin, shared by every Counter.
  static std::size_t cell_index() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kCells;
    return mine;
  }
  std::array<Cell, kCells> cells_{};
};

}  // namespace cortex::metrics
