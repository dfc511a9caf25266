// RpcConnection: request/reply matching, deadlines, keepalive and live-query routing over a
// Transport. All mutable state is guarded by `mu`; handlers always run outside it, on the io
// context, so a handler may issue new calls.
#include "cortex/storage/block_on.hpp"
#include "cortex/storage/rpc_connection.hpp"

#include "cortex/storage/io_runner.hpp"

#include <array>
#include <atomic>
#include <deque>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <set>
#include <mutex>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/log.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "cortex/storage/value_json.hpp"
#include "background_decoder.hpp"
#include "keepalive_monitor.hpp"
#include "pending_requests.hpp"
#include "transport.hpp"

namespace cortex::storage {

using Clock = PendingRequests::Clock;
using ConnectHandler = std::function<void(std::error_code, const std::string&, std::shared_ptr<RpcConnection>)>;

namespace {

std::string encode_request(std::uint64_t id, const Request& r, const RequestOptions& o) {
  std::string out;
  // The envelope's keys and id take ~25 bytes; a short query and its empty vars fit in the rest
  // (one allocation for a typical request, not two).
  out.reserve(64 + r.method.size());
  cbor::write_head(out, 5, 3 + (o.session ? 1 : 0) + (o.txn ? 1 : 0));
  cbor::write_text(out, "id");
  cbor::write_int(out, static_cast<std::int64_t>(id));
  cbor::write_text(out, "method");
  cbor::write_text(out, r.method);
  cbor::write_text(out, "params");
  cbor::write_head(out, 4, r.params.size());
  for (const auto& p : r.params) cbor::encode(p, out);
  if (o.session) { cbor::write_text(out, "session"); cbor::encode(Value(*o.session), out); }
  if (o.txn) { cbor::write_text(out, "txn"); cbor::encode(Value(*o.txn), out); }
  return out;
}

// A blocking call on the io context's own thread would wait for work only that thread can do.

std::error_code server_error_code(const Value& err) {
  const auto& kind = err["kind"];
  const auto& code = err["code"];
  return make_error_code(server_errc_from(kind.is<std::string>() ? kind.get<std::string>() : std::string(),
                                          code.is<std::int64_t>() ? code.get<std::int64_t>() : -32000));
}

}  // namespace

struct RpcConnection::Impl : std::enable_shared_from_this<RpcConnection::Impl> {
  enum class State { connecting, open, closed };

  Impl(asio::io_context& io_, Endpoint ep, ConnectOptions o)
      : io(io_), endpoint(std::move(ep)), opts(std::move(o)), deadline_timer(io_), keepalive_timer(io_), connect_timer(io_) {}

  asio::io_context& io;
  Endpoint endpoint;
  ConnectOptions opts;
  std::shared_ptr<Transport> transport;
  asio::steady_timer deadline_timer;
  asio::steady_timer keepalive_timer;
  asio::steady_timer connect_timer;

  mutable std::mutex mu;
  std::atomic<std::uint64_t> session_changes{0};  // see RpcConnection::session_changes()
  detail::KeepaliveMonitor keepalive{opts.keepalive_interval, opts.keepalive_timeout};
  std::string auth_token;  // a secret: never logged
  State state = State::connecting;
  bool transport_open = false;
  PendingRequests pending;
  std::optional<Clock::time_point> armed_for;
  std::map<std::array<std::uint8_t, 16>, NotificationHandler> lives;
  std::atomic<std::uint64_t> unknown_notifications{0};
  bool inbound_busy = false;          // a frame is being decoded in the background
  std::deque<std::string> inbound;    // frames that arrived meanwhile, in order
  std::size_t inbound_bytes = 0;
  std::string version;
  int major = 0;
  std::map<std::uint64_t, std::function<void(const std::string&)>> closed_cbs;  // by token
  std::uint64_t next_closed_token = 1;
  std::string close_reason;
  Errc close_errc = Errc::ok;                // what pending requests failed with at the close
  std::atomic<bool> frame_too_large{false};  // the transport closes: a frame over max_message_size
  ConnectHandler connect_handler;
  // The public object, while connecting. Held strongly only by the connect timer's handler, so
  // that an io_context stopped mid-connect destroys it with its pending handlers (no cycle).
  std::weak_ptr<RpcConnection> owner_while_connecting;

  // -- requests --------------------------------------------------------------------------------

  /// Fails a request that was never sent, on the io thread (callers may hold `mu`).
  void post_failure(Handler h, Errc e, std::string why, bool counted) {
    asio::post(io, [self = shared_from_this(), h = std::move(h), e, why = std::move(why), counted]() mutable {
      self->guarded("a request handler", [&] {
        if (counted) self->observe(Clock::duration::zero(), make_error_code(e));
        h(make_error_code(e), Value(why));
      });
    });
  }

  void observe(Clock::duration took, std::error_code ec) const {
    if (opts.on_request_done) opts.on_request_done(took, ec);
  }

  /// The one end of every request that was registered: the observer, then its handler. What they
  /// throw is logged and dropped: it must not unwind the io thread (nor skip the next request).
  void complete(PendingRequests::Entry& e, std::error_code ec, Value v) {
    guarded("a request handler", [&] {
      if (e.counted) observe(Clock::now() - e.sent, ec);
      e.handler(ec, std::move(v));
    });
  }

  template <class F>
  void guarded(const char* what, F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& ex) {
      log(LogLevel::error, std::string(what) + " threw on the io thread (dropped): " + ex.what());
    } catch (...) {
      log(LogLevel::error, std::string(what) + " threw on the io thread (dropped)");
    }
  }

  void send(Request r, RequestOptions o, Handler h, NotificationHandler on_notify = {}) {
    const bool counted = o.counted;  // told to ConnectOptions::on_request_done
    if (!o.session) h = track_auth(r, std::move(h));
    std::string bytes;
    std::uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state == State::closed || !transport_open) {
        return post_failure(std::move(h), Errc::not_connected,
                            "connection to " + endpoint.to_string() + " is closed" + (close_reason.empty() ? "" : " (" + close_reason + ")"),
                            counted);
      }
      if (const char* why = transport->refusal(r, o.session.has_value() || o.txn.has_value())) {
        return post_failure(std::move(h), Errc::unsupported_by_server, r.method + ": " + why, counted);
      }
      const auto& facts = rpc::method_facts(r.method);
      // Sessions, transactions and refresh tokens exist from SurrealDB 3.0 on.
      if (major != 0 && major < 3 && (o.session || o.txn || facts.needs_3x)) {
        return post_failure(std::move(h), Errc::unsupported_by_server,
                            r.method + ": sessions, transactions and refresh tokens need SurrealDB 3.0 or later; server is " + version,
                            counted);
      }
      const auto timeout = o.timeout.count() > 0 ? o.timeout : opts.request_timeout;
      const auto now = Clock::now();
      id = pending.peek_next_id();
      bytes = encode_request(id, r, o);
      if (opts.max_pending_bytes && pending.bytes() + bytes.size() > opts.max_pending_bytes) {
        return post_failure(std::move(h), Errc::overloaded,
                            std::to_string(pending.bytes()) + " bytes of requests already await replies from " +
                                endpoint.to_string() + " (ConnectOptions::max_pending_bytes)",
                            counted);
      }
      pending.add({std::move(h), now + timeout, std::move(on_notify), now, counted, bytes.size()});
      // A call in its own session or transaction leaves the connection's session alone, but is
      // counted all the same (the count only has to move when the session may have changed).
      if (o.session || o.txn || !facts.keeps_session()) session_changes.fetch_add(1, std::memory_order_relaxed);
      arm_deadline_locked();
    }
    if (auto ec = transport->send(std::move(bytes), id, std::move(r))) {
      auto e = take_pending(id);
      if (e) post_failure(std::move(e->handler), Errc::not_connected, "the socket would not take the request", e->counted);
    }
  }

  // Keeps auth_token current for the connection's own session (RpcConnection::auth_token).
  Handler track_auth(const Request& r, Handler h) {
    const auto effect = rpc::method_facts(r.method).auth;
    if (effect == rpc::AuthEffect::none) return h;  // leaves auth as it was
    // Only what token_after reads of the request travels with the handler: its method, and
    // authenticate's token.
    Request kept{r.method, effect == rpc::AuthEffect::from_param ? r.params : Array{}};
    return [weak = weak_from_this(), kept = std::move(kept), h = std::move(h)](std::error_code ec, Value v) {
      if (auto self = weak.lock(); self && !ec) {
        std::string token = rpc::token_after(kept, v).value_or(std::string());
        std::lock_guard<std::mutex> lock(self->mu);
        self->auth_token = std::move(token);
      }
      h(ec, std::move(v));
    };
  }

  void arm_deadline_locked() {
    const auto next = pending.earliest();
    if (!next || (armed_for && *armed_for <= *next)) return;
    armed_for = next;
    deadline_timer.expires_at(*next);
    deadline_timer.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (ec) return;  // re-armed or closed
      if (auto self = weak.lock()) self->on_deadline();
    });
  }

  void on_deadline() {
    std::vector<PendingRequests::Entry> expired;
    {
      std::lock_guard<std::mutex> lock(mu);
      armed_for.reset();
      expired = pending.take_expired(Clock::now());
      arm_deadline_locked();
    }
    for (auto& e : expired) {
      transport->abandon(e.id);  // what the transport holds for it alone is freed, not held until a late reply
      complete(e, make_error_code(Errc::timeout), Value("no reply before the deadline"));
    }
    if (!expired.empty()) probe_liveness();
  }

  // A timeout does not prove the peer gone (nor does it count against its breaker); a ping now
  // finds out within keepalive_timeout whether it is, instead of at the next interval.
  void probe_liveness() {
    if (opts.keepalive_interval.count() <= 0) return;
    const auto unacked = transport->progress().unacked_bytes;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state != State::open) return;
      if (keepalive.on_request_timeout(Clock::now(), unacked) != detail::KeepaliveMonitor::Action::send_ping) return;
    }
    send_keepalive_ping();
    arm_keepalive();
  }

  // -- incoming frames -------------------------------------------------------------------------

  // Frames are handled one at a time, in arrival order. Small ones are decoded on the io thread;
  // one of ConnectOptions::background_decode_bytes or more goes to the background decoder, and the
  // frames that arrive meanwhile wait in `inbound` behind it, so that order (a reply before a
  // notification, a notification before KILLED) holds while the io thread's deadlines keep firing.
  void on_message(std::string&& payload) {
    const bool large = is_large(payload);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (inbound_busy) return queue_inbound_locked(std::move(payload));
      inbound_busy = large;
    }
    if (large) return decode_in_background(std::move(payload));
    dispatch(decode_envelope(payload, opts.decode), payload);
  }

  bool is_large(const std::string& payload) const {
    return opts.background_decode_bytes != 0 && payload.size() >= opts.background_decode_bytes;
  }

  // What waits behind a frame being decoded is bounded by max_message_size: a server that sends
  // faster than we can decode would otherwise grow the queue without limit.
  void queue_inbound_locked(std::string&& payload) {
    inbound_bytes += payload.size();
    inbound.push_back(std::move(payload));
    if (inbound_bytes <= opts.max_message_size) return;
    asio::post(io, [weak = weak_from_this(), n = inbound_bytes] {
      if (auto self = weak.lock()) {
        self->fail(std::to_string(n) + " bytes of frames arrived while a large frame was being decoded (more than max_message_size)",
                   Errc::connection_lost);
      }
    });
  }

  void decode_in_background(std::string&& payload) {
    detail::run_in_background([weak = weak_from_this(), options = opts.decode, payload = std::move(payload)]() mutable {
      Envelope e = decode_envelope(payload, options);
      auto self = weak.lock();
      if (!self) return;
      auto& ctx = self->io;  // the handler holds the only reference taken here: no Impl dies on this thread
      asio::post(ctx, [self = std::move(self), e = std::move(e), payload = std::move(payload)]() mutable {
        self->dispatch(std::move(e), payload);
        self->drain_inbound();
      });
    });
  }

  // After a background decode: the frames that queued behind it, in order, until the next large one.
  void drain_inbound() {
    for (;;) {
      std::string next;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (inbound.empty()) {
          inbound_busy = false;
          return;
        }
        next = std::move(inbound.front());
        inbound.pop_front();
        inbound_bytes -= next.size();
      }
      if (is_large(next)) return decode_in_background(std::move(next));
      dispatch(decode_envelope(next, opts.decode), next);
    }
  }

  /// A frame as the RPC layer reads it. Walked entry by entry: no map is built for {id, result}.
  struct Envelope {
    std::optional<std::int64_t> id;
    bool has_result = false, has_error = false;
    Value result, error, session;
    std::string failure;  ///< why it could not be decoded ("" = decoded)
    /// decode_error, or reply_too_large: well-formed, but over this client's decode budget (its
    /// own limit, which must not read as a fault of the server).
    Errc failure_code = Errc::decode_error;
  };

  static Envelope decode_envelope(const std::string& payload, const cbor::DecodeOptions& options) noexcept {
    Envelope env;
    try {
      cbor::decode_map(
          payload,
          [&](std::string_view key, Value&& v) {
            if (key == "id") {
              if (v.is<std::int64_t>()) env.id = v.get<std::int64_t>();
            } else if (key == "result") {
              env.result = std::move(v);
              env.has_result = true;
            } else if (key == "error") {
              env.error = std::move(v);
              env.has_error = true;
            } else if (key == "session") {
              env.session = std::move(v);
            }
          },
          options);
    } catch (const Error& e) {
      if (e.code() == make_error_code(Errc::reply_too_large)) {
        env.failure_code = Errc::reply_too_large;
        env.failure = std::string("reply refused by this client's limit: ") + e.what();
      } else {
        env.failure = std::string("undecodable frame from server: ") + e.what();
      }
    } catch (const std::exception& e) {  // bad_alloc, anything
      env.failure = std::string("undecodable frame from server: ") + e.what();
    } catch (...) {
      env.failure = "undecodable frame from server";
    }
    if (!env.failure.empty()) {
      env.result = env.error = env.session = Value();  // what was decoded is dropped now, not kept
      if (!env.id) env.id = cbor::peek_id(payload);
    }
    return env;
  }

  // Nothing thrown here may leave: this runs on the io thread, where an escaping exception would
  // terminate every agent of the process. A frame that cannot be decoded fails its own request
  // (when its id can be found) and leaves the others alone; one that cannot be attributed fails
  // every pending request and closes the socket, as the server's own id-less errors do.
  void dispatch(Envelope&& env, const std::string& payload) noexcept {
    try {
      if (env.failure.empty()) return route(std::move(env));
    } catch (const std::exception& e) {
      env.failure = std::string("unusable frame from server: ") + e.what();
      if (!env.id) env.id = cbor::peek_id(payload);
    }
    guarded("a frame's failure", [&] {
      if (env.id) return fail_one(static_cast<std::uint64_t>(*env.id), make_error_code(env.failure_code), env.failure);
      // Unattributable (a notification, an id-less error): the socket closes, said as this
      // client's limit when that is what refused the frame.
      fail(env.failure, env.failure_code == Errc::reply_too_large ? Errc::reply_too_large : Errc::protocol_error);
    });
  }

  void route(Envelope&& env) {
    if (env.id) return on_reply(static_cast<std::uint64_t>(*env.id), env.has_error, std::move(env.has_error ? env.error : env.result));
    if (env.has_error) {
      // An id-less error means the server could not read one of our frames: its caller cannot be
      // known, so fail them all now rather than let them wait out their deadlines.
      const auto& m = env.error["message"];
      return fail("server reported an error for an unidentifiable request: " +
                      (m.is<std::string>() ? m.get<std::string>() : to_json_text(env.error)),
                  Errc::protocol_error);
    }
    if (env.has_result) on_notification(env.result, env.session);
  }

  /// Request `id`, taken out of the pending table (none when it already ended).
  std::optional<PendingRequests::Entry> take_pending(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    return pending.take(id);
  }

  /// Ends request `id` (if still pending) with a client-side error.
  void fail_one(std::uint64_t id, std::error_code ec, const std::string& why) {
    auto e = take_pending(id);
    if (e) complete(*e, ec, Value(why));
  }

  void on_reply(std::uint64_t id, bool is_error, Value value) {
    auto e = take_pending(id);
    if (!e) return;  // answered after its deadline: the caller already has a timeout
    if (is_error) {
      const auto ec = server_error_code(value);
      return complete(*e, ec, std::move(value));
    }
    if (e->on_notify && value.is<Uuid>()) {
      std::lock_guard<std::mutex> lock(mu);
      lives[value.get<Uuid>().bytes] = std::move(e->on_notify);
    }
    complete(*e, {}, std::move(value));
  }

  void on_notification(const Value& r, const Value& session) {
    if (!r["id"].is<Uuid>() || !r["action"].is<std::string>()) return;  // not a notification: ignore
    Notification n;
    n.live_id = r["id"].get<Uuid>();
    n.action = r["action"].get<std::string>();
    n.record = r["record"];
    n.result = r["result"];
    if (session.is<Uuid>()) n.session = session.get<Uuid>();
    else if (r["session"].is<Uuid>()) n.session = r["session"].get<Uuid>();
    NotificationHandler h;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = lives.find(n.live_id.bytes);
      if (it == lives.end()) {  // killed, or never ours: counted and dropped
        unknown_notifications.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      h = n.action == "KILLED" ? std::move(it->second) : it->second;
      if (n.action == "KILLED") lives.erase(it);
    }
    guarded("a live-query handler", [&] { h(n); });
  }

  // -- lifecycle -------------------------------------------------------------------------------

  void start(std::shared_ptr<RpcConnection> owner, ConnectHandler handler) {
    {
      std::lock_guard<std::mutex> lock(mu);
      owner_while_connecting = owner;
      connect_handler = std::move(handler);
    }
    transport = make_transport(io, endpoint, {opts.max_message_size, opts.verify_peer, opts.ca_file});
    {
      std::lock_guard<std::mutex> lock(mu);
      connect_timer.expires_after(opts.connect_timeout);
      connect_timer.async_wait([weak = weak_from_this(), owner](const std::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) {
          self->finish_connect(make_error_code(Errc::connect_timeout), "no answer within the connect timeout");
        }
      });
    }
    auto weak = weak_from_this();
    transport->start({[weak](std::error_code ec, const std::string& why) {
                        if (auto self = weak.lock()) self->on_open(ec, why);
                      },
                      [weak](std::string&& payload) {
                        if (auto self = weak.lock()) self->on_message(std::move(payload));
                      },
                      [weak](const std::string& why) {
                        auto self = weak.lock();
                        if (!self) return;
                        // A frame over max_message_size closes the socket by our own choice: the
                        // requests awaiting replies fail with this client's limit, not as lost.
                        self->fail(why, self->frame_too_large.load() ? Errc::reply_too_large : Errc::connection_lost);
                      },
                      [weak] {
                        if (auto self = weak.lock()) self->frame_too_large.store(true);
                      }});
  }

  void on_open(std::error_code ec, const std::string& why) {
    if (ec) return finish_connect(ec, why);
    {
      std::lock_guard<std::mutex> lock(mu);
      transport_open = true;
    }
    // Part of connecting, not a request of the connection's user: not counted.
    send(rpc::version(), {opts.connect_timeout, std::nullopt, std::nullopt, /*counted=*/false}, [weak = weak_from_this()](std::error_code probe_ec, Value v) {
      auto self = weak.lock();
      if (!self) return;
      if (probe_ec) return self->finish_connect(make_error_code(Errc::handshake_failed), "version probe failed: " + probe_ec.message());
      const std::string text = v.is<std::string>() ? v.get<std::string>() : std::string();
      const auto dash = text.rfind('-');
      {
        std::lock_guard<std::mutex> lock(self->mu);
        self->version = text;
        self->major = std::atoi(text.c_str() + (dash == std::string::npos ? 0 : dash + 1));
        if (self->major == 0) self->major = 1;  // unknown: assume an old server, gate 3.x features
      }
      self->finish_connect({}, "");
    });
  }

  void finish_connect(std::error_code ec, const std::string& why) {
    ConnectHandler h;
    std::shared_ptr<RpcConnection> owner;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!connect_handler) return;
      h = std::move(connect_handler);
      connect_handler = nullptr;
      owner = owner_while_connecting.lock();
      owner_while_connecting.reset();
      if (!ec) state = State::open;
      connect_timer.cancel();
    }
    if (ec) {
      fail(why, Errc::connection_lost);
      guarded("a connect handler", [&] { h(ec, why, nullptr); });  // `owner` dies after this scope
      return;
    }
    arm_keepalive();
    log(LogLevel::debug, "connected to " + endpoint.to_string() + " (" + version + ")");
    guarded("a connect handler", [&] { h({}, "", std::move(owner)); });
  }

  void arm_keepalive() {
    if (opts.keepalive_interval.count() <= 0) return;
    std::lock_guard<std::mutex> lock(mu);
    if (state != State::open) return;
    keepalive_timer.expires_at(keepalive.next_tick(Clock::now()));
    keepalive_timer.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (ec) return;  // re-armed or closed
      if (auto self = weak.lock()) self->on_keepalive_tick();
    });
  }

  // KeepaliveMonitor decides; this only gathers what it needs and carries out its answer.
  void on_keepalive_tick() {
    const auto now = Clock::now();
    const TransportProgress p = transport->progress();
    std::optional<Clock::time_point> inbound;
    if (p.since_data_received) inbound = now - *p.since_data_received;
    detail::KeepaliveMonitor::Action action;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state != State::open) return;
      action = keepalive.on_tick(now, inbound, p.unacked_bytes);
    }
    using Action = detail::KeepaliveMonitor::Action;
    if (action == Action::declare_dead) {
      return fail("keepalive ping unanswered and nothing received for " + std::to_string(opts.keepalive_timeout.count()) +
                      " ms: peer is gone",
                  Errc::connection_lost);
    }
    if (action == Action::send_ping) send_keepalive_ping();
    arm_keepalive();
  }

  void send_keepalive_ping() {
    // The monitor, not this request's deadline, judges the socket: the deadline only bounds the
    // request's own life, past the point where the monitor will have decided.
    const auto deadline = opts.keepalive_timeout * 2 + opts.keepalive_interval;
    send(rpc::ping(), {deadline, std::nullopt, std::nullopt, /*counted=*/false}, [weak = weak_from_this()](std::error_code ec, Value) {
      auto self = weak.lock();
      if (!self || ec == make_error_code(Errc::timeout)) return;
      std::lock_guard<std::mutex> lock(self->mu);
      self->keepalive.on_ping_done();
    });
  }

  /// Closes for good: every pending request fails with `e` (Errc::connection_lost by default).
  void fail(const std::string& why, Errc e) {
    std::vector<PendingRequests::Entry> dropped;
    std::set<std::uint64_t> unsent;
    std::map<std::uint64_t, std::function<void(const std::string&)>> cbs;
    bool first = false, was_open = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state != State::closed) {
        first = true;
        was_open = state == State::open;
        state = State::closed;
        transport_open = false;
        close_reason = why;
        close_errc = e;
        cbs.swap(closed_cbs);
        // Timers are touched only under `mu`: asio objects are not safe for concurrent use.
        deadline_timer.cancel();
        keepalive_timer.cancel();
        connect_timer.cancel();
      }
      dropped = pending.take_all();
      lives.clear();
      // Frames still queued in the transport were never written: their requests fail with
      // not_connected (safe to send elsewhere), the others with `e` (they may have run).
      if (transport) {
        for (auto tag : transport->take_unsent()) unsent.insert(tag);
      }
    }
    if (first && transport) transport->abort();
    if (first) {
      // Lost connections are trouble; closes the client asked for are routine, and a connect that
      // failed is told to whoever connected (who says it once, not on every retry).
      const bool asked = why.find("by the client") != std::string::npos;
      log(asked || !was_open ? LogLevel::debug : LogLevel::warning, "connection to " + endpoint.to_string() + " closed: " + why);
    }
    for (auto& d : dropped) {
      if (unsent.count(d.id)) {
        complete(d, make_error_code(Errc::not_connected), Value("the connection closed before the request was written (" + why + ")"));
      } else {
        complete(d, make_error_code(e), Value(why));
      }
    }
    if (first) finish_connect(make_error_code(Errc::connect_failed), why);
    for (auto& entry : cbs) {
      auto& cb = entry.second;  // (a structured binding cannot be captured in C++17)
      guarded("an on_closed callback", [&] { cb(why); });
    }
  }
};

// -- the transport seam --------------------------------------------------------------------------

namespace {
std::mutex factory_mu;
TransportFactory& factory() {
  static TransportFactory f;
  return f;
}
}  // namespace

void set_transport_factory_for_testing(TransportFactory f) {
  std::lock_guard<std::mutex> lock(factory_mu);
  factory() = std::move(f);
}

std::shared_ptr<Transport> make_transport(asio::io_context& io, const Endpoint& endpoint, const TransportOptions& options) {
  {
    std::lock_guard<std::mutex> lock(factory_mu);
    if (factory()) return factory()(io, endpoint, options);
  }
  if (endpoint.scheme == Scheme::http || endpoint.scheme == Scheme::https) return make_http_transport(io, endpoint, options);
  return make_websocket_transport(io, endpoint, options);
}

// -- public API ----------------------------------------------------------------------------------

namespace {

// The outcome of a call as plain data. Exceptions are made in the waiting thread, never carried
// across threads in an exception_ptr (whose refcount ThreadSanitizer cannot see in libstdc++).
struct Outcome {
  std::error_code ec;
  Value value;
};

Value value_or_throw(Outcome o) { return finish_blocking_call(o.ec, std::move(o.value)); }

thread_local std::uint64_t calls_possibly_run = 0;

std::future<Outcome> outcome_future(RpcConnection::Impl& impl, Request request, RequestOptions options,
                                    NotificationHandler on_notify = {}) {
  auto p = std::make_shared<std::promise<Outcome>>();
  auto fut = p->get_future();
  impl.send(std::move(request), std::move(options), [p](std::error_code ec, Value v) { p->set_value({ec, std::move(v)}); },
            std::move(on_notify));
  return fut;
}
}  // namespace

RpcConnection::RpcConnection(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

RpcConnection::~RpcConnection() {
  // Handlers may still be queued on the io context; they hold only weak references to impl_.
  auto impl = impl_;
  asio::post(impl->io, [impl] { impl->fail("connection closed by the client", Errc::connection_lost); });
}

void RpcConnection::async_connect(asio::io_context& io, std::string_view url, ConnectOptions options,
                                  std::function<void(std::error_code, std::shared_ptr<RpcConnection>)> handler) {
  Endpoint ep;
  try {
    ep = parse_endpoint(url);
  } catch (const Error& e) {
    asio::post(io, [handler, ec = e.code()] { handler(ec, nullptr); });
    return;
  }
  auto impl = std::make_shared<Impl>(io, ep, std::move(options));
  std::shared_ptr<RpcConnection> owner(new RpcConnection(impl));
  impl->start(owner, [handler](std::error_code ec, const std::string&, std::shared_ptr<RpcConnection> c) { handler(ec, std::move(c)); });
}

std::shared_ptr<RpcConnection> RpcConnection::connect(asio::io_context& io, std::string_view url, ConnectOptions options) {
  const Endpoint ep = parse_endpoint(url);
  if (ep.is_local()) {
    throw Error(make_error_code(Errc::invalid_url), ep.to_string() + " is a local engine: start it with LocalServer and connect to its URL");
  }
  refuse_on_io_thread(io, "connect");
  auto impl = std::make_shared<Impl>(io, ep, std::move(options));
  std::shared_ptr<RpcConnection> owner(new RpcConnection(impl));
  auto [ec, why, connection] = block_on<std::error_code, const std::string&, std::shared_ptr<RpcConnection>>(
      [&](auto done) { impl->start(std::move(owner), std::move(done)); });
  if (ec) throw Error(ec, "connect to " + ep.to_string() + " failed: " + why);
  return connection;
}

void RpcConnection::async_call(Request request, RequestOptions options, Handler handler) {
  impl_->send(std::move(request), std::move(options), std::move(handler));
}

std::future<Value> RpcConnection::call_future(Request request, RequestOptions options) {
  // Deferred: get() runs in the caller's thread, which is where any exception is created.
  return std::async(std::launch::deferred, [f = outcome_future(*impl_, std::move(request), std::move(options))]() mutable {
    return value_or_throw(f.get());
  });
}

Value RpcConnection::call(Request request, RequestOptions options) {
  refuse_on_io_thread(impl_->io, "call '" + request.method + "'");
  return value_or_throw(outcome_future(*impl_, std::move(request), std::move(options)).get());
}

QueryResult RpcConnection::query(std::string sql, Object vars, RequestOptions options) {
  return QueryResult::parse(call(rpc::query(std::move(sql), std::move(vars)), std::move(options)));
}

Uuid RpcConnection::live(Value what, NotificationHandler on_notify, bool diff, RequestOptions options) {
  refuse_on_io_thread(impl_->io, "call 'live'");
  Value v = value_or_throw(outcome_future(*impl_, rpc::live(std::move(what), diff), std::move(options), std::move(on_notify)).get());
  if (!v.is<Uuid>()) throw Error(make_error_code(Errc::protocol_error), std::string("live returned ") + v.type_name());
  return v.get<Uuid>();
}

void RpcConnection::async_live(Value what, NotificationHandler on_notify, bool diff, RequestOptions options, Handler handler) {
  impl_->send(rpc::live(std::move(what), diff), std::move(options), std::move(handler), std::move(on_notify));
}

void RpcConnection::kill(Uuid live_id, RequestOptions options) {
  call(rpc::kill(live_id), std::move(options));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->lives.erase(live_id.bytes);
}

void RpcConnection::close() { impl_->fail("connection closed by the client", Errc::connection_lost); }
void RpcConnection::abort() { impl_->fail("connection aborted by the client", Errc::connection_lost); }

bool RpcConnection::is_open() const noexcept {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->state == Impl::State::open;
}

std::error_code RpcConnection::close_code() const noexcept {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->state == Impl::State::closed ? make_error_code(impl_->close_errc) : std::error_code();
}

std::uint64_t RpcConnection::on_closed(std::function<void(const std::string&)> callback) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (impl_->state == Impl::State::closed) {
    const std::string why = impl_->close_reason;
    lock.unlock();
    asio::post(impl_->io, [impl = impl_, callback = std::move(callback), why] {
      impl->guarded("an on_closed callback", [&] { callback(why); });
    });
    return 0;
  }
  const std::uint64_t token = impl_->next_closed_token++;
  impl_->closed_cbs.emplace(token, std::move(callback));
  return token;
}

void RpcConnection::remove_on_closed(std::uint64_t token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->closed_cbs.erase(token);
}

const std::string& RpcConnection::server_version() const noexcept { return impl_->version; }
int RpcConnection::server_major() const noexcept { return impl_->major; }
bool RpcConnection::supports_sessions() const noexcept {
  // 3.x over a transport that can carry them (not HTTP RPC, where each request runs on its own).
  return impl_->major >= 3 && impl_->transport && impl_->transport->refusal(Request{"attach", {}}, true) == nullptr;
}
const Endpoint& RpcConnection::endpoint() const noexcept { return impl_->endpoint; }
std::string RpcConnection::auth_token() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->auth_token;
}

std::uint64_t RpcConnection::session_changes() const noexcept {
  return impl_->session_changes.load(std::memory_order_relaxed);
}

std::uint64_t RpcConnection::unknown_notifications() const noexcept {
  return impl_->unknown_notifications.load(std::memory_order_relaxed);
}

std::size_t RpcConnection::in_flight() const noexcept {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending.size();
}

Value finish_blocking_call(std::error_code ec, Value value) {
  if (!surely_not_sent(ec)) ++calls_possibly_run;
  if (ec) throw_error(ec, value);
  return value;
}

std::uint64_t calls_possibly_run_on_this_thread() noexcept { return calls_possibly_run; }

void throw_error(std::error_code ec, const Value& diagnostics) {
  if (diagnostics.is<Object>()) {
    const auto& m = diagnostics["message"];
    const auto& code = diagnostics["code"];
    const auto& kind = diagnostics["kind"];
    const auto& details = diagnostics["details"];
    throw Error(ec, m.is<std::string>() ? m.get<std::string>() : ec.message(),
                code.is<std::int64_t>() ? code.get<std::int64_t>() : 0,
                kind.is<std::string>() ? kind.get<std::string>() : std::string(),
                details.is_none() ? std::string() : to_json_text(details));
  }
  if (diagnostics.is<std::string>()) throw Error(ec, ec.message() + ": " + diagnostics.get<std::string>());
  throw Error(ec, ec.message());
}

}  // namespace cortex::storage
