#pragma once
// MetricsServer: a tiny HTTP/1.1 endpoint on a manager's own io_context for scrapers and probes.
//   GET /metrics  the manager's metrics as Prometheus text (MetricsSnapshot::to_prometheus)
//   GET /health   health_status() as JSON; 200 while healthy, 503 when no endpoint takes calls
// Anything else is 404 (405 for methods other than GET and HEAD). One request per connection
// (Connection: close), a bounded request head, a per-connection deadline and a connection cap, so
// that a slow or hostile client cannot hold it. Plain HTTP: bind it to a private interface (the
// default is 127.0.0.1) or put it behind your TLS proxy.
//
// Lifetime: destroy (or close()) the server before its manager. After close() returns, no request
// touches the manager any more.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cortex/metrics/pool_metrics.hpp"

namespace cortex::pool {

class ConnectionManager;

struct MetricsServerOptions {
  std::string address = "127.0.0.1";  ///< IPv4 or IPv6 literal to listen on ("0.0.0.0": every interface)
  std::uint16_t port = 0;              ///< 0: the system picks a free port (see port())
  metrics::PrometheusOptions prometheus;
  std::size_t max_connections = 16;    ///< more at once are closed on accept
  std::chrono::milliseconds request_timeout{5000};  ///< to receive the request and send the reply
};

class MetricsServer {
 public:
  /// Listens at once. Throws cortex::Error(invalid_argument) for a bad address and
  /// cortex::Error(server_start_failed) when the port cannot be bound.
  explicit MetricsServer(ConnectionManager& manager, MetricsServerOptions options = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The port it listens on (the system's choice when options.port was 0).
  std::uint16_t port() const noexcept;
  /// Stops listening and drops open connections. Idempotent; may be called from any thread.
  void close();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cortex::pool
