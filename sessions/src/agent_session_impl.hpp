#pragma once
// AgentSession's state, shared by agent_session.cpp (operations), session_binding.cpp,
// transaction_log_store.cpp and live_subscriptions.cpp.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent_scheduler.hpp"
#include "call_deadline.hpp"
#include "connection_setup.hpp"
#include "cortex/metrics/latency_histogram.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/error.hpp"

namespace cortex::sessions {

struct AgentSession::Impl : std::enable_shared_from_this<AgentSession::Impl> {
  explicit Impl(pool::ConnectionManager::WeakRef m) : manager(std::move(m)), io(manager.io_context()) {}

  /// Where the session lives now: a connection and its server-side session id (3.x), or a lease.
  struct Bound {
    std::shared_ptr<storage::RpcConnection> conn;
    std::optional<storage::Uuid> session;
    std::optional<pool::PooledConnection> lease;
    std::uint64_t closed_token = 0;
    std::uint64_t generation = 0;
    std::optional<std::chrono::steady_clock::time_point> renew_by;  // before its token expires
    storage::RequestOptions options() const {
      storage::RequestOptions o;
      o.session = session;
      return o;
    }
  };
  using BindHandler = std::function<void(std::error_code, const std::string&, std::shared_ptr<Bound>)>;

  struct Subscription {
    std::string table;
    storage::NotificationHandler handler;
    std::optional<storage::Uuid> live_id;
    std::uint64_t generation = 0;  // the binding it was issued on
  };

  // The manager while it lives (a session may outlive it: then its calls fail with pool_closed).
  // Declared first, so destroyed last: it keeps the io_context that the binding's connection and
  // the session's timers below are made on, and the metrics the session reports to.
  pool::ConnectionManager::WeakRef manager;
  asio::io_context& io;
  std::string agent, ns, db;
  std::optional<storage::Credentials> manager_credentials;  // the manager's user (config().credentials)
  pool::RetryPolicy retry_policy;                           // the manager's: live queries' re-issue backoff
  std::shared_ptr<AgentScheduler> gate;
  ResourceLimits limits;

  mutable std::mutex mu;  // everything below
  std::optional<storage::Credentials> credentials;
  std::map<std::string, storage::Value> vars;
  std::shared_ptr<Bound> bound;
  bool binding = false;
  std::vector<BindHandler> waiters;
  std::uint64_t generation = 0;
  std::map<std::string, Subscription> subs;  // by our subscription id (text)
  bool relive_running = false;
  std::uint32_t relive_attempt = 0;  // failed passes since the last success: the backoff's index
  bool closed = false;
  std::size_t in_flight = 0;
  std::uint64_t operations = 0, errors = 0, limit_refusals = 0, reconnects = 0;
  std::uint64_t log_sequence = 0, log_size = 0;
  std::uint64_t stats_token = 0;  // in the manager's metrics (PoolMetrics::add_agent)
  metrics::LatencyHistogram latency;

  void with_binding(BindHandler then);
  void setup(std::shared_ptr<Bound> b);
  /// The steps that put a connection in this session's state: signin with the session's own
  /// credentials (else authenticate with `token`, the manager's user), use, the variables.
  pool::detail::SetupPlan state_plan(const std::string& token);
  void retire_binding(std::shared_ptr<Bound> b);
  void bind_done(std::error_code ec, const std::string& why, std::shared_ptr<Bound> b);
  void unbound(const Bound* gone);
  using CallDeadline = pool::detail::CallDeadline;  // the call's race between being sent and its deadline
  /// An operation's deadline: `timeout` from now, or without one (0) the default request timeout
  /// of the manager's connections.
  static std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds timeout);
  /// Claims the call for sending on binding `b` by `deadline`: false when the deadline caught it
  /// while it waited (its timer may not have fired yet), then it must not be sent. Else `timeout`
  /// is what is left of the deadline, for the request itself.
  static bool may_send(CallDeadline& deadline, std::chrono::milliseconds& timeout);

  /// Sends on the binding, waiting for one first if need be. `on_expire` answers the caller when
  /// the deadline catches the call unsent; it is armed again when a resend waits for a rebind.
  void send(storage::Request request, storage::RequestOptions options, storage::Handler h, int attempt,
            std::shared_ptr<CallDeadline> deadline, std::function<void()> on_expire);
  /// Admits a call (fair queue, limits, deadline) and sends it. `limited` false: the commit or
  /// cancel that ends a transaction the limits let in, which they never refuse (a refused end
  /// would leave the transaction open on the server); it is counted all the same.
  void submit(storage::Request request, storage::RequestOptions options, storage::Handler h, bool limited = true);
  storage::Value call(storage::Request request, storage::RequestOptions options = {}, bool limited = true);

  void open_log();
  void prune_log();
  void reissue_lives();
  void relive_pass();
  void relive_later();
  /// Issues (or re-issues) one subscription's LIVE SELECT on the current binding by `at`. Blocking.
  void issue_live(const std::string& key, std::chrono::steady_clock::time_point at);
};

/// The server's message in a failed handler's value, else the code's.
std::string error_text(std::error_code ec, const storage::Value& v);

}  // namespace cortex::sessions
