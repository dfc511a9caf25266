#pragma once
// SharedPath: the manager's shared path to one endpoint — a few connections, each multiplexing
// many stateless calls, with no exclusive lease. Calls go to the least-loaded open connection.
// Connections open asynchronously on demand (connect, signin, use): calls that arrive while none is
// open wait for the first, and fail together with its typed error if it cannot open; after a failed
// attempt, new attempts wait out a backoff and calls meanwhile fail at once with the last error — a
// down endpoint never blocks a caller, nor an io thread. Counts the calls in flight and signals when
// they drain, for graceful shutdown.
#include <chrono>
#include <memory>
#include <string>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/pool/pool_config.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace asio {
class io_context;
}

namespace cortex::pool {

struct SharedPathParams {
  std::string url;
  std::size_t connections = 2;
  storage::ConnectOptions connect;
  SessionDefaults defaults;
  std::string schema;     ///< run on every new connection, as the pool's are
  RetryPolicy reconnect;  ///< backoff between failed connection attempts
  std::shared_ptr<metrics::PoolMetrics> metrics;
  /// As ConnectionPoolParams::on_connect_result.
  std::function<void(std::error_code, const std::string& why)> on_connect_result;
  /// A serving connection closed without this path closing it (the server went away, a dead
  /// socket): told at once, before any call finds it gone. Runs on an io thread.
  std::function<void(const std::string& why)> on_connection_lost;
};

class SharedPath : public std::enable_shared_from_this<SharedPath> {
 public:
  static std::shared_ptr<SharedPath> create(asio::io_context& io, SharedPathParams params);
  ~SharedPath();

  /// Runs the request on the least-loaded open connection (opening one if none is). The handler
  /// gets (pool_closed | connect error | the call's outcome); on a local failure the value is the
  /// message, as RpcConnection handlers get it.
  void async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler);

  /// Runs the request on `conn` (one of this path's, held for affinity) with the path's accounting:
  /// counted in in_flight (so LeastConnections and the shutdown drain see it) and request_time.
  /// pool_closed once the path is closed.
  void async_call_on(storage::RpcConnection& conn, storage::Request request, storage::RequestOptions options,
                     storage::Handler handler);

  /// The least-loaded open connection (opening one if none is), for callers that need affinity
  /// (server-side sessions live on one connection). Same failures as async_call.
  /// `deadline`: when a connection is still opening, the caller gives up then with pool_timeout
  /// (none: it waits for the open attempt's own outcome).
  void async_connection(std::function<void(std::error_code, const std::string& why, std::shared_ptr<storage::RpcConnection>)> then,
                        std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  /// How long a call with no timeout of its own may take (its connections' request_timeout).
  std::chrono::milliseconds default_timeout() const;

  /// Calls accepted and not yet completed (queued or on the wire).
  std::size_t in_flight() const;
  /// Blocks until no call is in flight, or `timeout` passes. True when drained.
  bool wait_drained(std::chrono::milliseconds timeout) const;
  /// Queued calls fail with pool_closed; new calls too; connections close (calls on the wire fail
  /// with connection_lost). Idempotent.
  void close();
  std::size_t open_connections() const;

  struct Impl;

 private:
  explicit SharedPath(std::unique_ptr<Impl> impl);
  void run_counted(storage::RpcConnection& conn, storage::Request request, storage::RequestOptions options,
                   storage::Handler handler);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cortex::pool
