// cortex-demo: a few agents share one ConnectionManager on the embedded local engine (or any
// SurrealDB with --endpoint): they write and recall memories through the shared multiplexed path,
// commit a transaction on an exclusive lease, and a live query watches it all. Prints what happened,
// the pool's metrics and its health_status JSON.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/value_json.hpp"

using namespace cortex::pool;
using namespace cortex::storage;

namespace {

struct Args {
  std::string endpoint = "mem://";
  int agents = 4;
  int memories = 5;
  std::string user, pass;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "cortex-demo: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: cortex-demo [--endpoint URL] [--agents N] [--memories N] [--user U --pass P]\n"
               "  URL: mem:// (default: starts the embedded engine), surrealkv://DIR, or ws://HOST:PORT of any SurrealDB\n");
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
    if (k == "--endpoint") a.endpoint = val();
    else if (k == "--agents") a.agents = std::max(1, std::atoi(val().c_str()));
    else if (k == "--memories") a.memories = std::max(1, std::atoi(val().c_str()));
    else if (k == "--user") a.user = val();
    else if (k == "--pass") a.pass = val();
    else if (k == "--help" || k == "-h") usage("");
    else usage("unknown argument " + k);
  }
  return a;
}

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args args = parse(argc, argv);
  try {
    DatabaseConfig config;
    config.connection_mode.mode = ConnectionMode::Local{args.endpoint};
    config.pool_config.min_connections = 2;
    config.pool_config.max_connections = 8;
    config.namespace_ = "cortex_demo";
    config.database = "memories";
    config.schema = "DEFINE TABLE IF NOT EXISTS memory SCHEMALESS; DEFINE TABLE IF NOT EXISTS ledger SCHEMALESS;";
    if (!args.user.empty()) {
      Credentials c;
      c.user = args.user;
      c.pass = args.pass;
      config.credentials = c;
    }
    std::printf("starting the connection manager on %s ...\n", args.endpoint.c_str());
    ConnectionManager manager(config);
    std::printf("serving %s through %s\n", args.endpoint.c_str(), manager.endpoint_url().c_str());

    // A live query on its own lease watches every memory being written.
    std::atomic<int> notified{0};
    PooledConnection watcher = manager.acquire();
    const Uuid live = watcher->live(Value(Table{"memory"}), [&](const Notification& n) {
      if (n.action == "CREATE") ++notified;
    });

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> agents;
    std::atomic<int> failures{0};
    for (int a = 0; a < args.agents; ++a) {
      agents.emplace_back([&, a] {
        const std::string name = "agent-" + std::to_string(a);
        try {
          for (int i = 0; i < args.memories; ++i) {
            // Values travel as query variables, never pasted into SurrealQL.
            manager
                .query("CREATE memory CONTENT { agent: $agent, text: $text, importance: $importance, at: time::now() }",
                       {{"agent", Value(name)}, {"text", Value(name + " note #" + std::to_string(i))},
                        {"importance", Value(static_cast<double>(i) / args.memories)}})
                .throw_if_error();
          }
          // An exclusive lease for a real transaction: both writes or neither.
          auto lease = manager.acquire();
          RequestOptions in_txn;
          in_txn.txn = lease->call(rpc::begin()).get<Uuid>();
          lease->query("CREATE ledger SET agent = $agent, kind = 'debit', amount = 10", {{"agent", Value(name)}}, in_txn)
              .throw_if_error();
          lease->query("CREATE ledger SET agent = $agent, kind = 'credit', amount = 10", {{"agent", Value(name)}}, in_txn)
              .throw_if_error();
          lease->call(rpc::commit(*in_txn.txn));
        } catch (const cortex::Error& e) {
          ++failures;
          std::fprintf(stderr, "%s failed: %s\n", name.c_str(), e.what());
        }
      });
    }
    for (auto& t : agents) t.join();
    const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%d agents wrote %d memories each and committed one transaction each in %.1f ms\n", args.agents,
                args.memories, wall);

    auto recall = manager.query("SELECT agent, count() AS memories FROM memory GROUP BY agent ORDER BY agent");
    for (const auto& row : recall.at(0).get<Array>()) {
      std::printf("  %-10s recalls %lld memories\n", row["agent"].get<std::string>().c_str(),
                  static_cast<long long>(row["memories"].get<std::int64_t>()));
    }
    auto best = manager.query("SELECT text, importance FROM memory ORDER BY importance DESC LIMIT 1").at(0);
    std::printf("  most important memory: %s\n", best[std::size_t{0}]["text"].get<std::string>().c_str());
    auto ledger = manager.query("SELECT count() AS entries FROM ledger GROUP ALL").at(0);
    std::printf("  ledger entries: %lld (two per committed transaction)\n",
                static_cast<long long>(ledger[std::size_t{0}]["entries"].get<std::int64_t>()));

    // Invalid SurrealQL: the server's message reaches the caller as a typed error.
    try {
      manager.query("SELEKT * FROM memory");
    } catch (const cortex::Error& e) {
      std::printf("invalid SurrealQL is refused: [%s/%s] %.60s...\n", e.code().category().name(),
                  e.server_kind().c_str(), e.what());
    }
    watcher->kill(live);
    watcher.release();
    std::printf("live query saw %d CREATE notifications\n", notified.load());

    const auto m = manager.metrics().snapshot();
    std::printf("pool: %lld connections created, %llu leases (%llu reused), peak in use %lld; request p50 %.2f ms, p99 %.2f ms\n",
                static_cast<long long>(m.connections_created), static_cast<unsigned long long>(m.acquisitions),
                static_cast<unsigned long long>(m.connections_reused), static_cast<long long>(m.peak_in_use),
                ms(m.request_time.p50), ms(m.request_time.p99));
    std::printf("health_status: %s\n", manager.health_status().to_json().c_str());
    manager.shutdown(std::chrono::seconds(5));
    std::printf("done\n");
    return failures.load() == 0 ? 0 : 1;
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-demo: failed: %s [%s]\n", e.what(), e.code().message().c_str());
    return 1;
  }
}
