#pragma once
// PoolDriver: the pool's concurrent core without its I/O — PoolCore under a mutex, the IdleBag fast
// lane in front of it, the gauges, and the lease bookkeeping. ConnectionPool derives from it with
// RpcConnections and Asio (connect, setup, validation, restore, timers); the pool-overhead bench
// derives from it with stub connections, so that it measures the real acquire/release paths.
//
// Templated on the connection handle, the clock and the derived class (CRTP), which performs the
// core's effects: `void apply(Effects&)`, never called with `mu` held.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "cortex/metrics/pool_metrics.hpp"
#include "idle_bag.hpp"
#include "pool_core.hpp"

namespace cortex::pool {

template <class Conn, class Clock, class Derived>
class PoolDriver {
 public:
  using Core = PoolCore<Conn, Clock>;
  using Slot = typename Core::Slot;
  using SlotPtr = typename Core::SlotPtr;
  using Effects = typename Core::Effects;
  using Handler = typename Core::Handler;
  using TimePoint = typename Clock::time_point;

  PoolDriver(CoreLimits limits, std::shared_ptr<metrics::PoolMetrics> m)
      : metrics(m ? std::move(m) : std::make_shared<metrics::PoolMetrics>()),
        core(limits),
        bag(limits.max_connections) {}

  // -- taking a connection --------------------------------------------------------------------

  /// The fast lane: a parked idle connection, lent (one more use), without the lock; or none.
  std::optional<SlotPtr> take_parked() {
    auto s = bag.try_take();
    if (s) (*s)->node.lent();  // the core counted it as lent all along; only the use is new
    return s;
  }

  /// The slow path: an idle connection from the core (lent), or else `handler` queued until
  /// `deadline` (it gets a connection handed over, or the error). The fast lane stays shut until
  /// this caller is served, so releases meanwhile go to the core, which serves the oldest waiter.
  std::optional<SlotPtr> take_or_wait(TimePoint deadline, Handler handler) {
    bag.close_gate();
    Effects fx;
    std::optional<SlotPtr> idle;
    {
      std::lock_guard<std::mutex> lock(mu);
      drain_bag_locked(fx);
      idle = core.try_acquire();
      if (!idle) {
        core.wait(deadline, [this, h = std::move(handler)](std::error_code ec, SlotPtr s) {
          bag.open_gate();
          h(ec, std::move(s));
        }, fx);
      }
      publish_gauges_locked();
    }
    derived().apply(fx);
    if (idle) bag.open_gate();
    return idle;
  }

  /// Marks a slot leased (for the leak scan) and records the acquisition. `waited_from`: set when
  /// it came through the slow path, whose wait is timed; the fast lane's is too short to time.
  void lend_out(Slot& s, TimePoint start, const char* file, int line, std::optional<TimePoint> waited_from) {
    // Lock-free: the holder writes its own slot's lease fields; the leak scan reads them.
    s.leak_reported.store(false, std::memory_order_relaxed);
    s.leased_at.store(start.time_since_epoch().count(), std::memory_order_relaxed);
    s.lease_file.store(file, std::memory_order_relaxed);
    s.lease_line.store(line, std::memory_order_relaxed);
    s.leased.store(true, std::memory_order_release);  // the fields above go with it
    if (!waited_from) {
      metrics->fast_acquisition();
      return metrics->emit({metrics::PoolEventKind::acquired, endpoint, {}, {}, {}, {}});
    }
    const auto waited = Clock::now() - *waited_from;
    metrics->emit({metrics::PoolEventKind::acquired, endpoint, waited, {}, {}, {}});
    metrics->acquire_wait.record(waited);
    metrics->acquisitions.fetch_add(1);
    if (s.node.uses() > 1) metrics->connections_reused.fetch_add(1);
  }

  // -- giving it back -------------------------------------------------------------------------

  /// A lease ends: its node judges the connection. Returns NodeAction::restore when its session
  /// must be put back first (the caller does that, then calls settle()); else it is settled here.
  NodeAction give_back(SlotPtr& slot, bool reusable, bool session_changed, TimePoint now) {
    if (slot->node.state() != NodeState::retired &&
        slot->node.returned(reusable, session_changed, now, core.rules()) == NodeAction::restore) {
      return NodeAction::restore;
    }
    settle(std::move(slot));
    return NodeAction::none;
  }

  /// A connection whose node has decided: an idle one is parked in the fast lane when nobody
  /// waits, else the core takes it (hand-off to a waiter, idle list, or close).
  void settle(SlotPtr slot) {
    slot->leased.store(false, std::memory_order_relaxed);
    if (slot->node.state() == NodeState::idle && bag.try_park(slot)) return;
    Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto decided_at = slot->node.last_used();  // the node has judged it: no clock read
      core.release(std::move(slot), decided_at, true, fx);
      publish_gauges_locked();
    }
    derived().apply(fx);
  }

  // -- under the lock -------------------------------------------------------------------------

  /// Parked connections are idle, though the core counts them as lent out.
  metrics::PoolMetrics::Gauges counts_locked() const {
    const auto parked = static_cast<std::int64_t>(bag.parked());
    return {static_cast<std::int64_t>(core.size()), static_cast<std::int64_t>(core.idle()) + parked,
            static_cast<std::int64_t>(core.in_use()) - parked, static_cast<std::int64_t>(core.waiters())};
  }

  /// Deltas, so that pools sharing one PoolMetrics add up (and its peaks follow the sum).
  void publish_gauges_locked() {
    changed.notify_all();
    const auto g = counts_locked();
    metrics->add_size(g.size - published.size);
    metrics->add_idle(g.idle - published.idle);
    metrics->add_in_use(g.in_use - published.in_use);
    metrics->add_waiters(g.waiters - published.waiters);
    published = g;
  }

  /// Moves every parked connection back into the core (which may hand it to a waiter). Call with
  /// the bag's gate closed and `mu` held.
  void drain_bag_locked(Effects& fx) {
    bag.drain([&](SlotPtr s) {
      const auto idle_since = s->node.last_used();  // parked: its node is idle, judged when it parked
      core.release(std::move(s), idle_since, true, fx);
    });
  }

  /// Runs fn(effects) under `mu` with the fast lane shut and drained, then applies the effects.
  template <class F>
  void with_bag_drained(F&& fn) {
    Effects fx;
    bag.close_gate();
    {
      std::lock_guard<std::mutex> lock(mu);
      drain_bag_locked(fx);
      fn(fx);
      publish_gauges_locked();
    }
    bag.open_gate();
    derived().apply(fx);
  }

  std::shared_ptr<metrics::PoolMetrics> metrics;
  std::string endpoint;  // the pool's URL, for events
  mutable std::mutex mu;
  mutable std::condition_variable changed;  // notified whenever the counts change (wait_quiet)
  Core core;
  // The fast lane: idle connections parked while nobody waits; slow paths close its gate and drain
  // it into the core under `mu` (see idle_bag.hpp).
  IdleBag<SlotPtr> bag;
  metrics::PoolMetrics::Gauges published{0, 0, 0, 0};  // last gauges pushed (under `mu`)

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace cortex::pool
