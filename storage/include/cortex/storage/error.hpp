#pragma once
// Errors: every failure is a std::error_code in one of two categories — client_category() for what
// the client itself detected, server_category() for SurrealDB's error kinds — plus the server's
// diagnostics when there are any. Blocking calls throw cortex::Error; async calls hand the
// error_code (and the diagnostics, as a Value) to their handler.
#include <stdexcept>
#include <string>
#include <system_error>

namespace cortex {

/// Errors the client detects itself.
enum class Errc {
  ok = 0,
  invalid_url = 1,        ///< a malformed or unsupported endpoint URL
  invalid_argument,       ///< a call's arguments were rejected before sending (e.g. a db without a ns)
  connect_failed,         ///< TCP/TLS/WebSocket connect failed or was refused
  connect_timeout,        ///< connect did not finish within connect_timeout
  handshake_failed,       ///< the server refused the upgrade or did not choose the `cbor` subprotocol
  timeout,                ///< a request's deadline passed without a reply (the request may have run)
  connection_lost,        ///< the socket closed while the request was pending (it may have run)
  not_connected,          ///< the connection was closed before the request was written
  protocol_error,         ///< the server sent something undecodable or an id-less error frame
  decode_error,           ///< malformed CBOR
  unsupported_by_server,  ///< needs a newer SurrealDB (sessions, transactions: 3.x) or a WebSocket (live queries, sessions, transactions over http://)
  pool_timeout,           ///< no connection became free within the acquire deadline
  pool_closed,            ///< the pool or manager has shut down
  pool_exhausted,         ///< PoolConfig::max_waiters callers already wait: refused at once
  circuit_open,           ///< every eligible endpoint's circuit breaker is open
  server_start_failed,    ///< the local engine could not be started
  statement_failed,       ///< a statement of a query returned status ERR
  limit_exceeded,         ///< an agent session's ResourceLimits refused the operation
  session_state_on_shared_path,  ///< use/let/signin/… on the shared path: take a lease or an AgentSession
  overloaded,  ///< the connection's requests awaiting replies exceed ConnectOptions::max_pending_bytes (never sent)
  /// A reply exceeded this client's own limits: its decoded form the decode budget
  /// (cbor::DecodeOptions; the connection stays up), or its frame ConnectOptions::max_message_size
  /// (a WebSocket frame cannot be skipped: the connection closes, and every request awaiting a
  /// reply on it fails so). The requests reached the server and may have run; the server is fine.
  reply_too_large,
};

/// SurrealDB's error kinds (3.x `kind`; 2.x mapped from the numeric code).
enum class ServerErrc {
  internal = 1,
  validation,
  configuration,
  query,
  serialization,
  not_allowed,
  not_found,
  already_exists,
  connection,
  thrown,
};

const std::error_category& client_category() noexcept;
const std::error_category& server_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;
std::error_code make_error_code(ServerErrc e) noexcept;

/// Maps a SurrealDB error `kind` text (unknown → internal) or, when empty, the JSON-RPC code.
ServerErrc server_errc_from(const std::string& kind, long long code) noexcept;

/// True for failures where the request surely never reached the server, so a retry cannot run it twice.
bool is_safe_to_retry(std::error_code ec) noexcept;
/// True when the failed request surely never reached a server: refused before sending (bad
/// arguments, limits, a closed pool or breaker, a shared-path refusal) or a connection that never
/// carried it. False for success, server errors, timeouts and lost connections (it may have run).
bool surely_not_sent(std::error_code ec) noexcept;

/// True when SurrealDB refused a request because of a write conflict with a concurrent transaction
/// and says it can be retried (e.g. two sessions `use` the same new namespace at once). Such a
/// request did not take effect. Recognised by the server's message, which carries no other marker.
bool is_retryable_conflict(const std::string& server_message) noexcept;

/// The exception blocking calls throw. what() never contains credentials.
class Error : public std::system_error {
 public:
  Error(std::error_code ec, const std::string& message, long long server_code = 0, std::string server_kind = {},
        std::string details_json = {})
      : std::system_error(ec, message),
        server_code_(server_code),
        server_kind_(std::move(server_kind)),
        details_json_(std::move(details_json)) {}
  /// SurrealDB's numeric RPC code (0 for client errors).
  long long server_code() const noexcept { return server_code_; }
  /// SurrealDB's `kind` text ("" for client errors).
  const std::string& server_kind() const noexcept { return server_kind_; }
  /// SurrealDB's `details` as JSON text ("" when none).
  const std::string& details_json() const noexcept { return details_json_; }

 private:
  long long server_code_;
  std::string server_kind_;
  std::string details_json_;
};

}  // namespace cortex

namespace std {
template <>
struct is_error_code_enum<cortex::Errc> : true_type {};
template <>
struct is_error_code_enum<cortex::ServerErrc> : true_type {};
}  // namespace std
