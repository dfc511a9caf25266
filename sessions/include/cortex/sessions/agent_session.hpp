#pragma once
// AgentSession: one agent's view of a shared ConnectionManager — its own namespace, database,
// credentials, variables, transaction log, live queries and limits.
//
// On SurrealDB >= 3.0 a session is a server-side session (`attach`, then the `session` field on
// each request) on one of the manager's shared, multiplexed connections: a thousand agents need no
// more sockets than the manager already has. On older servers it holds an exclusive lease and
// replays `use`/`signin` on it. Either way, after any reconnect the session's namespace, database,
// auth and variables are restored before its next request, and its live queries are re-issued (the
// subscription id the agent holds stays the same).
//
// Fair sharing: every operation of every session of one manager passes one FairQueue, so an agent
// with thousands of requests waiting cannot starve the others.
//
// Thread-safety: every member may be called from any thread; blocking ones not from the manager's
// io threads. Create with AgentSession::create (a shared_ptr); it detaches on destruction.
// Lifetime: a session and its manager may be destroyed in either order. The session holds the
// manager weakly (ConnectionManager::WeakRef): once the manager is shut down or destroyed, every
// operation fails with pool_closed. It keeps the manager's io_context (with its threads) and
// metrics for as long as it lives, as a lease keeps its pool.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cortex/metrics/latency_histogram.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/resource_limits.hpp"
#include "cortex/sessions/transaction_log.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::sessions {

struct AgentSessionOptions {
  std::string database = "main";
  /// Signed in within the session (root, namespace, database or record access); never logged.
  std::optional<storage::Credentials> credentials;
  ResourceLimits limits;
  /// Operations in flight across all sessions of the manager before FairQueue turns begin. Used
  /// by the first session created on a manager. Default 256.
  std::size_t fair_capacity = 256;
};

struct AgentMetrics {
  std::uint64_t operations = 0, errors = 0, limit_refusals = 0, reconnects = 0;
  metrics::LatencySummary latency;
};

class AgentSession;

/// Calls inside one transaction (see AgentSession::transaction).
class TransactionScope {
 public:
  storage::Value call(storage::Request request);
  storage::QueryResult query(std::string sql, storage::Object vars = {});

 private:
  friend class AgentSession;
  TransactionScope(AgentSession& s, storage::Uuid txn) : session_(s), txn_(txn) {}
  AgentSession& session_;
  storage::Uuid txn_;
};

class AgentSession : public std::enable_shared_from_this<AgentSession> {
 public:
  /// Binds the session (attach + signin + use) and reads its persisted transaction log position.
  /// Throws cortex::Error (connect, auth) or std::invalid_argument (empty agent id or namespace).
  static std::shared_ptr<AgentSession> create(std::string agent_id, pool::ConnectionManager& manager, std::string ns,
                                              AgentSessionOptions options = {});
  ~AgentSession();
  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;

  /// Runs a request in this session (fairly queued, counted against the limits). Session-changing
  /// methods (use, signin, let, unset…) go through the dedicated members below so that they are
  /// restored after a reconnect. Every operation of a session ends by its deadline
  /// (RequestOptions::timeout, else the default request timeout of 30 s), whatever it waits for:
  /// its fair-queue turn, a binding, a rebind and resend after its connection closed unwritten.
  /// Caught unsent it fails with pool_timeout (safe to retry); sent, the request has what is left.
  storage::Value call(storage::Request request, storage::RequestOptions options = {});
  storage::QueryResult query(std::string sql, storage::Object vars = {});
  void async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler);

  void let(const std::string& name, storage::Value value);
  void unset(const std::string& name);
  /// Signs in within the session (remembered for reconnects).
  void signin(const storage::Credentials& credentials);

  /// Runs fn(TransactionScope&) inside begin/commit on this session's connection (3.x RPC
  /// transactions). An exception or error from fn cancels the transaction and is rethrown.
  /// SurrealDB 3.0.2 sends no live-query notification for writes committed this way (a
  /// `BEGIN; …; COMMIT;` query does): see docs/protocol.md §4.
  template <class F>
  auto transaction(F&& fn) -> decltype(fn(std::declval<TransactionScope&>()));

  /// Async form of a transaction of known steps: begin, each step in order inside the transaction,
  /// commit. A step that fails — an RPC error, or a `query` step with a failed statement
  /// (statement_failed, naming it) — cancels the transaction (the cancel is awaited) and `handler`
  /// gets that step's error. On success `handler` gets an Array of the steps' results, in order.
  /// On a 2.x server it fails with unsupported_by_server before anything is sent. Token form:
  /// sessions::async_transaction (async.hpp).
  void async_transaction(std::vector<storage::Request> steps, storage::Handler handler);

  // Transaction log (persisted in the agent's namespace).
  std::string record_transaction(TransactionOperation op);
  void commit_transaction(const std::string& id);
  void rollback_transaction(const std::string& id);
  std::vector<TransactionRecord> transaction_history();

  /// Live query on a table, re-issued after reconnects. Returns the subscription id. Ends by
  /// `timeout` (0: the default request timeout, 30 s), binding included: throws cortex::Error
  /// (pool_timeout when not sent by then, timeout when sent but unanswered, or the binding's error).
  storage::Uuid live(const std::string& table, storage::NotificationHandler on_notify,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  void kill(storage::Uuid subscription);

  AgentMetrics metrics() const;
  const std::string& agent_id() const noexcept;
  const std::string& ns() const noexcept;
  /// True when bound to a 3.x server-side session (false: the 2.x lease fallback).
  bool server_side() const;
  /// An exclusive lease (seed 002's `session.acquire()`) in this agent's state: its namespace and
  /// database, its credentials (else the manager's user), its variables. For work the shared
  /// session cannot do (e.g. a long interactive transaction on one connection). Restored to the
  /// pool's defaults when released. Outside the fair queue and the session's limits and metrics.
  /// Throws like ConnectionManager::acquire, or the setup's error.
  pool::PooledConnection acquire(const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// The manager's io_context, where async handlers run by default.
  asio::io_context& io_context() const noexcept;

  struct Impl;

 private:
  AgentSession() = default;
  friend class TransactionScope;
  storage::Uuid begin_txn();
  void end_txn(storage::Uuid txn, bool commit);
  storage::Value call_in(storage::Request request, storage::RequestOptions options);
  std::shared_ptr<Impl> impl_;
};

template <class F>
auto AgentSession::transaction(F&& fn) -> decltype(fn(std::declval<TransactionScope&>())) {
  const storage::Uuid txn = begin_txn();
  TransactionScope scope(*this, txn);
  try {
    if constexpr (std::is_void_v<decltype(fn(scope))>) {
      fn(scope);
      end_txn(txn, true);
    } else {
      auto result = fn(scope);
      end_txn(txn, true);
      return result;
    }
  } catch (...) {
    try {
      end_txn(txn, false);
    } catch (...) {  // the original failure is the one to report
    }
    throw;
  }
}

}  // namespace cortex::sessions
