// Burst: N concurrent callers on a ConnectionManager with max_connections = 50 against the local
// engine (or --url). Each caller acquires a lease, runs RETURN 1, releases. Prints JSON lines:
// completions, acquisition timeouts, p50/p99/max acquire wait, wall time.
// Usage: bench_burst [--callers N] [--max M] [--url ws://HOST:PORT/rpc]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "cortex/pool/connection_manager.hpp"
#include "json_line.hpp"

using namespace cortex::pool;
using namespace cortex::storage;

int main(int argc, char** argv) {
  int callers = 10000;
  std::size_t max = 50;
  std::string url = "mem://";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--callers") callers = std::atoi(argv[i + 1]);
    else if (k == "--max") max = static_cast<std::size_t>(std::atol(argv[i + 1]));
    else if (k == "--url") url = argv[i + 1];
  }
  DatabaseConfig c;
  c.connection_mode.mode = ConnectionMode::Local{url};
  c.pool_config.min_connections = 0;
  c.pool_config.max_connections = max;
  c.namespace_ = "bench";
  ConnectionManager m(c);
  std::atomic<int> ok{0}, failed{0}, finished{0};
  std::promise<void> all_done;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < callers; ++i) {
    m.async_acquire([&](std::error_code ec, PooledConnection lease) {
      auto finish = [&](bool good) {
        (good ? ok : failed)++;
        if (++finished == callers) all_done.set_value();
      };
      if (ec) return finish(false);
      auto held = std::make_shared<PooledConnection>(std::move(lease));
      (*held)->async_call(rpc::query("RETURN 1"), {}, [held, finish](std::error_code qec, Value) {
        held->release();
        finish(!qec);
      });
    });
  }
  all_done.get_future().get();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto s = m.metrics().snapshot();
  const std::string name = "burst.callers" + std::to_string(callers) + ".max" + std::to_string(max);
  auto line = [&](const char* what, double v, const char* unit) { json_line(name + "." + what, v, unit); };
  line("completions", ok.load(), "calls");
  line("failures", failed.load(), "calls");
  line("acquisition_timeouts", static_cast<double>(s.acquisition_timeouts), "calls");
  line("acquire_wait_p50", static_cast<double>(s.acquire_wait.p50.count()) / 1e6, "ms");
  line("acquire_wait_p99", static_cast<double>(s.acquire_wait.p99.count()) / 1e6, "ms");
  line("acquire_wait_max", static_cast<double>(s.acquire_wait.max.count()) / 1e6, "ms");
  line("wall", wall, "s");
  return failed.load() == 0 ? 0 : 1;
}
