#pragma once
// PoolCore: the sans-I/O state machine of one endpoint's pool — sizing, idle list, FIFO waiters
// with direct hand-off, lifecycle (idle timeout above the minimum, lifetime, use count) and
// shutdown. It never blocks, sleeps or does I/O: each call reports what the driver must do next in
// an Effects value (completions to run, connection attempts to start, connections to close),
// which the driver performs *after* releasing its lock. Templated on the connection handle and the
// clock so unit tests drive it with fakes and a fake clock.
//
// Not thread-safe: the driver (ConnectionPool) serialises calls.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "waiter_queue.hpp"
#include "cortex/storage/error.hpp"

namespace cortex::pool {

struct CoreLimits {
  std::size_t min_connections = 0;
  std::size_t max_connections = 1;
  /// Idle connections above the minimum close after this long unused; 0 = never.
  std::chrono::milliseconds idle_timeout{0};
  /// Connections are retired after this many leases; 0 = no limit.
  std::uint64_t max_uses = 0;
  /// Callers that may wait at once; beyond, wait() fails at once with pool_exhausted. 0 = no limit.
  std::size_t max_waiters = 0;
};

template <class Conn, class Clock = std::chrono::steady_clock>
class PoolCore {
 public:
  using TimePoint = typename Clock::time_point;

  /// One pooled connection and its bookkeeping. Owned by the pool; a lease holds a shared_ptr.
  struct Slot {
    Conn conn;
    TimePoint created;
    TimePoint last_used;  ///< when it last became idle (returned or created)
    TimePoint retire_at;  ///< max_lifetime (with jitter) as computed by the driver; max() = never
    std::uint64_t uses = 0;
    // The driver's lease bookkeeping (leak reports), kept here to avoid a second map; the core
    // never reads it. Written by the lease holder, read by the driver's leak scan: atomics.
    std::atomic<typename Clock::rep> leased_at{0};
    std::atomic<const char*> lease_file{nullptr};
    std::atomic<int> lease_line{0};
    std::atomic<bool> leased{false};
    std::atomic<bool> leak_reported{false};
    std::uint64_t session_changes_at_lease = 0;  // the driver's: was the session touched?
  };
  using SlotPtr = std::shared_ptr<Slot>;
  using Queue = WaiterQueue<SlotPtr, Clock>;
  using Handler = typename Queue::Handler;
  using Ticket = typename Queue::Ticket;

  struct Effects {
    std::vector<typename Queue::Completion> completions;  ///< run each, outside the lock
    std::size_t creates = 0;                               ///< connection attempts to start
    std::vector<std::pair<SlotPtr, metrics::CloseReason>> closes;  ///< connections to close
    bool empty() const noexcept { return completions.empty() && creates == 0 && closes.empty(); }
  };

  explicit PoolCore(CoreLimits limits) : limits_(limits) {}

  /// Fast path: an idle connection if there is one (most recently used first, to keep the others
  /// free to age out). Does not queue and never starts a connection attempt.
  std::optional<SlotPtr> try_acquire(TimePoint now) {
    if (closed_ || idle_.empty() || !waiters_.empty()) return std::nullopt;  // never overtake a waiter
    SlotPtr s = std::move(idle_.back());
    idle_.pop_back();
    lend(*s, now);
    return s;  // last_used still says how long it sat idle: the driver may validate it first
  }

  /// Slow path: queue a waiter with its own deadline, and start a connection attempt when the
  /// pool may still grow. The handler gets a slot, or pool_timeout / pool_closed / the connect error.
  Ticket wait(TimePoint deadline, Handler handler, Effects& fx) {
    if (closed_) {
      fx.completions.push_back({std::move(handler), make_error_code(Errc::pool_closed), std::nullopt});
      return 0;
    }
    if (limits_.max_waiters && waiters_.size() >= limits_.max_waiters) {
      fx.completions.push_back({std::move(handler), make_error_code(Errc::pool_exhausted), std::nullopt});
      return 0;
    }
    const Ticket t = waiters_.push(deadline, std::move(handler));
    grow(fx);
    return t;
  }

  /// Gives a leased connection back. `reusable` = false for a broken one. A reusable connection
  /// goes straight to the oldest waiter, else to the idle list; one past its lifetime or use count
  /// is closed and, if callers wait, replaced.
  void release(SlotPtr s, TimePoint now, bool reusable, Effects& fx) {
    --in_use_;
    s->last_used = now;
    if (!reusable) return retire(std::move(s), metrics::CloseReason::broken, fx);
    if (closed_) return retire(std::move(s), metrics::CloseReason::shutdown, fx);
    if (now >= s->retire_at) return retire(std::move(s), metrics::CloseReason::lifetime, fx);
    if (limits_.max_uses && s->uses >= limits_.max_uses) return retire(std::move(s), metrics::CloseReason::max_uses, fx);
    offer(std::move(s), now, fx);
  }

  /// A connection attempt finished. On success the new connection serves the oldest waiter or
  /// goes idle; on failure, when the pool has no connection at all and no other attempt in flight
  /// (the endpoint is down), waiters fail at once with the error instead of waiting out their
  /// deadlines. A failure starts no new
  /// attempt: the driver calls tick() after its backoff, so a dead endpoint is not hammered.
  /// Returns the new slot (nullptr on failure).
  SlotPtr created(std::error_code ec, Conn conn, TimePoint now, TimePoint retire_at, Effects& fx) {
    --pending_;
    if (ec) {
      last_error_ = ec;
      if (size() == 0 && pending_ == 0) {
        for (auto& c : waiters_.drain(ec)) fx.completions.push_back(std::move(c));
      }
      return nullptr;
    }
    last_error_ = {};  // reachable again: health reports the present, not the last outage
    auto s = std::make_shared<Slot>();
    s->conn = std::move(conn);
    s->created = s->last_used = now;
    s->retire_at = retire_at;
    ++total_;
    if (closed_) {
      retire(s, metrics::CloseReason::shutdown, fx);
      return s;
    }
    offer(s, now, fx);
    return s;
  }

  /// An idle connection died (its socket closed): drop it and top the pool up. A leased one is
  /// left alone — its release reports it broken.
  void evict_idle(const Conn& conn, Effects& fx) {
    auto it = std::find_if(idle_.begin(), idle_.end(), [&](const SlotPtr& s) { return s->conn == conn; });
    if (it == idle_.end()) return;
    SlotPtr s = std::move(*it);
    idle_.erase(it);
    retire(std::move(s), metrics::CloseReason::broken, fx);
  }

  /// A waiter gave up (its caller was cancelled).
  void cancel(Ticket t, std::error_code ec, Effects& fx) {
    if (auto c = waiters_.cancel(t, ec)) fx.completions.push_back(std::move(*c));
  }

  /// Time passed: waiters past their deadline fail with pool_timeout; idle connections above the
  /// minimum that sat unused longer than idle_timeout, or are past their lifetime, close; the
  /// minimum is topped up unless `may_grow` is false (the driver is backing off a failing endpoint).
  void tick(TimePoint now, Effects& fx, bool may_grow = true) {
    for (auto& c : waiters_.expire(now, make_error_code(Errc::pool_timeout))) fx.completions.push_back(std::move(c));
    std::vector<SlotPtr> keep;
    keep.reserve(idle_.size());
    std::size_t surplus = size() > limits_.min_connections ? size() - limits_.min_connections : 0;
    for (auto& s : idle_) {  // oldest-used first: idle_ is used as a stack
      if (now >= s->retire_at) {
        retire_idle(std::move(s), metrics::CloseReason::lifetime, fx, surplus);
      } else if (surplus && limits_.idle_timeout.count() > 0 && now - s->last_used >= limits_.idle_timeout) {
        retire_idle(std::move(s), metrics::CloseReason::idle, fx, surplus);
      } else {
        keep.push_back(std::move(s));
      }
    }
    idle_ = std::move(keep);
    if (may_grow) grow(fx);
  }

  /// Opens connections up to the minimum (warm start) and whatever waiters need.
  void fill(Effects& fx) { grow(fx); }

  /// Stops: waiters fail with pool_closed, idle connections close; leased ones close on release.
  void shutdown(Effects& fx) {
    closed_ = true;
    for (auto& c : waiters_.drain(make_error_code(Errc::pool_closed))) fx.completions.push_back(std::move(c));
    for (auto& s : idle_) {
      --total_;
      fx.closes.emplace_back(std::move(s), metrics::CloseReason::shutdown);
    }
    idle_.clear();
  }

  /// When tick() should next run: the earliest waiter deadline, idle expiry or retirement.
  std::optional<TimePoint> next_wakeup() const {
    std::optional<TimePoint> t = waiters_.next_deadline();
    auto consider = [&](TimePoint x) { if (!t || x < *t) t = x; };
    for (const auto& s : idle_) {
      consider(s->retire_at);
      if (limits_.idle_timeout.count() > 0 && size() > limits_.min_connections) consider(s->last_used + limits_.idle_timeout);
    }
    return t;
  }

  std::size_t size() const noexcept { return total_; }     ///< open connections (idle + in use)
  std::size_t idle() const noexcept { return idle_.size(); }
  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t waiters() const noexcept { return waiters_.size(); }
  std::size_t pending() const noexcept { return pending_; }  ///< connection attempts in flight
  bool closed() const noexcept { return closed_; }
  /// The last connect failure, cleared by the next successful connect.
  std::error_code last_error() const noexcept { return last_error_; }
  /// Idle slots, most recently used last (for health checks by the driver).
  const std::vector<SlotPtr>& idle_slots() const noexcept { return idle_; }

 private:
  static std::error_code make_error_code(Errc e) { return cortex::make_error_code(e); }

  void lend(Slot& s, TimePoint) {
    ++s.uses;
    ++in_use_;
  }

  void offer(SlotPtr s, TimePoint now, Effects& fx) {
    ++in_use_;  // hand_off lends it; undone below when nobody takes it
    ++s->uses;
    s->last_used = now;  // idle since now (a waiter taking it right away sees zero idle time)
    if (auto c = waiters_.hand_off(s)) {
      fx.completions.push_back(std::move(*c));
      return;
    }
    --in_use_;
    --s->uses;
    idle_.push_back(std::move(s));
  }

  void retire(SlotPtr s, metrics::CloseReason why, Effects& fx) {
    --total_;
    fx.closes.emplace_back(std::move(s), why);
    grow(fx);  // a waiter may need the freed capacity
  }

  void retire_idle(SlotPtr s, metrics::CloseReason why, Effects& fx, std::size_t& surplus) {
    --total_;
    if (surplus) --surplus;
    fx.closes.emplace_back(std::move(s), why);
  }

  /// Starts attempts so that (open + pending) covers max(min, in use + waiters), within max.
  void grow(Effects& fx) {
    if (closed_) return;
    const std::size_t want =
        std::min(limits_.max_connections, std::max(limits_.min_connections, in_use_ + idle_.size() + waiters_.size()));
    const std::size_t have = total_ + pending_;
    if (want > have) {
      const std::size_t more = want - have;
      pending_ += more;
      fx.creates += more;
    }
  }

  CoreLimits limits_;
  std::vector<SlotPtr> idle_;
  Queue waiters_;
  std::size_t total_ = 0, in_use_ = 0, pending_ = 0;
  bool closed_ = false;
  std::error_code last_error_;
};

}  // namespace cortex::pool
