#pragma once
// The one setup routine of a session on a connection: authenticate (with a known token, falling
// back to a password signin when the token is refused), use, schema, variables — for pooled
// connections, a returned lease, shared connections, agent sessions and the Hybrid sync alike.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::pool::detail {

/// What to send, in order, to bring a session to its defaults.
struct SetupPlan {
  std::vector<storage::Request> steps;
  /// Replaces a refused `authenticate` step (expired or revoked token): the password signin.
  std::optional<storage::Request> signin_fallback;
  /// Which session the steps run in (3.x server-side sessions), and each step's deadline.
  storage::RequestOptions options;
  /// Counts each step sent (setup_requests) and each password signin; may be null.
  metrics::PoolMetrics* metrics = nullptr;
  /// When set, receives the token the session was authenticated with (signin/signup's answer, or
  /// authenticate's token): its owner renews the session before that token expires (renew_by).
  std::shared_ptr<std::string> token_out;
};

/// `reset` first when asked (a returned lease), then authenticate with `token` when one is known
/// and the defaults have credentials (signin otherwise), use (namespace, database), then the
/// schema if any. A password signin costs the server ~100 ms of hashing, `authenticate` ~1 ms:
/// the token a connection got from its first signin serves every later setup of the same user.
SetupPlan setup_plan(const SessionDefaults& defaults, const std::string& token, const std::string& schema = {},
                     bool reset_first = false);

using StepsDone = std::function<void(std::error_code, const std::string& why)>;

/// Sends the plan's steps in order (session-mutating calls must finish before the next), retrying
/// a step the server reports as a retryable transaction conflict, switching a refused authenticate
/// to the signin fallback, and failing on any failed schema statement. Holds the connection only
/// weakly: a handler owning its own connection would keep it alive forever if the io context
/// stopped first. `why` never contains a step's parameters (secrets).
void run_setup(std::weak_ptr<storage::RpcConnection> conn, SetupPlan plan, StepsDone done);

/// The request observer (ConnectOptions::on_request_done) every connection of a pool or shared
/// path opens with: each request, wherever it came from (shared calls, sessions, leases, set-up),
/// is counted once where it ends — request_time, and successes or errors — then `next` (the
/// user's own observer, if any) is told.
std::function<void(std::chrono::nanoseconds, std::error_code)> count_requests(
    std::shared_ptr<metrics::PoolMetrics> metrics, std::function<void(std::chrono::nanoseconds, std::error_code)> next);

/// When a session authenticated with `token` stops working: SurrealDB ends a session when the
/// token it was opened with expires (measured on the 3.0.2 engine: password signins included), so
/// its owner must renew it before then. The JWT's `exp` minus a quarter of its lifetime (`exp - iat`),
/// so that renewal has time; nullopt when the token carries no expiry (or is no JWT).
std::optional<std::chrono::steady_clock::time_point> renew_by(const std::string& token);

/// Where a setup's token is kept between setups of the same user on one endpoint. Thread-safe.
class TokenCache {
 public:
  /// The token, while it is not due for renewal (renew_by); else "" (the next setup signs in).
  std::string get() const;
  /// Remembers `conn`'s token after a successful setup (no-op when it has none).
  void learn(const storage::RpcConnection& conn);

 private:
  mutable std::mutex mu_;
  std::string token_;
  std::optional<std::chrono::steady_clock::time_point> renew_by_;
};

}  // namespace cortex::pool::detail
