// Pool overhead: acquire + release cycles through the pool's own logic (the IdleBag fast lane and
// PoolCore under a mutex, as ConnectionPool drives them, plus the metrics it records) with stub connections — as HikariCP's
// benchmark uses a stub driver. Threads 1, 2 and 8 on a pool of 32.
// Run: build/benches/bench_pool_overhead --benchmark_format=json   (or console)
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "cortex/metrics/pool_metrics.hpp"
#include "coarse_clock.hpp"
#include "idle_bag.hpp"
#include "pool_core.hpp"

namespace {

using Clock = std::chrono::steady_clock;
struct Stub {
  int id = 0;
};
using Core = cortex::pool::PoolCore<Stub>;

// The driver's paths without I/O, step for step as ConnectionPool takes them: the fast lane (IdleBag:
// take, checks, lease bookkeeping, metrics; park on release) and, when it is empty or someone waits,
// the locked slow path (PoolCore under a mutex with FIFO hand-off).
class StubPool {
 public:
  explicit StubPool(std::size_t size) : core_({size, size, std::chrono::milliseconds(0), 0}), bag_(size) {
    Core::Effects fx;
    core_.fill(fx);
    for (std::size_t i = 0; i < fx.creates; ++i) {
      Core::Effects created;
      Core::Node node;
      node.connected({});
      node.set_up({}, Clock::now(), Clock::time_point::max());
      core_.created({}, Stub{static_cast<int>(i)}, node, created);
    }
  }

  Core::SlotPtr acquire() {
    const auto start = cortex::pool::coarse_now();
    if (auto s = bag_.try_take()) {
      (*s)->node.lent();
      return lease(std::move(*s), start, std::nullopt);
    }
    bag_.close_gate();
    const auto waited_from = Clock::now();
    Core::SlotPtr got;
    bool done = false;
    Core::Effects fx;
    std::unique_lock<std::mutex> lock(mu_);
    bag_.drain([&](Core::SlotPtr s) {
      const auto since = s->node.last_used();
      core_.release(std::move(s), since, true, fx);
    });
    if (auto s = core_.try_acquire(waited_from)) {
      got = std::move(*s);
    } else {
      core_.wait(waited_from + std::chrono::seconds(30), [&](std::error_code, Core::SlotPtr handed) {
        got = std::move(handed);
        done = true;
      }, fx);
      handed_.wait(lock, [&] { return done; });
    }
    lock.unlock();
    bag_.open_gate();
    return lease(std::move(got), start, waited_from);
  }

  void release(Core::SlotPtr s) {
    s->leased.store(false, std::memory_order_relaxed);
    const auto now = cortex::pool::coarse_now();
    if (s->node.returned(true, false, now, core_.rules()) == cortex::pool::NodeAction::park && bag_.try_park(s)) return;
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      core_.release(std::move(s), now, true, fx);
      for (auto& c : fx.completions) c();  // hand-off: the waiter's flag is set under the lock
    }
    if (!fx.completions.empty()) handed_.notify_all();
  }

 private:
  Core::SlotPtr lease(Core::SlotPtr s, Clock::time_point start, std::optional<Clock::time_point> waited_from) {
    s->leased_at.store(start.time_since_epoch().count(), std::memory_order_relaxed);
    s->lease_file.store(__FILE__, std::memory_order_relaxed);
    s->lease_line.store(__LINE__, std::memory_order_relaxed);
    s->leased.store(true, std::memory_order_release);
    if (!waited_from) {
      metrics_.fast_acquisition();
    } else {
      metrics_.acquire_wait.record(Clock::now() - *waited_from);
      metrics_.acquisitions.fetch_add(1);
      if (s->node.uses() > 1) metrics_.connections_reused.fetch_add(1);
    }
    return s;
  }

  std::mutex mu_;
  std::condition_variable handed_;
  Core core_;
  cortex::pool::IdleBag<Core::SlotPtr> bag_;
  cortex::metrics::PoolMetrics metrics_;
};

StubPool& pool() {
  static StubPool p(32);
  return p;
}

StubPool& small_pool() {
  static StubPool p(4);
  return p;
}

void cycles(benchmark::State& state, StubPool& p) {
  for (auto _ : state) {
    auto s = p.acquire();
    benchmark::DoNotOptimize(s->conn.id);
    p.release(std::move(s));
  }
  state.SetItemsProcessed(state.iterations());
}

// HikariCP's shape: a pool of 32, never exhausted — the fast lane.
void BM_AcquireRelease(benchmark::State& state) { cycles(state, pool()); }
BENCHMARK(BM_AcquireRelease)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// More threads than connections: callers queue, and releases hand off through the locked core.
void BM_AcquireReleaseContended(benchmark::State& state) { cycles(state, small_pool()); }
BENCHMARK(BM_AcquireReleaseContended)->Threads(8)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
