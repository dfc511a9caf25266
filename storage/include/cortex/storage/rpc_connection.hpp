#pragma once
// RpcConnection: one WebSocket to SurrealDB carrying many in-flight requests, matched by id, each
// with its own deadline. Keepalive RPC pings detect half-open sockets; when the socket dies every
// pending request fails at once with Errc::connection_lost. Live-query notifications go to the
// handler registered by live().
//
// Thread-safety: every member function may be called from any thread. Blocking calls must not be
// made from the io_context's own threads (they would wait on themselves): they throw instead.
// Handlers run on the io_context's threads; keep them short.
// Lifetime: owned by shared_ptr; the io_context must outlive it. Destroying the last reference
// closes the socket and fails whatever is pending with connection_lost.
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/url.hpp"
#include "cortex/storage/value.hpp"

namespace asio {
class io_context;
}

namespace cortex::storage {

struct ConnectOptions {
  /// Whole connect: TCP, TLS, upgrade and version probe. Default 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  /// Default per-request deadline (RequestOptions::timeout overrides). Default 30 s.
  std::chrono::milliseconds request_timeout{30000};
  /// Period of the keepalive RPC ping while open; 0 disables. Default 10 s.
  std::chrono::milliseconds keepalive_interval{10000};
  /// A keepalive ping unanswered this long declares the socket dead. Default 5 s.
  std::chrono::milliseconds keepalive_timeout{5000};
  /// Largest frame accepted (SurrealDB's default). Default 128 MiB. A larger reply closes the
  /// connection (a WebSocket frame cannot be skipped): the requests awaiting replies on it fail with
  /// Errc::reply_too_large, this client's limit, which no circuit breaker counts against the server.
  std::size_t max_message_size = 128u * 1024u * 1024u;
  /// Bytes of requests sent and not yet answered beyond which a new request fails at once with
  /// Errc::overloaded (never sent) instead of queueing behind a server that stopped reading. 0 =
  /// no bound. Default 256 MiB.
  std::size_t max_pending_bytes = std::size_t{256} << 20;
  /// How replies are decoded: nesting depth and the memory budget of a decoded frame (a reply over
  /// the budget fails its request with Errc::reply_too_large; the connection stays up).
  cbor::DecodeOptions decode;
  /// Frames of at least this many bytes are decoded on a background thread (one per process), so
  /// that this io thread's deadlines and keepalives keep firing while a large reply is turned into
  /// Values; later frames wait behind it, order kept. 0 = decode every frame on the io thread.
  /// Default 1 MiB.
  std::size_t background_decode_bytes = std::size_t{1} << 20;
  /// wss://: verify the server certificate and host name. Default on.
  bool verify_peer = true;
  /// wss://: PEM file of CAs to trust instead of the system store.
  std::string ca_file;
  /// Told of every request as it ends (result, server error, timeout, lost or refused), before its
  /// handler runs: how long it took and how it ended. Every request sent through this API counts
  /// unless RequestOptions::counted is false; the connection's own keepalive pings do not. On the io thread (or the
  /// caller's, for a request refused before sending): keep it short, never block. For metrics.
  std::function<void(std::chrono::nanoseconds took, std::error_code ec)> on_request_done;
};

struct RequestOptions {
  /// 0 = the connection's request_timeout.
  std::chrono::milliseconds timeout{0};
  /// 3.x server-side session to run in (see rpc::attach); absent = the connection's own session.
  std::optional<Uuid> session;
  /// 3.x interactive transaction to run in (see rpc::begin).
  std::optional<Uuid> txn;
  /// false: ConnectOptions::on_request_done is not told of it (a pool's own set-up steps and
  /// health pings, which have their own counters, so request metrics show the users' requests).
  bool counted = true;
};

/// A live-query notification.
struct Notification {
  Uuid live_id;
  std::string action;  ///< CREATE, UPDATE, DELETE or KILLED
  Value record;        ///< the record id
  Value result;        ///< the record (or JSON-patch ops with diff)
  std::optional<Uuid> session;
};

/// Completion: on failure `ec` is set and `value` holds the server's error object
/// ({code, message, kind, details}) for server errors, NONE for client errors.
using Handler = std::function<void(std::error_code ec, Value value)>;
using NotificationHandler = std::function<void(const Notification&)>;

class RpcConnection {
 public:
  /// Connects and probes the server version. Throws cortex::Error: invalid_url, connect_failed
  /// (refused, unreachable), connect_timeout, handshake_failed (no `cbor` subprotocol, HTTP 4xx).
  static std::shared_ptr<RpcConnection> connect(asio::io_context& io, std::string_view url,
                                                ConnectOptions options = {});
  /// Async form; the handler gets the connection or the error (never both).
  static void async_connect(asio::io_context& io, std::string_view url, ConnectOptions options,
                            std::function<void(std::error_code, std::shared_ptr<RpcConnection>)> handler);

  ~RpcConnection();
  RpcConnection(const RpcConnection&) = delete;
  RpcConnection& operator=(const RpcConnection&) = delete;

  /// Sends a request; the handler runs exactly once: with the result, a server error, timeout,
  /// connection_lost, not_connected, or unsupported_by_server (3.x features on an older server).
  void async_call(Request request, RequestOptions options, Handler handler);
  /// Blocking: returns the result or throws cortex::Error.
  Value call(Request request, RequestOptions options = {});
  /// Future form: the future throws cortex::Error on failure.
  std::future<Value> call_future(Request request, RequestOptions options = {});

  /// `query` with per-statement results. Throws on RPC errors; statement errors are in the result.
  QueryResult query(std::string sql, Object vars = {}, RequestOptions options = {});
  /// Starts a live query; `on_notify` receives its notifications until kill() or the socket dies.
  Uuid live(Value what, NotificationHandler on_notify, bool diff = false, RequestOptions options = {});
  /// Async form of live(): `handler` gets the live query's id (a Uuid value) or the error;
  /// `on_notify` receives its notifications from then on.
  void async_live(Value what, NotificationHandler on_notify, bool diff, RequestOptions options, Handler handler);
  /// Kills a live query and drops its handler.
  void kill(Uuid live_id, RequestOptions options = {});

  /// Closes the socket; pending requests fail with connection_lost. Idempotent.
  void close();
  /// Fails everything and drops the socket without a close handshake (for dead peers).
  void abort();
  bool is_open() const noexcept;
  /// `callback` runs once when the connection closes for any reason (at once, posted, when it is
  /// already closed). Several may be registered; the token removes one (0: none was kept).
  std::uint64_t on_closed(std::function<void(const std::string& reason)> callback);
  void remove_on_closed(std::uint64_t token);

  /// e.g. "surrealdb-3.0.2".
  const std::string& server_version() const noexcept;
  /// The major version in server_version() (3 for "surrealdb-3.0.2"); 1 when the answer could
  /// not be read (an old server is assumed: 3.x features stay refused).
  int server_major() const noexcept;
  /// True when server-side sessions and transactions can be used: a 3.x server over a WebSocket
  /// (HTTP RPC runs each request on its own).
  bool supports_sessions() const noexcept;
  const Endpoint& endpoint() const noexcept;
  /// Requests sent and not yet answered.
  std::size_t in_flight() const noexcept;
  /// The token of the connection's own session from its last successful signin, signup or
  /// authenticate; empty when it has none (never signed in, or invalidate/reset since). Lets the
  /// owner re-authenticate a session cheaply (`authenticate`) instead of signing in again. A
  /// secret: never log it.
  std::string auth_token() const;
  /// How many requests sent so far may have changed the session (anything but ping, version,
  /// info, run and the record methods; every query). Unchanged = the session is as it was.
  std::uint64_t session_changes() const noexcept;
  /// Live-query notifications that arrived for a live id this connection does not know (killed,
  /// or never its own): counted and dropped.
  std::uint64_t unknown_notifications() const noexcept;
  /// Why the connection closed, as the code its pending requests failed with: connection_lost, or
  /// reply_too_large when a reply exceeded ConnectOptions::max_message_size (this client's limit:
  /// the server is fine). Empty while it has not closed.
  std::error_code close_code() const noexcept;

  struct Impl;

 private:
  explicit RpcConnection(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// Throws the cortex::Error that a failed Handler's (ec, value) describe.
[[noreturn]] void throw_error(std::error_code ec, const Value& diagnostics);

/// The end of every blocking call in this library: returns `value`, or throws what (ec, value)
/// describe. On the way it counts, for the calling thread, a call whose request may have reached
/// a server (it succeeded, or failed in a way that does not prove it unsent: see
/// cortex::surely_not_sent). ConnectionManager::execute_with_retry reads that count to never
/// replay an attempt that may have written something.
Value finish_blocking_call(std::error_code ec, Value value);
/// This thread's count of blocking calls that may have reached a server (see above).
std::uint64_t calls_possibly_run_on_this_thread() noexcept;

}  // namespace cortex::storage
