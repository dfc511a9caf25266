// The README's connection-manager example, whole: Local mode on the embedded engine (signed in as
// root), the shared path, an exclusive lease, execute_with_retry, health and metrics, shutdown.
// Run: build/examples/example_manager_basics
#include <chrono>
#include <cstdio>

// [readme]
#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/metrics_server.hpp"
using namespace cortex::pool;
// [/readme]
using cortex::storage::Credentials;
using cortex::storage::Value;
namespace rpc = cortex::storage::rpc;

int main() {
  // [readme]
  DatabaseConfig config;                                          // seed 002's names and defaults
  config.connection_mode.mode = ConnectionMode::Local{"mem://"};  // starts the embedded engine
  config.credentials = Credentials{"", "", "", "root", "example-secret", "", {}};  // its root user
  config.pool_config.min_connections = 2;
  config.pool_config.max_connections = 50;                        // timeout 30 s, idle 300 s, lifetime 1800 s…
  config.namespace_ = "cortex";
  config.database = "main";
  config.schema = "DEFINE TABLE IF NOT EXISTS memory SCHEMALESS;";  // or read_schema_file("schema.surql")
  ConnectionManager manager(config);

  manager.query("CREATE memory SET text = $t", {{"t", Value("hi")}}).throw_if_error();  // shared path
  {
    PooledConnection lease = manager.acquire();  // exclusive: use, let, transactions
    lease->call(rpc::use("scratch", "tmp"));
  }                                              // returned; its session state is restored
  const auto rows = manager.execute_with_retry([&] {  // re-runs only what cannot have reached the server
    return manager.query("SELECT * FROM memory");
  });
  const std::string health = manager.health_status().to_json();
  const std::string prom = manager.metrics().snapshot().to_prometheus();  // promtool-clean text
  MetricsServer exposer(manager);  // GET /metrics and /health on 127.0.0.1:exposer.port()
  exposer.close();
  manager.shutdown(std::chrono::seconds(5));
  // [/readme]
  const bool ok = rows.ok() && rows.statements.at(0).result.get<cortex::storage::Array>().size() == 1 && manager.health_status().endpoints.size() == 1 &&
                  !health.empty() && !prom.empty();
  std::printf("%s\n", ok ? "manager example: ok" : "manager example: FAILED");
  return ok ? 0 : 1;
}
