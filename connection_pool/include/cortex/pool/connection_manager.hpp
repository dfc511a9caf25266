#pragma once
// ConnectionManager: the façade of seed 002. Owns one pool and one shared lane per endpoint (and
// the embedded engine for mem://, surrealkv:// and rocksdb:// endpoints), each endpoint behind a circuit
// breaker; routes by the mode (Local, Remote with a LoadBalancer strategy, Hybrid: the local cache
// first) and fails over: a shared call that never reached its endpoint, or an acquire whose
// endpoint cannot be reached, moves to another endpoint. Exposes exclusive leases (acquire), the
// shared multiplexed path for stateless calls (query, call), execute_with_retry, health_status,
// metrics, and in Hybrid mode the changefeed sync to the remotes.
//
// Thread-safety: every member may be called from any thread (blocking ones not from the manager's
// io threads). Destroying the manager shuts it down; outstanding leases stay valid until released.
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/pool/database_config.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::pool {

struct EndpointHealth {
  std::string url;
  bool healthy = false;  ///< its breaker lets calls through and it is reachable as far as known
  std::size_t size = 0, idle = 0, in_use = 0, waiters = 0, shared_in_flight = 0;
  std::string circuit_breaker_state = "Closed";  ///< Closed, Open or HalfOpen
  std::string last_error;
  /// Calls through its breaker's accounting; of those, failures of the endpoint (server errors are
  /// answers, not failures); failed connection attempts.
  std::uint64_t requests = 0, request_failures = 0, connect_failures = 0;
};

/// Hybrid mode's sync, both ways: the local cache's changes shipped to the remotes, the remotes'
/// changes (writes made there while the cache was down, or by other clients) copied into the cache.
struct SyncHealth {
  std::uint64_t shipped_changes = 0, pulled_changes = 0, passes = 0;
  std::int64_t lag_ms = -1;  ///< since the last complete pass; -1 before the first
  /// The local cache takes calls: a pass that began after its latest failure has copied the
  /// remotes' changes in. False while it catches up (calls go to the remotes meanwhile).
  bool cache_serving = false;
  std::string last_error;
};

struct HealthStatus {
  bool healthy = false;  ///< at least one endpoint takes calls
  std::size_t pool_size = 0, available_connections = 0, in_use = 0, waiters = 0;
  /// Closed when every endpoint's breaker is closed, Open when none lets calls through, else HalfOpen.
  std::string circuit_breaker_state = "Closed";
  std::vector<EndpointHealth> endpoints;
  std::optional<SyncHealth> sync;  ///< Hybrid mode only
  std::string to_json() const;
};

/// How execute_with_retry treats failures that may have reached the server.
struct RetryOptions {
  /// True when running the operation twice is harmless: then timeouts and lost connections are
  /// retried too. False (default): only failures that surely never reached the server are.
  bool idempotent = false;
};

class ConnectionManager {
 public:
  /// Validates the config (std::invalid_argument naming the field), starts the embedded engine for
  /// a mem://, mem://NAME, surrealkv:// or rocksdb:// endpoint (one per name or directory in
  /// the process: see LocalServer::shared), and starts the pools. `io_threads` run the manager's own
  /// io_context. Throws cortex::Error(server_start_failed) when the engine cannot start.
  explicit ConnectionManager(DatabaseConfig config, unsigned io_threads = 1);
  ~ConnectionManager();
  ConnectionManager(const ConnectionManager&) = delete;
  ConnectionManager& operator=(const ConnectionManager&) = delete;

  /// An exclusive lease (for use, let, transactions). Throws like ConnectionPool::acquire.
  /// `file`/`line` record where the lease was taken, for leak reports (filled in by the compiler).
  PooledConnection acquire(const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// Async form; the handler runs on the manager's io thread.
  void async_acquire(std::function<void(std::error_code, PooledConnection)> handler,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE());

  /// Shared path: runs a stateless request on the least-loaded shared connection, in the
  /// configured namespace and database. Throws cortex::Error. Methods that change session state
  /// (use, let, set, unset, signin, signup, authenticate, invalidate, reset, attach, detach, begin,
  /// commit, cancel) fail with Errc::session_state_on_shared_path before anything is sent: every
  /// caller shares these sessions. Do not put USE or LET statements in a shared `query` either.
  storage::Value call(storage::Request request, storage::RequestOptions options = {});
  storage::QueryResult query(std::string sql, storage::Object vars = {}, storage::RequestOptions options = {});
  void async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler);

  /// A shared (multiplexed) connection of an endpoint whose breaker lets calls through, for work
  /// that needs affinity: 3.x server-side sessions live on one connection. Use it only with
  /// RequestOptions::session (or read-only calls): its own session belongs to the manager.
  std::shared_ptr<storage::RpcConnection> shared_connection();
  void async_shared_connection(
      std::function<void(std::error_code, const std::string& why, std::shared_ptr<storage::RpcConnection>)> handler);

  /// Runs a request on a connection this manager handed out (shared_connection(), or a lease's)
  /// through its endpoint's accounting, as the shared path's calls are: its circuit breaker
  /// (circuit_open while it is open), its health score, the in-flight count LeastConnections reads,
  /// request_time, and shutdown(grace)'s drain (pool_closed after shutdown). For work that needs
  /// one connection, e.g. a 3.x server-side session (RequestOptions::session); AgentSession uses it.
  void async_call_on(const std::shared_ptr<storage::RpcConnection>& conn, storage::Request request,
                     storage::RequestOptions options, storage::Handler handler);

  /// Runs fn() until it succeeds, retrying transient failures with the RetryPolicy's backoff
  /// (up to max_attempts). Without RetryOptions::idempotent, fn() is run again only when no
  /// request of the failed attempt may have reached a server: the failure is one that proves its
  /// request unsent (connect failed, circuit open…) and no earlier blocking call of the same
  /// attempt, on this thread, may have run (storage::calls_possibly_run_on_this_thread) — so a
  /// write followed by a failed connect is rethrown, never written twice. With idempotent, timeouts
  /// and lost connections are retried too. Counted as an operation: metrics operations_succeeded
  /// when fn returns, operation_attempts_failed for each run of fn that throws, retries for each
  /// run again (each request fn makes counts in successes/errors where it ends, as every request
  /// does). fn's calls must be blocking calls on the calling thread for the ledger to see them.
  template <class F>
  auto execute_with_retry(F&& fn, RetryOptions options = {}) -> decltype(fn());
  /// Async form: `op(done)` starts one attempt and calls `done(ec, value)` exactly once. A failed
  /// attempt is judged by its own error: retried (after the RetryPolicy's backoff, on a timer of
  /// the manager's io_context — no thread sleeps) only when that error proves nothing was sent,
  /// or with `idempotent` also after timeouts and lost connections. So an attempt of several
  /// steps must report a "never sent" code (connect_failed…) only when none of its steps ran.
  /// `handler` runs once with the last outcome, on the manager's io thread. Counted as the blocking
  /// form's operations are.
  void async_execute_with_retry(std::function<void(storage::Handler)> op, storage::Handler handler,
                                RetryOptions options = {});

  /// Blocks until no lease is out (or being restored), no connection is being opened and nobody
  /// waits, or `timeout` passes.
  /// True when quiet. For graceful drains and tests.
  bool wait_idle(std::chrono::milliseconds timeout) const;

  /// The configuration the manager runs with (validated; endpoints as configured). Its
  /// credentials are what agent sessions without their own sign in with.
  const DatabaseConfig& config() const noexcept;

  HealthStatus health_status() const;
  metrics::PoolMetrics& metrics() const noexcept;
  /// The ws:// URL of the first endpoint (of the embedded engine for a local endpoint); in
  /// Hybrid mode, of the local cache.
  const std::string& endpoint_url() const noexcept;
  /// The manager's own io_context (its handlers run there; blocking calls must not).
  asio::io_context& io_context() const noexcept;
  /// Every endpoint's ws:// URL, in configuration order (Hybrid: the local cache first).
  std::vector<std::string> endpoint_urls() const;
  /// Hybrid mode: ships pending changes to the remotes now and waits (up to `timeout`). True when
  /// the pass completed. False in other modes.
  bool sync_now(std::chrono::milliseconds timeout);

  /// New work fails with pool_closed at once; waiters are woken with pool_closed; leases and calls
  /// in flight get up to `grace` to finish; then every connection closes. Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  /// A reference that does not keep the manager alive, for objects that may outlive it (each
  /// AgentSession holds one), defined below.
  class WeakRef;
  WeakRef weak_ref() const;

 private:
  struct Impl;
  struct ViewOf {};
  /// WeakRef::with's view of a live manager: the same state; destroying it leaves the manager be.
  ConnectionManager(std::shared_ptr<Impl> impl, ViewOf) noexcept : impl_(std::move(impl)), view_(true) {}

  bool should_retry(std::error_code ec, const RetryOptions& o, bool attempt_may_have_run) const noexcept;
  /// Counts a retry after `ec` and reports it to the event hook.
  void count_retry(std::error_code ec) const;
  /// Counts an attempt of execute_with_retry that ended: a success ends its operation.
  void count_attempt(bool succeeded) const noexcept;
  std::uint32_t max_attempts() const noexcept;
  std::chrono::milliseconds backoff(std::uint32_t retry) const;
  std::shared_ptr<Impl> impl_;  // shared: in-flight handlers and WeakRefs hold it weakly
  bool view_ = false;           // a WeakRef::with view: its destruction does not shut down
};

/// What an object that may outlive its manager holds instead of a reference to it (an
/// AgentSession does): the manager only while it lives, but its io_context (with its threads) and
/// its metrics for as long as the WeakRef lives, so that connections, timers and counters made on
/// them stay valid after the manager is gone — as a lease keeps its pool. Copyable; thread-safe.
class ConnectionManager::WeakRef {
 public:
  /// Runs fn(manager) and returns true while the manager lives: its state cannot go away during
  /// fn (its owner may shut it down meanwhile: calls then fail with pool_closed). Once it has been
  /// destroyed, returns false without running fn. fn must not keep the reference.
  template <class F>
  bool with(F&& fn) const;
  asio::io_context& io_context() const noexcept { return *io_; }
  const std::shared_ptr<metrics::PoolMetrics>& metrics() const noexcept { return metrics_; }

 private:
  friend class ConnectionManager;
  std::weak_ptr<Impl> impl_;
  std::shared_ptr<void> io_owner_;  // keeps *io_ and its threads
  asio::io_context* io_ = nullptr;
  std::shared_ptr<metrics::PoolMetrics> metrics_;
};

template <class F>
bool ConnectionManager::WeakRef::with(F&& fn) const {
  auto impl = impl_.lock();
  if (!impl) return false;
  ConnectionManager view(std::move(impl), ViewOf{});
  std::forward<F>(fn)(view);
  return true;
}

template <class F>
auto ConnectionManager::execute_with_retry(F&& fn, RetryOptions options) -> decltype(fn()) {
  // Counts the operation once fn has returned (whatever it returns: void, a reference, a move-only
  // value), and not while an exception thrown by fn passes through.
  struct CountsSuccess {
    const ConnectionManager& manager;
    const int uncaught = std::uncaught_exceptions();
    ~CountsSuccess() {
      if (std::uncaught_exceptions() == uncaught) manager.count_attempt(true);
    }
  };
  for (std::uint32_t attempt = 1;; ++attempt) {
    const auto calls_before = storage::calls_possibly_run_on_this_thread();
    try {
      CountsSuccess counts{*this};
      return fn();
    } catch (const Error& e) {
      count_attempt(false);
      const bool ran = storage::calls_possibly_run_on_this_thread() != calls_before;
      if (!should_retry(e.code(), options, ran) || attempt >= max_attempts()) throw;
      count_retry(e.code());
      std::this_thread::sleep_for(backoff(attempt));  // the retry's own backoff, not a synchronisation
    } catch (...) {  // not a cortex error: never retried, but a failed attempt all the same
      count_attempt(false);
      throw;
    }
  }
}

}  // namespace cortex::pool
