// Failover: three local engines in Remote mode; 4 threads send `RETURN 1` through the shared path
// without pause; one endpoint is killed (SIGKILL). For each strategy, prints JSON lines: time from
// the kill to the first call served by another endpoint after it, time from the kill to the last
// failed call (after it, traffic flows without errors), and the failed calls in between.
// Usage: bench_failover [--after-ms 2000]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_auth.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "json_line.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/log.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using Clock = std::chrono::steady_clock;

namespace {

const char* name_of(LoadBalancingStrategy s) {
  switch (s) {
    case LoadBalancingStrategy::RoundRobin: return "round_robin";
    case LoadBalancingStrategy::LeastConnections: return "least_connections";
    case LoadBalancingStrategy::Random: return "random";
    case LoadBalancingStrategy::HealthBased: return "health_based";
  }
  return "?";
}

void run(LoadBalancingStrategy strategy, std::chrono::milliseconds after) {
  std::vector<std::unique_ptr<LocalServer>> servers;
  std::vector<std::string> urls;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(std::make_unique<LocalServer>(bench_server_options()));
    urls.push_back(servers.back()->url());
  }
  DatabaseConfig c;
  c.credentials = bench_credentials();
  c.connection_mode.mode = ConnectionMode::Remote{urls, strategy};
  c.pool_config.min_connections = 0;
  c.circuit_breaker.failure_threshold = 3;
  c.namespace_ = "bench";
  ConnectionManager m(c);
  for (int i = 0; i < 30; ++i) m.query("RETURN 1");  // every endpoint's shared connection is open

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::optional<Clock::time_point> killed, first_ok, last_error;
  long errors = 0, calls = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      RequestOptions o;
      o.timeout = std::chrono::seconds(5);
      while (!stop.load()) {
        bool ok = true;
        try {
          m.query("RETURN 1", {}, o).throw_if_error();
        } catch (const cortex::Error&) {
          ok = false;
        }
        const auto now = Clock::now();
        std::lock_guard<std::mutex> lock(mu);
        if (!killed) continue;
        ++calls;
        if (!ok) {
          ++errors;
          last_error = now;
        } else if (!first_ok) {
          first_ok = now;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // traffic under way (a benchmark's pacing)
  {
    std::lock_guard<std::mutex> lock(mu);
    killed = Clock::now();
  }
  servers[1]->kill();
  std::this_thread::sleep_for(after);
  stop = true;
  for (auto& th : threads) th.join();
  auto ms = [&](const std::optional<Clock::time_point>& t) {
    return t ? std::chrono::duration<double, std::milli>(*t - *killed).count() : 0.0;
  };
  const std::string p = std::string("failover.") + name_of(strategy) + ".";
  json_line(p + "first_success_after_kill", ms(first_ok), "ms");
  json_line(p + "last_error_after_kill", ms(last_error), "ms");
  json_line(p + "errors", static_cast<double>(errors), "calls");
  json_line(p + "calls", static_cast<double>(calls), "calls");
}

}  // namespace

int main(int argc, char** argv) {
  std::chrono::milliseconds after{2000};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--after-ms") after = std::chrono::milliseconds(std::atol(argv[i + 1]));
  }
  cortex::set_log_sink(nullptr, cortex::LogLevel::off);  // the kill is expected: quiet
  for (auto s : {LoadBalancingStrategy::RoundRobin, LoadBalancingStrategy::LeastConnections, LoadBalancingStrategy::Random,
                 LoadBalancingStrategy::HealthBased}) {
    run(s, after);
  }
}
