#pragma once
// ConnectionPool: the pool of one endpoint. Drives a PoolCore with real RpcConnections on an Asio
// io_context: opens connections (signin, use, schema file, on_connection_create hook), hands out
// exclusive leases (PooledConnection), restores the session state a lease may have changed before
// anyone else gets the connection, retires connections by idle time, lifetime (with jitter) and use
// count, retries failed connects with backoff, and shuts down cleanly.
//
// Thread-safety: all members may be called from any thread; blocking acquire() must not be called
// on the io_context's threads. Lifetime: shared_ptr; leases keep it alive; the io_context must
// outlive it (pass its owner as ConnectionPoolParams::keep_alive).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/pool_config.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::pool {

class PooledConnection;

/// Session state every pooled connection starts with, and is restored to after each lease.
struct SessionDefaults {
  std::optional<std::string> ns, db;
  std::optional<storage::Credentials> credentials;  ///< signed in on every new connection; never logged
};

struct ConnectionPoolParams {
  std::string url;  ///< ws:// or wss:// endpoint
  PoolConfig config;
  /// Per-connection options (connect_timeout applies to each attempt, independently of the
  /// acquire deadline config.connection_timeout).
  storage::ConnectOptions connect;
  SessionDefaults defaults;
  /// Share of max_lifetime drawn at random and taken off each connection's lifetime, so that
  /// connections opened together do not all retire together. Default 0.1.
  double lifetime_jitter = 0.1;
  /// Idle connections are pinged this often; one that fails is closed and replaced. 0 = off.
  /// Default 30 s.
  std::chrono::milliseconds health_check_interval{30000};
  /// A connection idle longer than this is pinged before it is handed out. 0 = off. Default 5 s.
  std::chrono::milliseconds validate_after_idle{5000};
  /// A lease held longer than this is reported once (log warning with where it was acquired) and
  /// counted in metrics.leaks_detected. 0 = off. Default 60 s.
  std::chrono::milliseconds leak_threshold{60000};
  /// Runs after every connection attempt (set up included) with its outcome, on the io thread;
  /// e.g. to report an endpoint's present health. Must not block or call the pool.
  std::function<void(std::error_code, const std::string& why)> on_connect_result;
  /// Runs on every new connection before first use (on the io thread: use async calls only).
  std::function<void(storage::RpcConnection&)> on_connection_create;
  /// SurrealQL run on every new connection before first use (e.g. DEFINE TABLE … IF NOT EXISTS).
  std::string schema;
  /// Held for as long as the pool lives (leases keep the pool alive): e.g. the owner of the
  /// io_context, so that a lease outliving its manager still has a running context.
  std::shared_ptr<void> keep_alive;
};

class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  /// Validates the params (std::invalid_argument naming the field) and, with warm_connections,
  /// starts opening min_connections (without waiting for them). Without `metrics` the pool makes
  /// its own and reports live gauges into them; with shared metrics it adds its gauge changes, and
  /// their owner installs the live source (PoolMetrics::set_gauge_source).
  static std::shared_ptr<ConnectionPool> create(asio::io_context& io, ConnectionPoolParams params,
                                                std::shared_ptr<metrics::PoolMetrics> metrics = nullptr);
  ~ConnectionPool();

  /// Waits up to config.connection_timeout for a connection. Throws cortex::Error: pool_timeout,
  /// pool_closed, or the connect error when the endpoint cannot be reached.
  /// `file`/`line` record where the lease was taken, for leak reports (filled in by the compiler).
  PooledConnection acquire(const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// Async form; the handler runs on the io context.
  void async_acquire(std::function<void(std::error_code, PooledConnection)> handler,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// Async form that waits until `deadline` at the latest instead of config.connection_timeout
  /// (nullopt: connection_timeout from now): a caller that already spent part of its own deadline
  /// elsewhere (failover from another endpoint) passes what is left of it.
  void acquire_until(std::optional<std::chrono::steady_clock::time_point> deadline,
                     std::function<void(std::error_code, PooledConnection)> handler,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// The message acquire() throws with for an async_acquire error (counts, the connect error…).
  std::string describe(std::error_code ec) const;

  /// New acquires fail with pool_closed, waiters are woken with pool_closed, idle connections
  /// close; leased connections close when returned. Idempotent.
  void shutdown();

  /// Blocks until no connection is leased (or being restored after a lease), none is being opened,
  /// and nobody waits, or until `timeout` passes. True when the pool went quiet.
  bool wait_quiet(std::chrono::milliseconds timeout) const;

  struct Status {
    std::size_t size, idle, in_use, waiters, pending;
    bool closed;
    std::error_code last_error;
  };
  Status status() const;
  metrics::PoolMetrics& metrics() const noexcept;
  const std::string& url() const noexcept;

  struct Impl;

 private:
  explicit ConnectionPool(std::unique_ptr<Impl> impl);
  friend class PooledConnection;
  std::unique_ptr<Impl> impl_;
};

/// An exclusive lease of a pooled connection. Move-only; returns the connection on destruction.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(PooledConnection&& o) noexcept { *this = std::move(o); }
  PooledConnection& operator=(PooledConnection&& o) noexcept;
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;
  ~PooledConnection() { release(); }

  storage::RpcConnection& operator*() const { return *conn_; }
  storage::RpcConnection* operator->() const { return conn_.get(); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  /// The leased connection, shared (valid while the lease is held; do not keep it past release).
  const std::shared_ptr<storage::RpcConnection>& connection() const noexcept { return conn_; }

  /// The connection is not to be reused (e.g. a request on it timed out): it closes on release.
  void mark_broken() noexcept { broken_ = true; }
  /// Returns the connection now (also done by the destructor).
  void release();

 private:
  friend class ConnectionPool;
  std::shared_ptr<ConnectionPool> pool_;
  std::shared_ptr<void> slot_;  // the pool's slot, type-erased to keep PoolCore out of this header
  std::shared_ptr<storage::RpcConnection> conn_;
  bool broken_ = false;
};

}  // namespace cortex::pool
