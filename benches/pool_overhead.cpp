// Pool overhead: acquire + release cycles through the pool's real driver (PoolDriver: the IdleBag
// fast lane, PoolCore under its mutex, each connection's ConnectionNode, the lease bookkeeping and
// metrics — the code ConnectionPool runs) with stub connections, as HikariCP's benchmark uses a stub
// driver. Only the I/O is left out: connects finish at once, and nothing idles long enough to be
// validated. Threads 1, 2 and 8 on a pool of 32; 8 threads on a pool of 4 for the hand-off path.
// Run: build/benches/bench_pool_overhead --benchmark_format=json   (or console)
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "coarse_clock.hpp"
#include "pool_driver.hpp"

namespace {

using Clock = std::chrono::steady_clock;
struct Stub {
  int id = 0;
  bool operator==(const Stub& o) const { return id == o.id; }
};

class StubPool : public cortex::pool::PoolDriver<Stub, Clock, StubPool> {
 public:
  explicit StubPool(std::size_t size) : PoolDriver({size, size, std::chrono::milliseconds(0), 0, 0}, nullptr) {
    Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      core.fill(fx);
    }
    apply(fx);
  }

  // The driver's effects: connects finish at once, completions run (hand-offs wake their waiter).
  void apply(Effects& fx) {
    for (std::size_t i = 0; i < fx.creates; ++i) {
      Node node;
      node.connected({});
      node.set_up({}, Clock::now(), Clock::time_point::max());
      Effects created;
      {
        std::lock_guard<std::mutex> lock(mu);
        core.created({}, Stub{next_id_++}, node, created);
      }
      apply(created);
    }
    if (fx.completions.empty()) return;
    {
      std::lock_guard<std::mutex> lock(handed_mu_);
      for (auto& c : fx.completions) c();
    }
    handed_.notify_all();
  }

  // As ConnectionPool::acquire_until: the fast lane, else the slow path (blocking here for the
  // hand-off, where the pool would complete the caller's handler).
  SlotPtr acquire() {
    const auto start = cortex::pool::coarse_now();
    if (auto s = take_parked()) return check_out(std::move(*s), start, std::nullopt);
    const auto waited_from = Clock::now();
    SlotPtr got;
    bool done = false;  // under handed_mu_: set by apply()'s completions
    auto idle = take_or_wait(waited_from + std::chrono::seconds(30), [&](std::error_code, SlotPtr s) {
      got = std::move(s);
      done = true;
    });
    if (idle) return check_out(std::move(*idle), start, waited_from);
    std::unique_lock<std::mutex> lock(handed_mu_);
    handed_.wait(lock, [&] { return done; });
    lend_out(*got, start, __FILE__, __LINE__, waited_from);  // handed over: as the pool, no check
    return got;
  }

  // As PooledConnection::release: the node judges it, then it settles (parked, or to the core).
  void release(SlotPtr s) { give_back(s, true, false, cortex::pool::coarse_now()); }

 private:
  using Node = Core::Node;
  SlotPtr check_out(SlotPtr s, Clock::time_point start, std::optional<Clock::time_point> waited_from) {
    s->node.check_out(true, start, std::chrono::milliseconds(0));
    lend_out(*s, start, __FILE__, __LINE__, waited_from);
    return s;
  }

  int next_id_ = 0;
  std::mutex handed_mu_;
  std::condition_variable handed_;
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
