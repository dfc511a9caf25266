// 1,000 agents on one manager: AgentSessions (server-side sessions multiplexed over the manager's
// shared connections) against the same workload with one exclusive connection per agent. Prints
// JSON lines: sockets used, client memory per agent (RSS growth / agents), operations/s, p99, and
// from the sessions' own histograms the median agent's p50 and the worst agent's p99.
// Usage: bench_agents [--agents 1000] [--rounds 10] [--threads 8]
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_auth.hpp"
#include "cortex/metrics/latency_histogram.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "json_line.hpp"
#include "resident_memory.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/io_runner.hpp"

using namespace cortex::pool;
using namespace cortex::sessions;
using namespace cortex::storage;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t sockets() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      char target[256];
      const std::string p = std::string("/proc/self/fd/") + e->d_name;
      const auto len = ::readlink(p.c_str(), target, sizeof target - 1);
      if (len > 0 && std::string(target, static_cast<std::size_t>(len)).rfind("socket:", 0) == 0) ++n;
    }
    ::closedir(d);
  }
  return n;
}

double rss_kib() { return static_cast<double>(cortex::test::resident_bytes()) / 1024.0; }

// Runs `rounds` operations per agent from `threads` threads (each owning a slice of the agents,
// one blocking call at a time) and reports the figures under `prefix`.
template <class Op>
void workload(const std::string& prefix, int agents, int rounds, int threads, double kib_before, std::size_t socks, Op op) {
  cortex::metrics::LatencyHistogram lat;
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  std::atomic<long> failures{0};
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        for (int a = t; a < agents; a += threads) {
          const auto s = Clock::now();
          try {
            op(a, r);
          } catch (const cortex::Error&) {
            ++failures;
          }
          lat.record(Clock::now() - s);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto sum = lat.summary();
  json_line(prefix + ".sockets", static_cast<double>(socks), "sockets");
  json_line(prefix + ".memory_per_agent", (rss_kib() - kib_before) / agents, "KiB");
  json_line(prefix + ".throughput", static_cast<double>(agents) * rounds / wall, "ops/s");
  json_line(prefix + ".p99", static_cast<double>(sum.p99.count()) / 1e6, "ms");
  json_line(prefix + ".failures", static_cast<double>(failures.load()), "ops");
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 1000, rounds = 10, threads = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--agents") agents = std::atoi(argv[i + 1]);
    else if (k == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (k == "--threads") threads = std::atoi(argv[i + 1]);
  }
  DatabaseConfig c;
  c.credentials = bench_credentials();
  c.connection_mode.mode = ConnectionMode::Local{"mem://"};
  c.pool_config.min_connections = 0;
  c.namespace_ = "bench";
  ConnectionManager m(c);
  const auto op_sql = "CREATE memory SET agent = $agent, round = $round";
  {
    const double before = rss_kib();
    std::vector<std::shared_ptr<AgentSession>> s;
    for (int a = 0; a < agents; ++a) s.push_back(AgentSession::create("a" + std::to_string(a), m, "agents_" + std::to_string(a)));
    workload("agents.sessions", agents, rounds, threads, before, sockets(), [&](int a, int r) {
      s[static_cast<std::size_t>(a)]->query(op_sql, {{"agent", Value(std::int64_t{a})}, {"round", Value(std::int64_t{r})}}).throw_if_error();
    });
    // Each session still keeps its own latency histogram: the median agent's p50, the worst p99.
    std::vector<double> p50, p99;
    for (auto& a : s) {
      const auto lat = a->metrics().latency;
      p50.push_back(std::chrono::duration<double, std::milli>(lat.p50).count());
      p99.push_back(std::chrono::duration<double, std::milli>(lat.p99).count());
    }
    std::sort(p50.begin(), p50.end());
    std::sort(p99.begin(), p99.end());
    json_line("agents.sessions.per_agent_p50_median", p50[p50.size() / 2], "ms");
    json_line("agents.sessions.per_agent_p99_worst", p99.back(), "ms");
  }
  {
    IoRunner io(1);
    const double before = rss_kib();
    std::vector<std::shared_ptr<RpcConnection>> conns;
    for (int a = 0; a < agents; ++a) {
      conns.push_back(RpcConnection::connect(io.context(), m.endpoint_url()));
      conns.back()->call(rpc::signin(bench_credentials()));  // each its own password signin, as apps without a pool do
      conns.back()->call(rpc::use("exclusive_" + std::to_string(a), "main"));
    }
    workload("agents.exclusive_connections", agents, rounds, threads, before, sockets(), [&](int a, int r) {
      conns[static_cast<std::size_t>(a)]->query(op_sql, {{"agent", Value(std::int64_t{a})}, {"round", Value(std::int64_t{r})}}).throw_if_error();
    });
    for (auto& cn : conns) cn->close();
  }
}
