// cortex-demo: N agents share one ConnectionManager (the embedded local engine by default), each
// in its own namespace through an AgentSession: they store, recall and relate memories, run
// transactions and log them, while one watches its memories with a live query. A progress line
// shows operations/s, latency and the pool; then a table per agent and the health_status JSON.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent_work.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/error.hpp"

using namespace cortex::pool;
using namespace cortex::sessions;
using namespace cortex::storage;

namespace {

struct Args {
  std::vector<std::string> endpoints;
  std::string mode;  // local | remote | hybrid; default by the number of endpoints
  int agents = 8;
  double duration_s = 5;
  std::string user, pass;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "cortex-demo: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: cortex-demo [--agents N] [--duration SECONDS] [--endpoint URL]... [--mode local|remote|hybrid]\n"
               "                   [--user U [--pass P]]\n"
               "  URL: mem:// (default: the embedded engine), surrealkv://DIR, or ws://HOST:PORT of any SurrealDB.\n"
               "  Several --endpoint: Remote mode (balanced, with circuit breakers); --mode hybrid: the first is\n"
               "  the local cache, synced to the others.\n"
               "  Signed in as on a production server: the embedded engine gets a root user with a password made\n"
               "  up for this run; other servers take --user with --pass or, kept out of `ps`, SURREAL_PASS.\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--endpoint") a.endpoints.push_back(val());
    else if (k == "--mode") a.mode = val();
    else if (k == "--agents") a.agents = std::max(1, std::atoi(val().c_str()));
    else if (k == "--duration") a.duration_s = std::max(0.1, std::atof(val().c_str()));
    else if (k == "--user") a.user = val();
    else if (k == "--pass") a.pass = val();
    else if (k == "--help" || k == "-h") usage("");
    else usage("unknown argument " + k);
  }
  if (a.endpoints.empty()) a.endpoints.push_back("mem://");
  if (const char* env = std::getenv("SURREAL_PASS"); !a.user.empty() && a.pass.empty() && env) a.pass = env;
  bool all_embedded = true;
  for (const auto& e : a.endpoints) all_embedded = all_embedded && (e.rfind("mem://", 0) == 0 || e.rfind("surrealkv://", 0) == 0);
  if (a.user.empty() && all_embedded) {
    a.user = "root";  // the engine this run starts defines it; the password never leaves the process
    a.pass = "demo-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
  }
  if (a.mode.empty()) a.mode = a.endpoints.size() > 1 ? "remote" : "local";
  if (a.mode != "local" && a.mode != "remote" && a.mode != "hybrid") usage("--mode must be local, remote or hybrid");
  if (a.mode == "local" && a.endpoints.size() > 1) usage("--mode local takes one --endpoint");
  if (a.mode == "hybrid" && a.endpoints.size() < 2) usage("--mode hybrid needs a local --endpoint and at least one remote");
  return a;
}

DatabaseConfig config_of(const Args& a) {
  DatabaseConfig c;
  if (a.mode == "local") {
    c.connection_mode.mode = ConnectionMode::Local{a.endpoints[0]};
  } else if (a.mode == "remote") {
    c.connection_mode.mode = ConnectionMode::Remote{a.endpoints, LoadBalancingStrategy::HealthBased};
  } else {
    ConnectionMode::Hybrid h;
    h.local_cache = a.endpoints[0];
    h.remote_sync.assign(a.endpoints.begin() + 1, a.endpoints.end());
    h.sync_interval = std::chrono::seconds(1);
    c.connection_mode.mode = h;
  }
  c.pool_config.min_connections = 1;
  c.pool_config.max_connections = 8;
  c.namespace_ = "cortex_demo";
  if (!a.user.empty()) c.credentials = Credentials{"", "", "", a.user, a.pass, "", {}};
  return c;
}

std::string breakers(const HealthStatus& h) {
  std::string s;
  for (const auto& e : h.endpoints) s += (s.empty() ? "" : ",") + e.circuit_breaker_state;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    std::printf("cortex-demo: %d agents, %.1f s, %s mode on %s%s\n", args.agents, args.duration_s, args.mode.c_str(),
                args.endpoints[0].c_str(), args.endpoints.size() > 1 ? " (+ more)" : "");
    ConnectionManager manager(config_of(args));
    std::printf("engine: %s\n", manager.endpoint_url().c_str());
    Demo demo(manager, args.agents);
    demo.start(std::chrono::duration<double>(args.duration_s));
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t last_ops = 0;
    auto last_t = t0;
    while (!demo.wait_done(std::chrono::milliseconds(tty ? 250 : 1000))) {  // a display refresh
      const auto now = std::chrono::steady_clock::now();
      const auto ops = demo.operations();
      const double rate = static_cast<double>(ops - last_ops) / std::chrono::duration<double>(now - last_t).count();
      last_ops = ops;
      last_t = now;
      const auto lat = demo.latency();
      const auto h = manager.health_status();
      std::printf("%s[%5.1fs] %8.0f ops/s  p50 %6.2f ms  p99 %6.2f ms  pool in_use %zu idle %zu waiters %zu  breakers %s%s",
                  tty ? "\r" : "", std::chrono::duration<double>(now - t0).count(), rate, lat.p50.count() / 1e6,
                  lat.p99.count() / 1e6, h.in_use, h.available_connections, h.waiters, breakers(h).c_str(), tty ? "" : "\n");
      std::fflush(stdout);
    }
    std::printf("%s\n", tty ? "" : "");
    demo.print_table();
    std::printf("health_status: %s\n", manager.health_status().to_json().c_str());
    const int failed = demo.failed_agents();
    manager.shutdown(std::chrono::seconds(5));
    std::printf("done\n");
    return failed == 0 ? 0 : 1;
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-demo: failed: %s [%s]\n", e.what(), e.code().message().c_str());
    return 1;
  }
}
