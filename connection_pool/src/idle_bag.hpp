#pragma once
// IdleBag: the pool's lock-free fast lane. Idle connections returned while nobody waits are parked
// in one of a fixed number of cache-line-sized cells; an acquirer takes one back without the
// pool's mutex. Each thread starts at the cell it used last, so threads that acquire and release
// in a loop each keep to their own cell and share no cache line — the idea of HikariCP's
// ConcurrentBag (thread-local hand-back), done with a fixed array and one state byte per cell.
//
// The gate keeps the FIFO guarantee and makes wakeups impossible to lose: anyone who needs the
// locked slow path (a caller about to wait, shutdown, maintenance, a drain for wait_quiet) closes
// the gate first, then drains the bag under the pool's lock. While the gate is closed nobody
// parks or takes. A release that parked just as the gate closed sees it (both sides use
// sequentially consistent operations: the parker's store then gate load against the closer's
// gate increment then cell load — one of the two always sees the other) and takes its item back
// to release it through the slow path, where the oldest waiter gets it.
//
// T is a movable handle (the pool's shared_ptr to a slot). Thread-safe.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace cortex::pool {

template <class T>
class IdleBag {
 public:
  explicit IdleBag(std::size_t capacity) : n_(capacity ? capacity : 1), cells_(new Cell[n_]) {}

  /// Takes a parked item, unless the gate is closed or the bag is empty.
  std::optional<T> try_take() noexcept {
    if (gate_.load() != 0) return std::nullopt;
    const std::size_t start = hint() % n_;
    for (std::size_t k = 0; k < n_; ++k) {
      const std::size_t i = (start + k) % n_;
      if (auto item = take_at(i)) {
        hint() = i;
        return item;
      }
    }
    return std::nullopt;
  }

  /// Parks `item` when the gate is open. False: `item` holds an item (this one, or one taken back
  /// after the gate closed meanwhile) that the caller must release through the slow path.
  bool try_park(T& item) noexcept {
    if (gate_.load() != 0) return false;
    const std::size_t start = hint() % n_;
    for (std::size_t k = 0; k < n_; ++k) {
      const std::size_t i = (start + k) % n_;
      std::uint8_t expect = kEmpty;
      if (cells_[i].state.load(std::memory_order_relaxed) != kEmpty ||
          !cells_[i].state.compare_exchange_strong(expect, kBusy, std::memory_order_acquire, std::memory_order_relaxed)) {
        continue;
      }
      cells_[i].item = std::move(item);
      cells_[i].state.store(kFull);  // seq_cst: ordered before the gate load below (see above)
      hint() = i;
      if (gate_.load() == 0) return true;
      // The gate closed while parking: whoever closed it may have drained already.
      if (auto back = take_at(i)) {
        item = std::move(*back);
        return false;
      }
      return true;  // taken by the drain (or an acquirer): it is in good hands
    }
    return false;  // every cell full (cannot happen with capacity = max connections)
  }

  /// Closes the gate (counted: each close needs its open). Then drain under the pool's lock.
  void close_gate() noexcept { gate_.fetch_add(1); }
  void open_gate() noexcept { gate_.fetch_sub(1); }

  /// Takes every parked item. Call with the gate closed, so none is parked behind the sweep.
  template <class F>
  void drain(F&& f) {
    // Sequentially consistent cell reads, after the gate's closing: a parker whose Full store this
    // sweep misses is then sure to see the closed gate, and takes its item back.
    for (std::size_t i = 0; i < n_; ++i) {
      if (auto item = take_at(i, std::memory_order_seq_cst)) f(std::move(*item));
    }
  }

  /// Items parked now (exact while the gate is closed and the pool's lock held).
  std::size_t parked() const noexcept {
    std::size_t c = 0;
    for (std::size_t i = 0; i < n_; ++i) c += cells_[i].state.load() != kEmpty;
    return c;
  }

 private:
  enum : std::uint8_t { kEmpty, kFull, kBusy };
  struct alignas(64) Cell {
    std::atomic<std::uint8_t> state{kEmpty};
    T item{};
  };

  std::optional<T> take_at(std::size_t i, std::memory_order look = std::memory_order_relaxed) noexcept {
    std::uint8_t expect = kFull;
    if (cells_[i].state.load(look) != kFull ||
        !cells_[i].state.compare_exchange_strong(expect, kBusy, std::memory_order_seq_cst, look)) {
      return std::nullopt;
    }
    std::optional<T> item(std::move(cells_[i].item));
    cells_[i].item = T{};
    cells_[i].state.store(kEmpty, std::memory_order_release);  // only a parker reads it, with acquire
    return item;
  }

  /// The cell this thread used last; new threads start spread out.
  static std::size_t& hint() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local std::size_t h = next.fetch_add(7, std::memory_order_relaxed);
    return h;
  }

  std::size_t n_;
  std::unique_ptr<Cell[]> cells_;
  std::atomic<int> gate_{0};
};

}  // namespace cortex::pool
