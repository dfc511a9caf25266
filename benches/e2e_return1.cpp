// End-to-end client cost: `RETURN 1` over one RpcConnection with K requests in flight.
// Prints JSON lines: throughput (queries/s) and client CPU per query (getrusage user+sys of this
// process, io thread included). Usage: bench_e2e_return1 --url ws://HOST:PORT/rpc
//        [--queries N] [--inflight K] [--label NAME]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "bench_auth.hpp"
#include "e2e_common.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/rpc_connection.hpp"

using namespace cortex::storage;

namespace {

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
  E2eArgs args;
  if (!args.parse(argc, argv)) {
    std::fprintf(stderr, "usage: bench_e2e_return1 --url URL [--queries N] [--inflight K] [--label NAME] [--path connection|manager]\n");
    return 2;
  }
  const std::string& url = args.url;
  const std::string& path = args.path;
  std::string label = args.label;
  const long queries = args.queries;
  const int inflight = args.inflight;
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
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  measure(queries);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  const std::string name = label + ".return1.inflight" + std::to_string(inflight);
  std::printf("{\"name\":\"%s.throughput\",\"value\":%.1f,\"unit\":\"queries/s\"}\n", name.c_str(), queries / wall);
  std::printf("{\"name\":\"%s.client_cpu\",\"value\":%.2f,\"unit\":\"us/query\"}\n", name.c_str(), cpu / queries * 1e6);
  return 0;
}
