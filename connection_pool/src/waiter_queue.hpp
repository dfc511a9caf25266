#pragma once
// WaiterQueue: the sans-I/O heart of fair, lossless waiting (docs/architecture.md, "Waiting").
// Callers that find no free item wait here in FIFO order, each with its own deadline.
// A released item is handed straight to the oldest live waiter — never put back for someone else
// to grab while a waiter sleeps — so no wakeup can be lost (seed 003's burst bug is impossible by
// construction). Completions are *returned*, not run: the owner runs them after dropping its lock.
//
// Not thread-safe: the owning pool serialises access. Clock is injectable for tests.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

namespace cortex::pool {

template <class T, class Clock = std::chrono::steady_clock>
class WaiterQueue {
 public:
  using TimePoint = typename Clock::time_point;
  using Handler = std::function<void(std::error_code, T)>;
  using Ticket = std::uint64_t;

  /// A completion to run outside the owner's lock.
  struct Completion {
    Handler handler;
    std::error_code ec;
    std::optional<T> item;
    void operator()() {
      if (item) handler(ec, std::move(*item));
      else handler(ec, T{});
    }
  };

  /// Queues a waiter; returns its ticket (for cancel()).
  Ticket push(TimePoint deadline, Handler handler) {
    const Ticket t = next_++;
    by_deadline_.emplace(deadline, t);
    waiters_.emplace(t, Waiter{deadline, std::move(handler)});
    return t;
  }

  /// Gives `item` to the oldest waiter. Returns its completion; std::nullopt (item untouched) when
  /// nobody waits.
  std::optional<Completion> hand_off(T& item) {
    if (waiters_.empty()) return std::nullopt;
    auto it = waiters_.begin();  // smallest ticket = oldest
    Completion c{std::move(it->second.handler), {}, std::move(item)};
    by_deadline_.erase({it->second.deadline, it->first});
    waiters_.erase(it);
    return c;
  }

  /// Removes waiter `t` (e.g. the caller gave up); its completion carries `ec`.
  std::optional<Completion> cancel(Ticket t, std::error_code ec) {
    auto it = waiters_.find(t);
    if (it == waiters_.end()) return std::nullopt;  // already served or expired
    Completion c{std::move(it->second.handler), ec, std::nullopt};
    by_deadline_.erase({it->second.deadline, t});
    waiters_.erase(it);
    return c;
  }

  /// Removes every waiter whose deadline is at or before `now`; their completions carry `ec`.
  std::vector<Completion> expire(TimePoint now, std::error_code ec) {
    std::vector<Completion> out;
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      const Ticket t = by_deadline_.begin()->second;
      by_deadline_.erase(by_deadline_.begin());
      auto it = waiters_.find(t);
      out.push_back(Completion{std::move(it->second.handler), ec, std::nullopt});
      waiters_.erase(it);
    }
    return out;
  }

  /// Removes everyone (shutdown); completions carry `ec`, oldest first.
  std::vector<Completion> drain(std::error_code ec) {
    std::vector<Completion> out;
    out.reserve(waiters_.size());
    for (auto& [t, w] : waiters_) out.push_back(Completion{std::move(w.handler), ec, std::nullopt});
    waiters_.clear();
    by_deadline_.clear();
    return out;
  }

  std::optional<TimePoint> next_deadline() const {
    if (by_deadline_.empty()) return std::nullopt;
    return by_deadline_.begin()->first;
  }
  std::size_t size() const noexcept { return waiters_.size(); }
  bool empty() const noexcept { return waiters_.empty(); }

 private:
  struct Waiter {
    TimePoint deadline;
    Handler handler;
  };
  Ticket next_ = 1;
  std::map<Ticket, Waiter> waiters_;
  std::set<std::pair<TimePoint, Ticket>> by_deadline_;
};

}  // namespace cortex::pool
