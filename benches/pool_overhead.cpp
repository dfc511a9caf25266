// Pool overhead: acquire + release cycles through the pool's own logic (PoolCore under a mutex, as
// ConnectionPool drives it, plus the metrics it records) with stub connections — as HikariCP's
// benchmark uses a stub driver. Threads 1, 2 and 8 on a pool of 32.
// Run: build/benches/bench_pool_overhead --benchmark_format=json   (or console)
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/pool_core.hpp"

namespace {

using Clock = std::chrono::steady_clock;
struct Stub {
  int id = 0;
};
using Core = cortex::pool::PoolCore<Stub>;

// The driver's fast path without I/O: lock, core call, unlock, run effects, record metrics.
class StubPool {
 public:
  explicit StubPool(std::size_t size) : core_({size, size, std::chrono::milliseconds(0), 0}) {
    Core::Effects fx;
    core_.fill(fx);
    for (std::size_t i = 0; i < fx.creates; ++i) {
      Core::Effects created;
      core_.created({}, Stub{static_cast<int>(i)}, Clock::now(), Clock::time_point::max(), created);
    }
  }

  Core::SlotPtr acquire() {
    const auto start = Clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    if (auto s = core_.try_acquire(start)) {
      lock.unlock();
      metrics_.acquisitions.fetch_add(1, std::memory_order_relaxed);
      metrics_.acquire_wait.record(std::chrono::nanoseconds(0));  // fast path: no wait to speak of
      return std::move(*s);
    }
    // Slow path: wait for a hand-off (not reached when threads <= pool size).
    Core::SlotPtr got;
    bool done = false;
    Core::Effects fx;
    core_.wait(start + std::chrono::seconds(30), [&](std::error_code, Core::SlotPtr s) {
      got = std::move(s);
      done = true;
    }, fx);
    handed_.wait(lock, [&] { return done; });
    return got;
  }

  void release(Core::SlotPtr s) {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      core_.release(std::move(s), Clock::now(), true, fx);
      for (auto& c : fx.completions) c();  // hand-off: the waiter's flag is set under the lock
    }
    if (!fx.completions.empty()) handed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable handed_;
  Core core_;
  cortex::metrics::PoolMetrics metrics_;
};

StubPool& pool() {
  static StubPool p(32);
  return p;
}

void BM_AcquireRelease(benchmark::State& state) {
  auto& p = pool();
  for (auto _ : state) {
    auto s = p.acquire();
    benchmark::DoNotOptimize(s->conn.id);
    p.release(std::move(s));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AcquireRelease)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
