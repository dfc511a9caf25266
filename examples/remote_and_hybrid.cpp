// The README's "many endpoints" configuration, whole: Remote mode over three servers with a
// health-based strategy and a tuned breaker, and Hybrid mode (a local cache synced to remotes).
// Only validated here (DatabaseConfig::validate throws std::invalid_argument naming the field):
// the servers are placeholders. Run: build/examples/example_remote_and_hybrid
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "cortex/pool/database_config.hpp"

using namespace cortex::pool;

int main() {
  DatabaseConfig config;
  // [readme]
  config.connection_mode.mode = ConnectionMode::Remote{
      {"ws://db1:8000", "ws://db2:8000", "ws://db3:8000"}, LoadBalancingStrategy::HealthBased};
  config.circuit_breaker.failure_threshold = 5;  // within circuit_breaker.window (10 s)
  config.circuit_breaker.open_timeout = std::chrono::seconds(30);
  // [/readme]
  try {
    config.validate();
    // [readme]
    ConnectionMode::Hybrid h;                  // a local cache, synced to remotes
    h.local_cache = "surrealkv://data/cache";  // or any ws:// endpoint
    h.remote_sync = {"ws://primary:8000", "ws://backup:8000"};
    h.sync_interval = std::chrono::seconds(60);
    h.tables = {"memory", "relation"};         // shipped with changefeeds
    config.connection_mode.mode = h;
    // [/readme]
    config.validate();
  } catch (const std::invalid_argument& e) {
    std::printf("remote/hybrid example: FAILED: %s\n", e.what());
    return 1;
  }
  std::printf("remote/hybrid example: ok\n");
  return 0;
}
