#include "shared_path.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <vector>

#include "cortex/storage/error.hpp"
#include "call_deadline.hpp"
#include "connection_node.hpp"
#include "connection_setup.hpp"

namespace cortex::pool {

using storage::RpcConnection;
using Clock = std::chrono::steady_clock;
using Node = ConnectionNode<Clock>;

struct SharedPath::Impl {
  Impl(asio::io_context& io_, SharedPathParams p) : io(io_), params(std::move(p)), entries(params.connections) {}

  // One connection of the shared path. Its node goes connecting → setting_up → idle (serving: calls
  // multiplex on it, no lease) → retired; none before the first attempt.
  struct Entry {
    std::shared_ptr<RpcConnection> conn;      // set once it is connected and set up
    std::shared_ptr<RpcConnection> setting_up;  // owned here while signin/use run on it
    std::optional<Node> node;
    bool opening() const {
      return node && (node->state() == NodeState::connecting || node->state() == NodeState::setting_up);
    }
  };
  // A caller waiting for a connection: gets one, or the error (with its message) that none opened.
  using Queued = std::function<void(std::error_code, const std::string&, std::shared_ptr<RpcConnection>)>;

  asio::io_context& io;
  SharedPathParams params;
  std::weak_ptr<SharedPath> self;

  mutable std::mutex mu;
  // See ConnectionPool: authenticate instead of a password signin (run_setup learns the token).
  std::shared_ptr<detail::TokenCache> tokens = std::make_shared<detail::TokenCache>();
  mutable std::condition_variable drained;
  std::vector<Entry> entries;
  std::deque<Queued> queued;  // calls waiting for a connection to open
  std::vector<std::shared_ptr<RpcConnection>> retiring;  // replaced, closed when idle
  std::size_t inflight = 0;
  bool closed = false;
  ConnectBackoff<Clock> backoff;
  std::error_code last_ec;
  std::string last_why;
  std::mt19937_64 rng{std::random_device{}()};

  // Serving, and the retire predicate keeps it (open, before its lifetime: the token it signed in
  // with still has a quarter of its life left).
  static bool usable(const Entry& e, Clock::time_point now) {
    return e.conn && e.node && e.node->state() == NodeState::idle &&
           !e.node->retire_reason(e.conn->is_open(), now, RetireCheck::before_lending, {}, false);
  }

  // Starts opening every missing connection, unless backing off after failures. Returns whether an
  // attempt is (now) in flight. Under `mu`.
  bool open_missing_locked(std::vector<std::size_t>& to_open) {
    bool any = false;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto& e = entries[i];
      if (e.opening()) {
        any = true;
        continue;
      }
      if (usable(e, now) || !backoff.may_attempt(now)) continue;
      // Due for renewal but still open: calls on it finish there; it closes once they have.
      if (e.conn && e.conn->is_open()) retiring.push_back(std::move(e.conn));
      e.conn.reset();
      e.node.emplace();  // a new lifecycle: connecting
      any = true;
      to_open.push_back(i);
    }
    return any;
  }

  void open(std::size_t i) {
    RpcConnection::async_connect(io, params.url, params.connect, [weak = self, i](std::error_code ec, std::shared_ptr<RpcConnection> c) {
      auto path = weak.lock();
      if (!path) return;
      auto& impl = *path->impl_;
      {
        std::lock_guard<std::mutex> lock(impl.mu);
        if (impl.entries[i].node) impl.entries[i].node->connected(ec);
        if (!ec) impl.entries[i].setting_up = c;  // the steps hold it only weakly
      }
      if (ec) return impl.opened(i, ec, "connect to " + impl.params.url + " failed: " + ec.message(), nullptr);
      auto plan = detail::setup_plan(impl.params.defaults, impl.tokens, impl.params.schema);
      plan.metrics = impl.params.metrics.get();
      plan.options.timeout = impl.params.connect.connect_timeout;  // set-up is part of connecting
      detail::run_setup(c, std::move(plan), [weak, i](std::error_code sec, const std::string& why) {
        auto l = weak.lock();
        if (!l) return;
        std::shared_ptr<RpcConnection> set_up;
        {
          std::lock_guard<std::mutex> lock(l->impl_->mu);
          set_up = std::move(l->impl_->entries[i].setting_up);
        }
        if (!set_up && !sec) sec = make_error_code(Errc::pool_closed);
        l->impl_->opened(i, sec, why, std::move(set_up));
      });
    });
  }

  void opened(std::size_t i, std::error_code ec, const std::string& why, std::shared_ptr<RpcConnection> conn) {
    if (params.on_connect_result) params.on_connect_result(ec, why);
    // A set-up step that timed out or lost its socket says "may have run" about itself; the calls
    // that waited for this connection (and those failed during the backoff after it) were never
    // sent: they get a code that says so, which execute_with_retry and failover may act on.
    if (ec && !surely_not_sent(ec)) ec = make_error_code(Errc::connect_failed);
    params.metrics->emit({ec ? metrics::PoolEventKind::connect_failed : metrics::PoolEventKind::created, params.url, {}, {}, ec, why});
    std::deque<Queued> ready;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto& node = entries[i].node;
      const auto now = Clock::now();
      // Its session ends when its token does: the node retires it before then.
      const auto renew = conn && !ec ? detail::renew_by(conn->auth_token()) : std::nullopt;
      if (node && node->state() == NodeState::setting_up) node->set_up(ec, now, renew.value_or(Clock::time_point::max()));
      if (!ec && !closed) {
        entries[i].conn = conn;
        if (params.on_connection_lost) {
          conn->on_closed([weak = self, raw = conn.get()](const std::string& reason) {
            if (auto path = weak.lock()) path->impl_->lost(raw, reason);
          });
        }
        backoff.succeeded();
        params.metrics->connections_created.fetch_add(1);
      } else if (ec) {
        last_ec = ec;
        last_why = why;
        backoff.failed(now, params.reconnect, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
      }
      // Waiting calls go now if this one opened; fail when nothing is open or opening any more.
      const bool any_opening = std::any_of(entries.begin(), entries.end(), [](const Entry& e) { return e.opening(); });
      if ((!ec && !closed) || !any_opening) ready.swap(queued);
    }
    if (conn && (ec || closed_now())) conn->close();
    for (auto& q : ready) {
      if (ec || closed_now()) {
        q(ec ? ec : make_error_code(Errc::pool_closed), ec ? why : "the shared path is closed", nullptr);
      } else {
        q({}, "", conn);
      }
    }
  }

  // A connection closed. Still serving: lost (one retired or closed by this path was deliberate, and
  // one closed because a reply exceeded this client's max_message_size is no fault of the endpoint).
  void lost(const RpcConnection* raw, const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed || std::none_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.conn.get() == raw; })) return;
      // Held by its entry: alive here.
      if (raw->close_code() == make_error_code(Errc::reply_too_large)) return;
    }
    params.on_connection_lost(reason);
  }

  bool closed_now() const {
    std::lock_guard<std::mutex> lock(mu);
    return closed;
  }

  void done_one() {
    std::vector<std::shared_ptr<RpcConnection>> idle;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (--inflight == 0) drained.notify_all();
      if (!retiring.empty()) {
        auto keep = std::partition(retiring.begin(), retiring.end(), [](const auto& c) { return c->in_flight() > 0; });
        idle.assign(std::make_move_iterator(keep), std::make_move_iterator(retiring.end()));
        retiring.erase(keep, retiring.end());
      }
    }
    for (auto& c : idle) c->close();
  }

  // A queued caller with its own deadline `at`: whichever comes first, a connection (or the
  // failure to open one) or the deadline, runs it; the other finds it answered.
  Queued with_deadline(Queued q, Clock::time_point at) {
    auto d = std::make_shared<detail::CallDeadline>();
    d->at = at;
    auto queued = std::make_shared<Queued>(std::move(q));
    detail::arm_deadline(io, d, [queued, url = params.url] {
      (*queued)(make_error_code(Errc::pool_timeout), "no shared connection to " + url + " opened within the call's deadline", nullptr);
    });
    return [d, queued](std::error_code ec, const std::string& why, std::shared_ptr<RpcConnection> c) {
      if (d->try_send()) (*queued)(ec, why, std::move(c));
    };
  }

  // `all_usable`, when given, is cleared if any entry is not (missing, opening, dead or due for
  // renewal): only then is there anything for open_missing_locked to do.
  std::shared_ptr<RpcConnection> least_loaded_locked(bool* all_usable = nullptr) const {
    const Entry* best = nullptr;
    const auto now = Clock::now();
    for (const auto& e : entries) {
      if (!usable(e, now)) {
        if (all_usable) *all_usable = false;
        continue;
      }
      if (!best || e.conn->in_flight() < best->conn->in_flight()) best = &e;
    }
    return best ? best->conn : nullptr;
  }

  // The usual case, without the queue's bookkeeping: the least-loaded open connection, the call
  // counted in `inflight` (and missing connections opened, as pick() does); null when none is open.
  std::shared_ptr<RpcConnection> ready_connection() {
    std::shared_ptr<RpcConnection> best;
    std::vector<std::size_t> to_open;
    {
      std::lock_guard<std::mutex> lock(mu);
      bool all_usable = true;
      if (closed || !(best = least_loaded_locked(&all_usable))) return nullptr;
      ++inflight;
      if (!all_usable) open_missing_locked(to_open);
    }
    for (auto i : to_open) open(i);
    return best;
  }

  // The least-loaded open connection now, else queues `q` for the first to open (starting
  // attempts) — until `deadline` at the latest, when one is given — else fails it at once with the
  // last connect error (backing off) or pool_closed.
  void pick(Queued q, std::optional<Clock::time_point> deadline = std::nullopt) {
    std::shared_ptr<RpcConnection> best;
    std::vector<std::size_t> to_open;
    std::error_code fail_ec;
    std::string fail_why;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) {
        fail_ec = make_error_code(Errc::pool_closed);
        fail_why = "the shared path to " + params.url + " is closed";
      } else {
        best = least_loaded_locked();
        const bool opening = open_missing_locked(to_open);  // also replaces dead ones
        if (!best && !opening) {
          fail_ec = last_ec ? last_ec : make_error_code(Errc::connect_failed);
          fail_why = last_why.empty() ? "no connection to " + params.url : last_why;
        } else if (!best) {
          queued.push_back(deadline ? with_deadline(std::move(q), *deadline) : std::move(q));
        }
      }
    }
    for (auto i : to_open) open(i);
    if (fail_ec) return q(fail_ec, fail_why, nullptr);
    if (best) q({}, "", std::move(best));
  }
};

std::shared_ptr<SharedPath> SharedPath::create(asio::io_context& io, SharedPathParams params) {
  if (!params.metrics) params.metrics = std::make_shared<metrics::PoolMetrics>();
  if (params.connections == 0) params.connections = 1;
  params.connect.on_request_done = detail::count_requests(params.metrics, std::move(params.connect.on_request_done));
  std::shared_ptr<SharedPath> path(new SharedPath(std::make_unique<Impl>(io, std::move(params))));
  path->impl_->self = path;
  return path;
}

SharedPath::SharedPath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SharedPath::~SharedPath() { close(); }

void SharedPath::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  if (auto conn = impl_->ready_connection()) {
    return run_counted(*conn, std::move(request), std::move(options), std::move(handler));
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ++impl_->inflight;
  }
  // A call waiting for a connection to open still ends by its own deadline (never sent).
  const auto timeout = options.timeout.count() > 0 ? options.timeout : impl_->params.connect.request_timeout;
  const auto deadline = Clock::now() + timeout;
  auto call = std::make_shared<std::tuple<storage::Request, storage::RequestOptions, storage::Handler>>(
      std::move(request), std::move(options), std::move(handler));
  impl_->pick([weak = impl_->self, call, deadline](std::error_code ec, const std::string& why, std::shared_ptr<RpcConnection> conn) {
    auto& [req, opts, h] = *call;
    auto path = weak.lock();
    if (!path) return h(ec ? ec : make_error_code(Errc::pool_closed), storage::Value(why));
    if (ec) {
      h(ec, storage::Value(why));
      return path->impl_->done_one();
    }
    // What is left of the call's deadline after waiting for the connection.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    opts.timeout = std::max(left, std::chrono::milliseconds(1));
    path->run_counted(*conn, std::move(req), std::move(opts), std::move(h));
  }, deadline);
}

void SharedPath::async_call_on(RpcConnection& conn, storage::Request request, storage::RequestOptions options,
                               storage::Handler handler) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closed) return handler(make_error_code(Errc::pool_closed), storage::Value(std::string("the shared path is closed")));
    ++impl_->inflight;
  }
  run_counted(conn, std::move(request), std::move(options), std::move(handler));
}

// A call already counted in `inflight`, uncounted when it completes (its connection's observer
// times it: count_requests).
void SharedPath::run_counted(RpcConnection& conn, storage::Request request, storage::RequestOptions options,
                             storage::Handler handler) {
  conn.async_call(std::move(request), std::move(options),
                  [weak = impl_->self, h = std::move(handler)](std::error_code ec, storage::Value v) {
                    // Uncounted before the handler runs: a caller it wakes sees the count it expects.
                    if (auto path = weak.lock()) path->impl_->done_one();
                    h(ec, std::move(v));
                  });
}

void SharedPath::async_connection(std::function<void(std::error_code, const std::string&, std::shared_ptr<RpcConnection>)> then,
                                  std::optional<Clock::time_point> deadline) {
  impl_->pick(std::move(then), deadline);
}

std::chrono::milliseconds SharedPath::default_timeout() const { return impl_->params.connect.request_timeout; }

std::size_t SharedPath::in_flight() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->inflight;
}

bool SharedPath::wait_drained(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->drained.wait_for(lock, timeout, [&] { return impl_->inflight == 0; });
}

void SharedPath::close() {
  auto& impl = *impl_;
  std::deque<Impl::Queued> waiting;
  std::vector<std::shared_ptr<RpcConnection>> conns;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.closed) return;
    impl.closed = true;
    waiting.swap(impl.queued);
    for (auto& e : impl.entries) {
      if (e.conn) conns.push_back(std::move(e.conn));
      if (e.setting_up) conns.push_back(std::move(e.setting_up));
    }
    for (auto& c : impl.retiring) conns.push_back(std::move(c));
    impl.retiring.clear();
  }
  for (auto& q : waiting) q(make_error_code(Errc::pool_closed), "the shared path is closed", nullptr);
  for (auto& c : conns) c->close();
}

std::size_t SharedPath::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto now = Clock::now();
  return static_cast<std::size_t>(
      std::count_if(impl_->entries.begin(), impl_->entries.end(), [now](const Impl::Entry& e) { return Impl::usable(e, now); }));
}

}  // namespace cortex::pool
