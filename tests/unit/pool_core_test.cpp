// PoolCore driven by hand with a fake clock and int "connections": sizing, fast path, FIFO
// hand-off, deadlines, lifecycle, failure and shutdown — and seed 003's burst, which must leave
// no caller behind.
#include <gtest/gtest.h>

#include <deque>

#include "fake_clock.hpp"

#include "pool_core.hpp"

using namespace cortex::pool;
using cortex::Errc;
using cortex::metrics::CloseReason;

namespace {

using cortex::test::FakeClock;
using ms = std::chrono::milliseconds;
using Core = PoolCore<int, FakeClock>;
const FakeClock::time_point t0{ms(1000)};
const FakeClock::time_point never = FakeClock::time_point::max();

// A connection's lifecycle as the driver hands it to the core: connected and set up at `now`.
Core::Node set_up_node(FakeClock::time_point now, FakeClock::time_point retire_at = never) {
  Core::Node n;
  n.connected({});
  n.set_up({}, now, retire_at);
  return n;
}

// Plays the driver: performs effects, creating connections numbered 1, 2, … on demand.
struct Driver {
  Core core;
  int next_conn = 1;
  std::size_t closed = 0;
  std::vector<CloseReason> reasons;
  std::deque<int> to_create;  // attempts started, not yet finished

  explicit Driver(CoreLimits l) : core(l) {}
  void run(Core::Effects& fx) {
    for (std::size_t i = 0; i < fx.creates; ++i) to_create.push_back(next_conn++);
    for (auto& [slot, why] : fx.closes) { ++closed; reasons.push_back(why); }
    for (auto& c : fx.completions) c();
    fx = {};
  }
  // Warm start: opens the minimum and finishes those attempts at `now`.
  void warm(FakeClock::time_point now) {
    Core::Effects fx;
    core.fill(fx);
    run(fx);
    finish_creates(now);
  }
  // Finishes every pending attempt successfully (which may start more).
  void finish_creates(FakeClock::time_point now, FakeClock::time_point retire_at = never) {
    while (!to_create.empty()) {
      const int c = to_create.front();
      to_create.pop_front();
      Core::Effects fx;
      core.created({}, c, set_up_node(now, retire_at), fx);
      run(fx);
    }
  }
};

struct Lease {
  std::error_code ec;
  Core::SlotPtr slot;
  bool done = false;
};

Core::Handler into(Lease& l) {
  return [&l](std::error_code ec, Core::SlotPtr s) { l.ec = ec; l.slot = std::move(s); l.done = true; };
}

CoreLimits limits(std::size_t min, std::size_t max, ms idle = ms(0), std::uint64_t max_uses = 0) {
  return CoreLimits{min, max, idle, max_uses};
}

}  // namespace

TEST(PoolCore, WarmStartOpensTheMinimum) {
  Driver d(limits(3, 10));
  Core::Effects fx;
  d.core.fill(fx);
  EXPECT_EQ(fx.creates, 3u);
  d.run(fx);
  d.finish_creates(t0);
  EXPECT_EQ(d.core.size(), 3u);
  EXPECT_EQ(d.core.idle(), 3u);
}

TEST(PoolCore, FastPathReusesMostRecentlyUsed) {
  Driver d(limits(2, 2));
  Core::Effects fx;
  d.warm(t0);
  auto a = d.core.try_acquire();
  ASSERT_TRUE(a);
  EXPECT_EQ(d.core.in_use(), 1u);
  d.core.release(*a, t0 + ms(5), true, fx);
  d.run(fx);
  auto b = d.core.try_acquire();
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)->conn, (*a)->conn);  // LIFO: the warm one again
  EXPECT_EQ((*b)->node.uses(), 2u);
}

TEST(PoolCore, GrowsOnDemandButNeverPastMax) {
  Driver d(limits(0, 2));
  std::vector<Lease> leases(5);
  Core::Effects fx;
  for (auto& l : leases) d.core.wait(t0 + ms(100), into(l), fx);
  EXPECT_EQ(fx.creates, 2u);  // capped at max
  d.run(fx);
  d.finish_creates(t0);
  EXPECT_EQ(d.core.size(), 2u);
  EXPECT_TRUE(leases[0].done && leases[1].done);
  EXPECT_FALSE(leases[2].done);
  EXPECT_EQ(d.core.waiters(), 3u);
}

TEST(PoolCore, MaxWaitersShedsTheCallerBeyondIt) {
  CoreLimits l = limits(0, 1);
  l.max_waiters = 2;
  Driver d(l);
  std::vector<Lease> leases(4);
  Core::Effects fx;
  for (auto& lease : leases) d.core.wait(t0 + ms(100), into(lease), fx);
  d.run(fx);
  EXPECT_TRUE(leases[2].done);  // the third waiter: refused at once
  EXPECT_EQ(leases[2].ec, make_error_code(Errc::pool_exhausted));
  EXPECT_TRUE(leases[3].done);
  EXPECT_EQ(leases[3].ec, make_error_code(Errc::pool_exhausted));
  EXPECT_FALSE(leases[0].done || leases[1].done);
  EXPECT_EQ(d.core.waiters(), 2u);
  d.finish_creates(t0);  // the one connection serves the first; the second keeps its place
  EXPECT_TRUE(leases[0].done && !leases[0].ec);
  EXPECT_FALSE(leases[1].done);
}

TEST(PoolCore, ReleaseHandsStraightToTheOldestWaiterAndNoOneOvertakes) {
  Driver d(limits(1, 1));
  Core::Effects fx;
  d.warm(t0);
  auto held = d.core.try_acquire();
  ASSERT_TRUE(held);
  Lease first, second;
  d.core.wait(t0 + ms(100), into(first), fx);
  d.core.wait(t0 + ms(100), into(second), fx);
  d.run(fx);
  d.core.release(*held, t0 + ms(1), true, fx);
  // The released connection is already first's: a newcomer on the fast path finds nothing.
  EXPECT_FALSE(d.core.try_acquire());
  d.run(fx);
  EXPECT_TRUE(first.done);
  EXPECT_FALSE(first.ec);
  EXPECT_FALSE(second.done);
  d.core.release(first.slot, t0 + ms(2), true, fx);
  d.run(fx);
  EXPECT_TRUE(second.done);
}

TEST(PoolCore, WaitersTimeOutAtTheirOwnDeadlines) {
  Driver d(limits(1, 1));
  Core::Effects fx;
  d.warm(t0);
  auto held = d.core.try_acquire();
  Lease early, late;
  d.core.wait(t0 + ms(50), into(early), fx);
  d.core.wait(t0 + ms(90), into(late), fx);
  EXPECT_EQ(d.core.next_wakeup(), t0 + ms(50));
  d.core.tick(t0 + ms(60), fx);
  d.run(fx);
  EXPECT_TRUE(early.done);
  EXPECT_EQ(early.ec, cortex::make_error_code(Errc::pool_timeout));
  EXPECT_FALSE(late.done);
  d.core.release(*held, t0 + ms(70), true, fx);
  d.run(fx);
  EXPECT_TRUE(late.done);
  EXPECT_FALSE(late.ec);
}

TEST(PoolCore, IdleAboveMinimumClosesAfterIdleTimeout) {
  Driver d(limits(1, 3, ms(100)));
  std::vector<Lease> l(3);
  Core::Effects fx;
  for (auto& x : l) d.core.wait(t0 + ms(1000), into(x), fx);
  d.run(fx);
  d.finish_creates(t0);
  for (auto& x : l) d.core.release(x.slot, t0 + ms(10), true, fx);
  d.run(fx);
  EXPECT_EQ(d.core.idle(), 3u);
  EXPECT_EQ(d.core.next_wakeup(), t0 + ms(110));
  d.core.tick(t0 + ms(120), fx);
  d.run(fx);
  EXPECT_EQ(d.core.size(), 1u);  // the minimum stays
  EXPECT_EQ(d.closed, 2u);
  EXPECT_EQ(d.reasons[0], CloseReason::idle);
}

TEST(PoolCore, RetiresByLifetimeAndUseCountAndReplacesForWaiters) {
  Driver d(limits(0, 1, ms(0), 2));
  Lease a;
  Core::Effects fx;
  d.core.wait(t0 + ms(1000), into(a), fx);
  d.run(fx);
  d.finish_creates(t0, t0 + ms(500));
  ASSERT_TRUE(a.done);
  d.core.release(a.slot, t0 + ms(1), true, fx);  // 1 use
  d.run(fx);
  auto b = d.core.try_acquire();        // 2nd use
  ASSERT_TRUE(b);
  Lease waiting;
  d.core.wait(t0 + ms(1000), into(waiting), fx);
  d.run(fx);
  d.core.release(*b, t0 + ms(3), true, fx);        // reached max_uses: closed, replaced
  EXPECT_EQ(fx.creates, 1u);
  d.run(fx);
  EXPECT_EQ(d.reasons.back(), CloseReason::max_uses);
  d.finish_creates(t0 + ms(4), t0 + ms(500));
  EXPECT_TRUE(waiting.done);
  EXPECT_FALSE(waiting.ec);
  d.core.release(waiting.slot, t0 + ms(600), true, fx);  // past its lifetime
  d.run(fx);
  EXPECT_EQ(d.reasons.back(), CloseReason::lifetime);
  EXPECT_EQ(d.core.size(), 0u);
}

TEST(PoolCore, BrokenConnectionsAreClosedNotReused) {
  Driver d(limits(1, 1));
  Core::Effects fx;
  d.warm(t0);
  auto s = d.core.try_acquire();
  d.core.release(*s, t0, false, fx);
  EXPECT_EQ(fx.creates, 1u);  // the minimum is restored
  d.run(fx);
  EXPECT_EQ(d.reasons.back(), CloseReason::broken);
}

TEST(PoolCore, EndpointDownFailsWaitersAtOnceWithTheConnectError) {
  Driver d(limits(0, 2));
  Lease a, b;
  Core::Effects fx;
  d.core.wait(t0 + ms(30000), into(a), fx);
  d.core.wait(t0 + ms(30000), into(b), fx);
  d.run(fx);
  const auto refused = cortex::make_error_code(Errc::connect_failed);
  ASSERT_EQ(d.to_create.size(), 2u);
  d.to_create.pop_front();
  d.core.created(refused, 0, Core::Node{}, fx);
  EXPECT_EQ(fx.creates, 0u);  // no hammering: the driver retries after a backoff
  d.run(fx);
  EXPECT_FALSE(a.done);  // another attempt is still in flight: it may yet succeed
  d.to_create.pop_front();
  d.core.created(refused, 0, Core::Node{}, fx);
  d.run(fx);
  EXPECT_TRUE(a.done && b.done);
  EXPECT_EQ(a.ec, refused);
  EXPECT_EQ(d.core.last_error(), refused);
}

TEST(PoolCore, ShutdownWakesWaitersAndClosesEverything) {
  Driver d(limits(1, 1));
  Core::Effects fx;
  d.warm(t0);
  auto held = d.core.try_acquire();
  Lease w;
  d.core.wait(t0 + ms(1000), into(w), fx);
  d.core.shutdown(fx);
  d.run(fx);
  EXPECT_EQ(w.ec, cortex::make_error_code(Errc::pool_closed));
  Lease late;
  d.core.wait(t0 + ms(1000), into(late), fx);
  d.run(fx);
  EXPECT_EQ(late.ec, cortex::make_error_code(Errc::pool_closed));
  d.core.release(*held, t0 + ms(1), true, fx);
  d.run(fx);
  EXPECT_EQ(d.reasons.back(), CloseReason::shutdown);
  EXPECT_EQ(d.core.size(), 0u);
  EXPECT_EQ(fx.creates, 0u);
}

TEST(PoolCore, SeedBurstOf10000CallersOnMax50AllComplete) {
  // Seed 003: callers beyond max_connections timed out. Here each caller holds its connection for
  // one "step"; every caller must be served and none may time out.
  Driver d(limits(0, 50));
  constexpr int kCallers = 10000;
  std::vector<Lease> leases(kCallers);
  Core::Effects fx;
  for (auto& l : leases) d.core.wait(t0 + ms(30000), into(l), fx);
  d.run(fx);
  d.finish_creates(t0);
  EXPECT_EQ(d.core.size(), 50u);
  int served = 0;
  for (int step = 0; served < kCallers; ++step) {
    std::vector<Core::SlotPtr> holding;
    for (auto& l : leases) {
      if (l.done && l.slot) { holding.push_back(std::move(l.slot)); ++served; }
    }
    ASSERT_FALSE(holding.empty()) << "stalled at " << served;  // a lost wakeup would stall here
    for (auto& s : holding) d.core.release(std::move(s), t0 + ms(step), true, fx);
    d.run(fx);
  }
  for (const auto& l : leases) EXPECT_FALSE(l.ec);
  EXPECT_EQ(d.core.waiters(), 0u);
  EXPECT_EQ(d.core.size(), 50u);
}

TEST(PoolCore, IdleConnectionThatDiesIsEvictedAndReplaced) {
  Driver d(limits(1, 2));
  Core::Effects fx;
  d.warm(t0);
  ASSERT_EQ(d.core.idle(), 1u);
  d.core.evict_idle(1, fx);
  EXPECT_EQ(fx.creates, 1u);  // back to the minimum
  d.run(fx);
  EXPECT_EQ(d.reasons.back(), CloseReason::broken);
  EXPECT_EQ(d.core.idle(), 0u);
  d.core.evict_idle(42, fx);  // unknown: nothing happens
  EXPECT_TRUE(fx.empty());
}
