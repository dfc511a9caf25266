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

#include "connection_node.hpp"
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
  using Node = ConnectionNode<Clock>;

  /// One pooled connection and its bookkeeping. Owned by the pool; a lease holds a shared_ptr.
  struct Slot {
    Conn conn;
    Node node;  ///< its lifecycle: state, age, last use, retirement point, uses
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

  explicit PoolCore(CoreLimits limits) : limits_(limits), rules_{limits.idle_timeout, limits.max_uses} {}

  const RetireRules& rules() const noexcept { return rules_; }

  /// Fast path: an idle connection if there is one (most recently used first, to keep the others
  /// free to age out). Does not queue and never starts a connection attempt.
  std::optional<SlotPtr> try_acquire() {
    if (closed_ || idle_.empty() || !waiters_.empty()) return std::nullopt;  // never overtake a waiter
    SlotPtr s = std::move(idle_.back());
    idle_.pop_back();
    ++in_use_;
    s->node.lent();
    return s;  // last_used still says how long it sat idle: the driver checks it out (node.check_out)
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
  /// goes straight to the oldest waiter, else to the idle list; one the retire predicate (or an
  /// earlier event: its node is already retired) lets go is closed and, if callers wait, replaced.
  /// A node the driver already returned (idle: it was parked, or restored) is not judged twice.
  void release(SlotPtr s, TimePoint now, bool reusable, Effects& fx) {
    --in_use_;
    auto& n = s->node;
    if (n.state() != NodeState::idle && n.state() != NodeState::retired) n.returned(reusable, false, now, rules_);
    if (!reusable) n.retire(metrics::CloseReason::broken);
    if (closed_) n.retire(metrics::CloseReason::shutdown);
    if (n.state() == NodeState::retired) return retire(std::move(s), fx);
    offer(std::move(s), fx);
  }

  /// A connection attempt finished. On success the new connection serves the oldest waiter or
  /// goes idle; on failure, when the pool has no connection at all and no other attempt in flight
  /// (the endpoint is down), waiters fail at once with the error instead of waiting out their
  /// deadlines. A failure starts no new
  /// attempt: the driver calls tick() after its backoff, so a dead endpoint is not hammered.
  /// `node`: the connection's lifecycle, set up (idle). Returns the new slot (nullptr on failure).
  SlotPtr created(std::error_code ec, Conn conn, Node node, Effects& fx) {
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
    s->node = node;
    ++total_;
    if (closed_) {
      s->node.retire(metrics::CloseReason::shutdown);
      retire(s, fx);
      return s;
    }
    offer(s, fx);
    return s;
  }

  /// An idle connection died (its socket closed): drop it and top the pool up. A leased one is
  /// left alone — its release reports it broken.
  void evict_idle(const Conn& conn, Effects& fx) {
    auto it = std::find_if(idle_.begin(), idle_.end(), [&](const SlotPtr& s) { return s->conn == conn; });
    if (it == idle_.end()) return;
    SlotPtr s = std::move(*it);
    idle_.erase(it);
    s->node.retire(metrics::CloseReason::broken);
    retire(std::move(s), fx);
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
      // Open: a socket that died was evicted when it closed (evict_idle).
      if (s->node.idle_check(true, now, rules_, surplus > 0) == NodeAction::close) {
        --total_;
        if (surplus) --surplus;
        const auto why = s->node.close_reason();
        fx.closes.emplace_back(std::move(s), why);
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
      s->node.retire(metrics::CloseReason::shutdown);
      fx.closes.emplace_back(std::move(s), metrics::CloseReason::shutdown);
    }
    idle_.clear();
  }

  /// When tick() should next run: the earliest waiter deadline, idle expiry or retirement.
  std::optional<TimePoint> next_wakeup() const {
    std::optional<TimePoint> t = waiters_.next_deadline();
    auto consider = [&](TimePoint x) { if (!t || x < *t) t = x; };
    const bool surplus = size() > limits_.min_connections;
    for (const auto& s : idle_) consider(s->node.next_idle_deadline(rules_, surplus));
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

  // An idle connection (its node says since when): to the oldest waiter, else the idle list.
  void offer(SlotPtr s, Effects& fx) {
    ++in_use_;  // hand_off lends it; undone below when nobody takes it
    s->node.lent();
    if (auto c = waiters_.hand_off(s)) {
      fx.completions.push_back(std::move(*c));
      return;
    }
    --in_use_;
    s->node.unlend();
    idle_.push_back(std::move(s));
  }

  // Closes a connection whose node is retired (its close_reason says why).
  void retire(SlotPtr s, Effects& fx) {
    --total_;
    const auto why = s->node.close_reason();
    fx.closes.emplace_back(std::move(s), why);
    grow(fx);  // a waiter may need the freed capacity
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
  RetireRules rules_;
  std::vector<SlotPtr> idle_;
  Queue waiters_;
  std::size_t total_ = 0, in_use_ = 0, pending_ = 0;
  bool closed_ = false;
  std::error_code last_error_;
};

}  // namespace cortex::pool
