#include "shared_lane.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <vector>

#include "cortex/storage/error.hpp"
#include "session_setup.hpp"

namespace cortex::pool {

using storage::RpcConnection;
using Clock = std::chrono::steady_clock;

struct SharedLane::Impl {
  Impl(asio::io_context& io_, SharedLaneParams p) : io(io_), params(std::move(p)), entries(params.connections) {}

  struct Entry {
    std::shared_ptr<RpcConnection> conn;      // set once it is connected and set up
    std::shared_ptr<RpcConnection> setting_up;  // owned here while signin/use run on it
    bool opening = false;
  };
  struct Queued {
    storage::Request request;
    storage::RequestOptions options;
    storage::Handler handler;
  };

  asio::io_context& io;
  SharedLaneParams params;
  std::weak_ptr<SharedLane> self;

  mutable std::mutex mu;
  mutable std::condition_variable drained;
  std::vector<Entry> entries;
  std::deque<Queued> queued;  // calls waiting for a connection to open
  std::size_t inflight = 0;
  bool closed = false;
  std::uint32_t failures = 0;
  std::optional<Clock::time_point> retry_at;
  std::error_code last_ec;
  std::string last_why;
  std::mt19937_64 rng{std::random_device{}()};

  static bool usable(const Entry& e) { return e.conn && e.conn->is_open(); }

  // Starts opening every missing connection, unless backing off after failures. Returns whether an
  // attempt is (now) in flight. Under `mu`.
  bool open_missing_locked(std::vector<std::size_t>& to_open) {
    bool any = false;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto& e = entries[i];
      if (e.opening) {
        any = true;
        continue;
      }
      if (usable(e) || (retry_at && Clock::now() < *retry_at)) continue;
      e.conn.reset();
      e.opening = true;
      any = true;
      to_open.push_back(i);
    }
    return any;
  }

  void open(std::size_t i) {
    RpcConnection::async_connect(io, params.url, params.connect, [weak = self, i](std::error_code ec, std::shared_ptr<RpcConnection> c) {
      auto lane = weak.lock();
      if (!lane) return;
      auto& impl = *lane->impl_;
      if (ec) return impl.opened(i, ec, "connect to " + impl.params.url + " failed: " + ec.message(), nullptr);
      {
        std::lock_guard<std::mutex> lock(impl.mu);
        impl.entries[i].setting_up = c;  // the steps hold it only weakly
      }
      detail::run_steps(c, detail::session_steps(impl.params.defaults), [weak, i](std::error_code sec, const std::string& why) {
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
    std::deque<Queued> ready;
    {
      std::lock_guard<std::mutex> lock(mu);
      entries[i].opening = false;
      if (!ec && !closed) {
        entries[i].conn = conn;
        failures = 0;
        retry_at.reset();
        params.metrics->connections_created.fetch_add(1);
      } else if (ec) {
        last_ec = ec;
        last_why = why;
        ++failures;
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        retry_at = Clock::now() + params.reconnect.backoff(std::min<std::uint32_t>(failures, 64), u);
      }
      // Waiting calls go now if this one opened; fail when nothing is open or opening any more.
      const bool any_opening = std::any_of(entries.begin(), entries.end(), [](const Entry& e) { return e.opening; });
      if ((!ec && !closed) || !any_opening) ready.swap(queued);
    }
    if (conn && (ec || closed_now())) conn->close();
    for (auto& q : ready) {
      if (ec || closed_now()) {
        finish(q.handler, ec ? ec : make_error_code(Errc::pool_closed), ec ? why : "the shared path is closed");
      } else {
        dispatch(conn, std::move(q));
      }
    }
  }

  bool closed_now() const {
    std::lock_guard<std::mutex> lock(mu);
    return closed;
  }

  // Completes a call that never reached a connection.
  void finish(storage::Handler& h, std::error_code ec, const std::string& why) {
    h(ec, storage::Value(why));
    done_one();
  }

  void done_one() {
    std::lock_guard<std::mutex> lock(mu);
    if (--inflight == 0) drained.notify_all();
  }

  void dispatch(const std::shared_ptr<RpcConnection>& conn, Queued q) {
    const auto start = Clock::now();
    conn->async_call(std::move(q.request), std::move(q.options),
                     [weak = self, m = params.metrics, start, h = std::move(q.handler)](std::error_code ec, storage::Value v) {
                       m->request_time.record(Clock::now() - start);
                       h(ec, std::move(v));
                       if (auto lane = weak.lock()) lane->impl_->done_one();
                     });
  }
};

std::shared_ptr<SharedLane> SharedLane::create(asio::io_context& io, SharedLaneParams params) {
  if (!params.metrics) params.metrics = std::make_shared<metrics::PoolMetrics>();
  if (params.connections == 0) params.connections = 1;
  std::shared_ptr<SharedLane> lane(new SharedLane(std::make_unique<Impl>(io, std::move(params))));
  lane->impl_->self = lane;
  return lane;
}

SharedLane::SharedLane(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SharedLane::~SharedLane() { close(); }

void SharedLane::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  auto& impl = *impl_;
  std::shared_ptr<RpcConnection> best;
  std::vector<std::size_t> to_open;
  std::error_code fail_ec;
  std::string fail_why;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.closed) {
      fail_ec = make_error_code(Errc::pool_closed);
      fail_why = "the shared path to " + impl.params.url + " is closed";
    } else {
      for (const auto& e : impl.entries) {
        if (Impl::usable(e) && (!best || e.conn->in_flight() < best->in_flight())) best = e.conn;
      }
      const bool opening = impl.open_missing_locked(to_open);  // also replaces dead ones
      if (!best && !opening) {
        fail_ec = impl.last_ec ? impl.last_ec : make_error_code(Errc::connect_failed);
        fail_why = impl.last_why.empty() ? "no connection to " + impl.params.url : impl.last_why;
      } else if (!best) {
        impl.queued.push_back({std::move(request), std::move(options), std::move(handler)});
      }
    }
    if (!fail_ec) ++impl.inflight;
  }
  for (auto i : to_open) impl.open(i);
  if (fail_ec) return handler(fail_ec, storage::Value(fail_why));
  if (best) impl.dispatch(best, {std::move(request), std::move(options), std::move(handler)});
}

std::size_t SharedLane::in_flight() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->inflight;
}

bool SharedLane::wait_drained(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->drained.wait_for(lock, timeout, [&] { return impl_->inflight == 0; });
}

void SharedLane::close() {
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
  }
  for (auto& q : waiting) impl.finish(q.handler, make_error_code(Errc::pool_closed), "the shared path is closed");
  for (auto& c : conns) c->close();
}

std::size_t SharedLane::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<std::size_t>(std::count_if(impl_->entries.begin(), impl_->entries.end(), Impl::usable));
}

}  // namespace cortex::pool
