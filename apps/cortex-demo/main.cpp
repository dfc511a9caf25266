// cortex-demo: N agents share one ConnectionManager (the embedded local engine by default), each
// in its own namespace through an AgentSession: they store, recall and relate memories, run
// transactions and log them, while one watches its memories with a live query. A progress line
// shows operations/s, latency and the pool; then a table per agent and the health_status JSON.
// Exit status: 0 when every agent finished without error, 1 when any failed, 2 on bad arguments,
// 130 after Ctrl-C (the summary is printed first).
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent_work.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/metrics_server.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/url.hpp"
#include "cortex/version.hpp"

using namespace cortex::pool;
using namespace cortex::sessions;
using namespace cortex::storage;

namespace {

struct Args {
  std::vector<std::string> endpoints;
  std::string mode;  // local | remote | hybrid; default by the number of endpoints
  int agents = 8;
  double duration_s = 5;
  std::string user, pass_file, report, metrics_file;
  int metrics_port = -1;  // -1: no HTTP endpoint; 0: the system picks a port
  int engine = 3;         // SurrealDB generation of the embedded engine
  std::string pass;  // from --pass-file, CORTEX_PASS or SURREAL_PASS; never a flag (it would show in `ps`)
};

std::atomic<bool> interrupted{false};
extern "C" void on_sigint(int) { interrupted = true; }

bool embedded(const std::string& url) {
  try {
    return cortex::storage::parse_endpoint(url).is_local();
  } catch (const cortex::Error&) {
    return false;  // refused with its reason when the manager is configured
  }
}

// Fills in what the flags leave open; throws CLI::ValidationError on combinations that make no sense.
void complete(Args& a) {
  if (a.endpoints.empty()) a.endpoints.push_back("mem://");
  if (!a.pass_file.empty()) {
    std::ifstream in(a.pass_file);
    if (!in || !std::getline(in, a.pass)) throw CLI::ValidationError("--pass-file", "cannot read " + a.pass_file);
  } else if (const char* env = std::getenv("CORTEX_PASS"); env && *env) {
    a.pass = env;
  } else if (const char* legacy = std::getenv("SURREAL_PASS"); legacy && *legacy) {
    a.pass = legacy;
  }
  bool all_embedded = true;
  for (const auto& e : a.endpoints) all_embedded = all_embedded && embedded(e);
  if (a.user.empty() && all_embedded) {
    a.user = "root";  // the engine this run starts defines it; the password never leaves the process
    a.pass = "demo-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
  }
  if (!a.user.empty() && a.pass.empty()) throw CLI::ValidationError("--user", "needs a password: CORTEX_PASS or --pass-file");
  if (a.mode.empty()) a.mode = a.endpoints.size() > 1 ? "remote" : "local";
  if (a.mode == "local" && a.endpoints.size() > 1) throw CLI::ValidationError("--mode", "local takes one --endpoint");
  if (a.mode == "hybrid" && a.endpoints.size() < 2) {
    throw CLI::ValidationError("--mode", "hybrid needs a local --endpoint and at least one remote");
  }
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
  c.local_engine.engine = a.engine;
  if (!a.user.empty()) c.credentials = Credentials{"", "", "", a.user, a.pass, "", {}};
  return c;
}

std::string breakers(const HealthStatus& h) {
  std::string s;
  for (const auto& e : h.endpoints) s += (s.empty() ? "" : ",") + e.circuit_breaker_state;
  return s;
}

std::size_t terminal_width() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

// One progress line; on a terminal it is cut to the width so that `\r` rewrites it in place.
void progress(bool tty, double elapsed, double rate, const cortex::metrics::LatencySummary& lat, const HealthStatus& h) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "[%5.1fs] %7.0f ops/s  p50 %.2f ms  p99 %.2f ms  in_use %zu idle %zu waiters %zu  breakers %s",
                elapsed, rate, lat.p50.count() / 1e6, lat.p99.count() / 1e6, h.in_use, h.available_connections, h.waiters,
                breakers(h).c_str());
  std::string line(buf);
  if (tty) {
    const std::size_t width = terminal_width();
    if (line.size() >= width) line.resize(width - 1);
    std::printf("\r%s\x1b[K", line.c_str());  // clear what a longer earlier line left
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

int run(const Args& args) {
  std::printf("cortex-demo %s: %d agents, %.1f s, %s mode on %s%s\n", CORTEX_STORAGE_VERSION_STRING, args.agents,
              args.duration_s, args.mode.c_str(), args.endpoints[0].c_str(), args.endpoints.size() > 1 ? " (+ more)" : "");
  ConnectionManager manager(config_of(args));
  const cortex::storage::Value version = manager.call(cortex::storage::rpc::version());
  std::printf("engine: %s (%s)\n", manager.endpoint_url().c_str(),
              version.is<std::string>() ? version.get<std::string>().c_str() : "version unknown");
  std::optional<MetricsServer> exposer;
  if (args.metrics_port >= 0) {
    MetricsServerOptions o;
    o.port = static_cast<std::uint16_t>(args.metrics_port);
    exposer.emplace(manager, o);
    std::printf("metrics: http://127.0.0.1:%u/metrics (and /health)\n", static_cast<unsigned>(exposer->port()));
  }
  Demo demo(manager, args.agents);
  ::signal(SIGINT, on_sigint);  // Ctrl-C: stop the agents, print the summary, exit 130
  demo.start(std::chrono::duration<double>(args.duration_s));
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t last_ops = 0;
  auto last_t = t0;
  while (!demo.wait_done(std::chrono::milliseconds(tty ? 250 : 1000))) {  // a display refresh
    if (interrupted) demo.stop();
    const auto now = std::chrono::steady_clock::now();
    const auto ops = demo.operations();
    const double rate = static_cast<double>(ops - last_ops) / std::chrono::duration<double>(now - last_t).count();
    last_ops = ops;
    last_t = now;
    progress(tty, std::chrono::duration<double>(now - t0).count(), rate, demo.latency(), manager.health_status());
  }
  if (tty) std::printf("\n");
  if (interrupted) std::printf("interrupted: summary so far\n");
  demo.print_table();
  const auto health = manager.health_status();
  std::printf("health_status: %s\n", health.to_json().c_str());
  const int failed = demo.failed_agents();
  if (!args.report.empty()) {
    auto report = demo.report();
    report["mode"] = args.mode;
    report["duration_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report["interrupted"] = interrupted.load();
    report["ok"] = failed == 0;
    report["health"] = nlohmann::json::parse(health.to_json());
    std::ofstream out(args.report);
    out << report.dump(2) << "\n";
    if (!out) std::fprintf(stderr, "cortex-demo: could not write the report to %s\n", args.report.c_str());
  }
  if (!args.metrics_file.empty()) {  // e.g. for node_exporter's textfile collector
    std::ofstream out(args.metrics_file);
    out << manager.metrics().snapshot().to_prometheus();
    if (!out) std::fprintf(stderr, "cortex-demo: could not write the metrics to %s\n", args.metrics_file.c_str());
  }
  if (exposer) exposer->close();
  manager.shutdown(std::chrono::seconds(5));
  if (interrupted) return 130;
  if (failed > 0) {
    std::printf("FAILED: %d of %d agents stopped on an error (see the table)\n", failed, args.agents);
    return 1;
  }
  std::printf("done\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"N agents share one ConnectionManager, each in its own namespace through an AgentSession.\n"
               "Signed in as on a production server: the embedded engine gets a root user with a password made\n"
               "up for this run; other servers take --user, with the password from CORTEX_PASS or --pass-file.",
               "cortex-demo"};
  app.set_version_flag("--version", std::string("cortex-demo ") + CORTEX_STORAGE_VERSION_STRING);
  app.add_option("--agents", args.agents, "agents, each an AgentSession in its own namespace")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--duration", args.duration_s, "seconds to run")->check(CLI::Range(0.1, 86400.0))->capture_default_str();
  app.add_option("--endpoint", args.endpoints,
                 "mem:// (default: the embedded engine), surrealkv://DIR, rocksdb://DIR, or ws://HOST:PORT (or http://HOST:PORT, HTTP RPC) of any SurrealDB; "
                 "several: Remote mode");
  app.add_option("--engine", args.engine, "SurrealDB generation of the embedded engine: 3 (3.0.2) or 2 (2.1.1)")
      ->check(CLI::IsMember({2, 3}))
      ->capture_default_str();
  app.add_option("--mode", args.mode, "local, remote or hybrid (the first endpoint is the local cache)")
      ->check(CLI::IsMember({"local", "remote", "hybrid"}));
  app.add_option("--user", args.user, "root user to sign in as (the password: CORTEX_PASS or --pass-file)");
  app.add_option("--pass-file", args.pass_file, "file whose first line is the password")->check(CLI::ExistingFile);
  app.add_option("--report", args.report, "write per-agent figures and totals as JSON to this file");
  app.add_option("--metrics-port", args.metrics_port,
                 "serve /metrics (Prometheus) and /health on 127.0.0.1 at this port while running (0: any free port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-file", args.metrics_file, "write the final metrics as Prometheus text to this file");
  try {
    app.parse(argc, argv);
    complete(args);
  } catch (const CLI::ParseError& e) {
    // --help/--version print to stdout and exit 0; a bad argument prints why to stderr and exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return run(args);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "cortex-demo: %s\n", e.what());
    return 2;
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-demo: failed: %s [%s]\n", e.what(), e.code().message().c_str());
    return 1;
  }
}
