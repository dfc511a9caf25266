#pragma once
// The one setup routine of a session on a connection: authenticate (with a known token, falling
// back to a password signin when the token is refused), use, schema, variables — for pooled
// connections, a returned lease, shared connections, agent sessions and the Hybrid sync alike.
#include <chrono>
#include <cstdint>
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

class TokenCache;

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
  /// The endpoint's token cache, when the plan came from it (setup_plan with a TokenCache): a
  /// plan that would sign in with the password while another setup of the same cache is signing
  /// in waits for that signin and authenticates with its token instead (one password signin, not
  /// one per connection, for a burst of new connections); a successful setup's token is learned.
  std::shared_ptr<TokenCache> tokens;
  /// The cache's signin turn when the plan was made (TokenCache::get): what this setup learns is
  /// dated by it, so that a setup finishing late never puts back a token older than the cache's.
  std::uint64_t tokens_turn = 0;
};

/// `reset` first when asked (a returned lease), then authenticate with `token` when one is known
/// and the defaults have credentials (signin otherwise), use (namespace, database), then the
/// schema if any. A password signin costs the server ~100 ms of hashing, `authenticate` ~1 ms:
/// the token a connection got from its first signin serves every later setup of the same user.
SetupPlan setup_plan(const SessionDefaults& defaults, const std::string& token, const std::string& schema = {},
                     bool reset_first = false);
/// The same with the endpoint's token cache: its token now, and the cache in the plan (see
/// SetupPlan::tokens).
SetupPlan setup_plan(const SessionDefaults& defaults, std::shared_ptr<TokenCache> tokens, const std::string& schema = {},
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

class SigninTurn;

/// Where a setup's token is kept between setups of the same user on one endpoint. Thread-safe.
/// Owned by a shared_ptr (a signer's SigninTurn holds it).
///
/// Turns: each password signin the cache lets through is numbered, and the token held is dated by
/// the turn it came from. A setup dates what it learns by the turn its plan was made in, so a setup
/// that finishes after a newer signin cannot replace that signin's token with its older one.
class TokenCache : public std::enable_shared_from_this<TokenCache> {
 public:
  /// The token, while it is not due for renewal (renew_by); else "" (the next setup signs in).
  /// `turn`, when given, receives the number of the latest signin begun (0: none yet), read with
  /// the token: the date a setup hands back to learn().
  std::string get(std::uint64_t* turn = nullptr) const;
  /// Remembers `conn`'s token after a successful setup whose plan was made in `turn` (no-op when
  /// it has none, or when the cache holds a token from a later signin). Never ends the signin in
  /// flight: only its signer does (SigninTurn), so its waiters get its token — not a late setup's,
  /// perhaps due for renewal, which would send each of them to sign in with the password.
  void learn(const storage::RpcConnection& conn, std::uint64_t turn);

  /// Single flight of password signins. A setup about to sign in (`signs_in`) asks first:
  /// `then(token, turn)` runs at once with the token when one is known now (no turn: it
  /// authenticates instead), or with "" and a turn when no signin is in flight (it signs in, and
  /// ends the turn with SigninTurn::succeeded or failed), or later, when the signin in flight
  /// ends, with its token ("" when it failed: then it signs in itself). A setup that does not sign
  /// in goes at once: then("", nullptr).
  using Then = std::function<void(const std::string& token, std::shared_ptr<SigninTurn> turn)>;
  void before_setup(bool signs_in, Then then);
  /// learn()'s core (also the signer's SigninTurn::succeeded, and tests): remembers `token` ("" =
  /// none) dated by `turn`, unless the token held is from a later turn.
  void learn_token(std::string token, std::uint64_t turn);

 private:
  friend class SigninTurn;
  std::string usable_locked() const;
  void end_signin(std::uint64_t turn, const std::string& token, bool call_waiters);

  mutable std::mutex mu_;
  std::string token_;
  std::uint64_t token_turn_ = 0;  // the turn token_ is dated by
  std::optional<std::chrono::steady_clock::time_point> renew_by_;
  bool signing_in_ = false;
  std::uint64_t turn_ = 0;     // the latest signin's number, from 1 (a late end of an older one is ignored)
  std::vector<Then> waiting_;  // setups waiting for the signin in flight
};

/// The signer's hold on its signin: ends it with a token or a failure. Destroyed without either —
/// its setup's handler dropped uncalled, which happens only when the io context stops with it
/// queued — it drops the setups waiting for it uncalled as well (they would otherwise keep the
/// cache, and themselves, alive through their plans: a reference cycle).
class SigninTurn {
 public:
  SigninTurn(std::shared_ptr<TokenCache> cache, std::uint64_t turn) : cache_(std::move(cache)), turn_(turn) {}
  ~SigninTurn();
  SigninTurn(const SigninTurn&) = delete;
  SigninTurn& operator=(const SigninTurn&) = delete;
  /// The signin answered `token`: remembered, and the waiters authenticate with it.
  void succeeded(std::string token);
  /// The signer's setup failed: the waiters go on, each signing in itself.
  void failed();

 private:
  std::shared_ptr<TokenCache> cache_;
  std::uint64_t turn_;
  bool ended_ = false;
};

}  // namespace cortex::pool::detail
