// Burst: N concurrent callers on a ConnectionManager with max_connections = 50 against the local
// engine (or --url). Each caller acquires a lease, runs RETURN 1, releases. Prints JSON lines:
// completions, acquisition timeouts, p50/p99/max acquire wait, wall time, and the RPCs the pool
// spent per lease cycle to set up and restore sessions (password signins apart).
// By default two bursts side by side, each on a fresh engine: signed in like production
// (bench_auth.hpp; --user/--pass name another root user) and without credentials, then the ratios.
// --authenticated or --anonymous runs one only (--anonymous needs a server that allows guests).
// Usage: bench_burst [--callers N] [--max M] [--url ws://HOST:PORT/rpc] [--user U --pass P]
//                    [--authenticated | --anonymous]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>

#include "cortex/pool/connection_manager.hpp"
#include "bench_auth.hpp"
#include "json_line.hpp"

using namespace cortex::pool;
using namespace cortex::storage;

namespace {

struct Outcome {
  int failed = 0;
  double wall_s = 0, wait_p99_ms = 0;
};

// One burst on a fresh manager (and, for mem://, a fresh engine): `callers` acquire, RETURN 1,
// release, all at once. Prints its figures under `name`.
Outcome burst(const std::string& name, const std::optional<Credentials>& credentials, const std::string& url, int callers,
              std::size_t max) {
  DatabaseConfig c;
  c.credentials = credentials;
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
  auto line = [&](const char* what, double v, const char* unit) { json_line(name + "." + what, v, unit); };
  line("completions", ok.load(), "calls");
  line("failures", failed.load(), "calls");
  line("acquisition_timeouts", static_cast<double>(s.acquisition_timeouts), "calls");
  line("acquire_wait_p50", static_cast<double>(s.acquire_wait.p50.count()) / 1e6, "ms");
  line("acquire_wait_p99", static_cast<double>(s.acquire_wait.p99.count()) / 1e6, "ms");
  line("acquire_wait_max", static_cast<double>(s.acquire_wait.max.count()) / 1e6, "ms");
  line("wall", wall, "s");
  const double cycles = static_cast<double>(s.acquisitions) > 0 ? static_cast<double>(s.acquisitions) : 1.0;
  line("setup_rpcs_per_lease", static_cast<double>(s.setup_requests) / cycles, "rpcs");
  line("password_signins", static_cast<double>(s.password_signins), "rpcs");
  line("lease_restores", static_cast<double>(s.lease_restores), "leases");
  return Outcome{failed.load(), wall, static_cast<double>(s.acquire_wait.p99.count()) / 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  int callers = 10000;
  std::size_t max = 50;
  std::string url = "mem://", user = bench_credentials().user, pass = bench_credentials().pass;
  bool anonymous = false, authenticated = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--anonymous") { anonymous = true; continue; }
    if (k == "--authenticated") { authenticated = true; continue; }
    if (i + 1 >= argc) break;
    if (k == "--callers") callers = std::atoi(argv[++i]);
    else if (k == "--max") max = static_cast<std::size_t>(std::atol(argv[++i]));
    else if (k == "--url") url = argv[++i];
    else if (k == "--user") user = argv[++i];
    else if (k == "--pass") pass = argv[++i];
  }
  if (!anonymous && !authenticated) anonymous = authenticated = true;  // both, side by side
  const std::string name = "burst.callers" + std::to_string(callers) + ".max" + std::to_string(max);
  int failed = 0;
  std::optional<Outcome> with, without;
  if (authenticated) {
    with = burst(name + ".authenticated", Credentials{"", "", "", user, pass, "", {}}, url, callers, max);
    failed += with->failed;
  }
  if (anonymous) {
    without = burst(name + ".anonymous", std::nullopt, url, callers, max);
    failed += without->failed;
  }
  if (with && without) {
    json_line(name + ".authenticated_over_anonymous.wall", with->wall_s / without->wall_s, "ratio");
    json_line(name + ".authenticated_over_anonymous.acquire_wait_p99", with->wait_p99_ms / without->wait_p99_ms, "ratio");
  }
  return failed == 0 ? 0 : 1;
}
