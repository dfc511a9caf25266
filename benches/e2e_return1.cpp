// End-to-end client cost: `RETURN 1` over one RpcConnection with K requests in flight.
// Prints JSON lines: throughput (queries/s) and client CPU per query (getrusage user+sys of this
// process, io thread included). Usage: bench_e2e_return1 --url ws://HOST:PORT/rpc
//        [--queries N] [--inflight K] [--label NAME]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "bench_auth.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/rpc_connection.hpp"

using namespace cortex::storage;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Keeps `inflight` requests outstanding until `total` have completed. Client = RpcConnection or
// ConnectionManager (both have async_call).
template <class Client>
void run(Client& c, long total, int inflight) {
  std::atomic<long> issued{0}, completed{0}, failed{0};
  std::promise<void> done;
  std::function<void()> issue = [&] {
    if (issued.fetch_add(1) >= total) return;
    c.async_call(rpc::query("RETURN 1"), {}, [&](std::error_code ec, Value) {
      if (ec) ++failed;
      if (completed.fetch_add(1) + 1 == total) done.set_value();
      else issue();
    });
  };
  for (int i = 0; i < inflight; ++i) issue();
  done.get_future().get();
  if (failed) {
    std::fprintf(stderr, "bench: %ld queries failed\n", failed.load());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, label = "cpp", path = "connection";
  long queries = 20000;
  int inflight = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--url") url = argv[i + 1];
    else if (k == "--queries") queries = std::atol(argv[i + 1]);
    else if (k == "--inflight") inflight = std::atoi(argv[i + 1]);
    else if (k == "--label") label = argv[i + 1];
    else if (k == "--path") path = argv[i + 1];
  }
  if (url.empty() || queries <= 0 || inflight <= 0) {
    std::fprintf(stderr, "usage: bench_e2e_return1 --url URL [--queries N] [--inflight K] [--label NAME]\n");
    return 2;
  }
  IoRunner io(1);
  std::shared_ptr<RpcConnection> conn;
  std::unique_ptr<cortex::pool::ConnectionManager> manager;
  if (path == "manager") {
    cortex::pool::DatabaseConfig c;
    c.credentials = bench_credentials();
    c.connection_mode.mode = cortex::pool::ConnectionMode::Local{url};
    c.pool_config.min_connections = 0;
    c.shared_connections = 1;  // one socket, as the bare-connection run and the JS SDK use
    manager = std::make_unique<cortex::pool::ConnectionManager>(c);
    label += "_manager";
  } else {
    conn = RpcConnection::connect(io.context(), url);
    conn->call(rpc::signin(bench_credentials()));
  }
  auto measure = [&](long n) {
    if (manager) run(*manager, n, inflight);
    else run(*conn, n, inflight);
  };
  measure(queries / 10 + 1);  // warm-up
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  measure(queries);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const std::string name = label + ".return1.inflight" + std::to_string(inflight);
  std::printf("{\"name\":\"%s.throughput\",\"value\":%.1f,\"unit\":\"queries/s\"}\n", name.c_str(), queries / wall);
  std::printf("{\"name\":\"%s.client_cpu\",\"value\":%.2f,\"unit\":\"us/query\"}\n", name.c_str(), cpu / queries * 1e6);
  return 0;
}
