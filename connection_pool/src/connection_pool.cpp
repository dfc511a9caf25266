// ConnectionPool: drives PoolCore (pure logic) with RpcConnections and an Asio timer. All core
// state is under `mu`; effects (connects, closes, completions) run after it is released.
#include "cortex/pool/connection_pool.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <map>
#include <set>

#include "cortex/pool/pool_core.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/log.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

using storage::RpcConnection;
using Conn = std::shared_ptr<RpcConnection>;
using Core = PoolCore<Conn>;
using Clock = std::chrono::steady_clock;

struct ConnectionPool::Impl {
  Impl(asio::io_context& io_, ConnectionPoolParams p, std::shared_ptr<metrics::PoolMetrics> m)
      : io(io_),
        params(std::move(p)),
        metrics(m ? std::move(m) : std::make_shared<metrics::PoolMetrics>()),
        core(CoreLimits{params.config.min_connections, params.config.max_connections, params.config.idle_timeout,
                        params.max_uses}),
        timer(io_),
        rng(std::random_device{}()),
        maintenance(io_) {}

  asio::io_context& io;
  ConnectionPoolParams params;
  std::shared_ptr<metrics::PoolMetrics> metrics;
  std::weak_ptr<ConnectionPool> self;

  mutable std::mutex mu;
  mutable std::condition_variable changed;  // notified whenever the counts change (wait_quiet)
  Core core;
  asio::steady_timer timer;
  std::optional<Clock::time_point> armed_for;
  std::optional<Clock::time_point> retry_at;  // reconnect backoff after failed connects
  std::uint32_t connect_failures = 0;
  std::string last_error_text;
  std::mt19937_64 rng;
  std::set<Conn> setting_up;           // new connections between connect and first use
  asio::steady_timer maintenance;      // health pings of idle connections, leak reports
  Clock::time_point next_health{};
  std::set<Core::Slot*> leased_slots;  // slots out on lease (alive: their lease or `held` owns them)
  // Slots the pool owns while an RPC runs on them (state restore after a lease, validation ping):
  // the RPC's handler lives in the connection, so it may hold only a raw pointer, never the slot.
  std::map<const Core::Slot*, Core::SlotPtr> held;

  const Core::Slot* hold(Core::SlotPtr slot) {
    const Core::Slot* raw = slot.get();
    std::lock_guard<std::mutex> lock(mu);
    held.emplace(raw, std::move(slot));
    return raw;
  }
  Core::SlotPtr unhold(const Core::Slot* raw) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = held.find(raw);
    if (it == held.end()) return nullptr;
    Core::SlotPtr s = std::move(it->second);
    held.erase(it);
    return s;
  }

  void publish_gauges_locked() {
    changed.notify_all();
    metrics->set_gauges(static_cast<std::int64_t>(core.size()), static_cast<std::int64_t>(core.idle()),
                        static_cast<std::int64_t>(core.in_use()), static_cast<std::int64_t>(core.waiters()));
  }

  // Performs what the core asked for. Never called with `mu` held.
  void apply(Core::Effects& fx) {
    for (auto& [slot, why] : fx.closes) {
      metrics->closed(why);
      if (slot->conn) slot->conn->close();
    }
    for (std::size_t i = 0; i < fx.creates; ++i) start_create();
    for (auto& c : fx.completions) c();
    arm();
  }

  void start_create() {
    // The connect keeps its own timeout: a waiter whose deadline passes first gets pool_timeout,
    // and the connection, once up, serves the next caller instead of being thrown away.
    RpcConnection::async_connect(io, params.url, params.connect, [weak = self](std::error_code ec, Conn conn) {
      auto pool = weak.lock();
      if (!pool) return;
      auto& impl = *pool->impl_;
      if (ec) return impl.finish_create(ec, "connect to " + impl.params.url + " failed: " + ec.message(), nullptr);
      impl.setup(std::move(conn));
    });
  }

  /// The session steps every connection starts with (and returns to after a lease).
  std::vector<storage::Request> session_steps(bool with_schema) const {
    std::vector<storage::Request> steps;
    if (params.defaults.credentials) steps.push_back(storage::rpc::signin(*params.defaults.credentials));
    if (params.defaults.ns || params.defaults.db) steps.push_back(storage::rpc::use(params.defaults.ns, params.defaults.db));
    if (with_schema && !params.schema.empty()) steps.push_back(storage::rpc::query(params.schema));
    return steps;
  }

  // Runs the steps one after another: session-mutating calls must be awaited before the next.
  // Handlers hold the connection only weakly (the pool owns it meanwhile): a handler that owned its
  // own connection would keep it alive forever if the io context stopped first.
  static void run_steps(std::weak_ptr<RpcConnection> weak_conn, std::shared_ptr<std::vector<storage::Request>> steps,
                        std::size_t i, std::function<void(std::error_code, const std::string&)> done, int conflicts = 0) {
    if (i == steps->size()) return done({}, "");
    auto conn = weak_conn.lock();
    if (!conn) return done(make_error_code(Errc::connection_lost), "connection gone during setup");
    const std::string method = (*steps)[i].method;
    conn->async_call((*steps)[i], {}, [weak_conn, steps, i, done, method, conflicts](std::error_code ec, storage::Value v) {
      // Sessions that `use` the same new namespace at once can conflict; the server says to retry.
      const auto& msg = v["message"];
      if (ec && conflicts < 5 && msg.is<std::string>() && is_retryable_conflict(msg.get<std::string>())) {
        return run_steps(weak_conn, steps, i, done, conflicts + 1);
      }
      if (!ec && method == "query") {
        const auto q = storage::QueryResult::parse(v);
        for (const auto& s : q.statements) {
          if (!s.ok) return done(make_error_code(Errc::statement_failed), "schema statement failed: " + s.error);
        }
      }
      // Never echo a signin's parameters: the server's message alone.
      if (ec) return done(ec, method + " on a pooled connection failed: " + ec.message());
      run_steps(weak_conn, steps, i + 1, done);
    });
  }

  // New connection: the pool owns it (`setting_up`) while signin, use, schema and the hook run.
  void setup(Conn conn) {
    {
      std::lock_guard<std::mutex> lock(mu);
      setting_up.insert(conn);
    }
    auto steps = std::make_shared<std::vector<storage::Request>>(session_steps(true));
    run_steps(conn, steps, 0, [weak = self, wc = std::weak_ptr<RpcConnection>(conn)](std::error_code ec, const std::string& why) {
      auto pool = weak.lock();
      if (!pool) return;  // the pool is gone, and the connection with it
      auto& impl = *pool->impl_;
      Conn c = wc.lock();
      {
        std::lock_guard<std::mutex> lock(impl.mu);
        if (c) impl.setting_up.erase(c);
      }
      if (!c) return impl.finish_create(make_error_code(Errc::connection_lost), "connection gone during setup", nullptr);
      if (!ec && impl.params.on_connection_create) impl.params.on_connection_create(*c);
      impl.finish_create(ec, why, std::move(c));
    });
  }

  // A returned lease: the pool owns the slot (`held`) while its session state is put back.
  void restore(Core::SlotPtr slot) {
    auto steps = std::make_shared<std::vector<storage::Request>>();
    steps->push_back(storage::rpc::reset());
    for (auto& s : session_steps(false)) steps->push_back(std::move(s));
    std::weak_ptr<RpcConnection> conn = slot->conn;
    const Core::Slot* raw = hold(std::move(slot));
    run_steps(conn, steps, 0, [weak = self, raw](std::error_code ec, const std::string&) {
      auto pool = weak.lock();
      if (!pool) return;
      if (auto back = pool->impl_->unhold(raw)) pool->impl_->give_back(std::move(back), !ec);
    });
  }

  void mark_leased(Core::Slot& s, const char* file, int line) {
    leased_slots.insert(&s);
    s.leased = true;
    s.leak_reported = false;
    s.leased_at = Clock::now();
    s.lease_file = file;
    s.lease_line = line;
  }

  void give_back(Core::SlotPtr slot, bool reusable) {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      slot->leased = false;
      leased_slots.erase(slot.get());
      core.release(std::move(slot), Clock::now(), reusable, fx);
      publish_gauges_locked();
    }
    apply(fx);
  }

  void finish_create(std::error_code ec, const std::string& why, Conn conn) {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto now = Clock::now();
      auto retire_at = Clock::time_point::max();
      if (params.config.max_lifetime.count() > 0) {
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        retire_at = now + std::chrono::duration_cast<Clock::duration>(params.config.max_lifetime * (1.0 - params.lifetime_jitter * u));
      }
      if (ec) {
        if (conn) conn->close();
        ++connect_failures;
        last_error_text = why;
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        retry_at = now + params.config.retry_policy.backoff(std::min<std::uint32_t>(connect_failures, 64), u);
      } else {
        connect_failures = 0;
        metrics->connections_created.fetch_add(1, std::memory_order_relaxed);
        // A connection that dies while idle leaves the pool at once, not when someone leases it.
        conn->on_closed([weak = self, c = std::weak_ptr<RpcConnection>(conn)](const std::string&) {
          auto pool = weak.lock();
          auto dead = c.lock();
          if (!pool || !dead) return;
          Core::Effects evicted;
          {
            std::lock_guard<std::mutex> inner(pool->impl_->mu);
            pool->impl_->core.evict_idle(dead, evicted);
            pool->impl_->publish_gauges_locked();
          }
          pool->impl_->apply(evicted);
        });
      }
      core.created(ec, conn, now, retire_at, fx);
      publish_gauges_locked();
    }
    apply(fx);
  }

  void arm() {
    std::lock_guard<std::mutex> lock(mu);
    auto next = core.next_wakeup();
    if (retry_at && (!next || *retry_at < *next)) next = retry_at;
    if (!next || (armed_for && *armed_for <= *next)) return;
    armed_for = next;
    timer.expires_at(*next);
    timer.async_wait([weak = self](const std::error_code& ec) {
      if (ec) return;
      if (auto p = weak.lock()) p->impl_->on_timer();
    });
  }

  // -- maintenance: health pings of idle connections and leak reports ---------------------------

  std::chrono::milliseconds maintenance_period() const {
    std::chrono::milliseconds p{0};
    auto consider = [&](std::chrono::milliseconds x) { if (x.count() > 0 && (p.count() == 0 || x < p)) p = x; };
    consider(params.health_check_interval);
    consider(std::max(params.leak_threshold / 2, std::chrono::milliseconds(10)) * (params.leak_threshold.count() > 0));
    return p;
  }

  void arm_maintenance() {
    const auto period = maintenance_period();
    if (period.count() == 0) return;
    std::lock_guard<std::mutex> lock(mu);
    if (core.closed()) return;
    maintenance.expires_after(period);
    maintenance.async_wait([weak = self](const std::error_code& ec) {
      if (ec) return;
      if (auto p = weak.lock()) p->impl_->on_maintenance();
    });
  }

  void on_maintenance() {
    std::vector<Conn> to_ping;
    std::vector<std::string> leaks;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (core.closed()) return;
      const auto now = Clock::now();
      if (params.health_check_interval.count() > 0 && now >= next_health) {
        for (const auto& s : core.idle_slots()) to_ping.push_back(s->conn);
        next_health = now + params.health_check_interval;
      }
      if (params.leak_threshold.count() > 0) {
        for (Core::Slot* s : leased_slots) {
          if (s->leak_reported || now - s->leased_at < params.leak_threshold) continue;
          s->leak_reported = true;  // once per lease
          const auto held = std::chrono::duration_cast<std::chrono::milliseconds>(now - s->leased_at).count();
          leaks.push_back("possible connection leak: a lease of " + params.url + " taken at " +
                          (s->lease_file ? s->lease_file : "?") + ":" + std::to_string(s->lease_line) + " is held for " +
                          std::to_string(held) + " ms");
        }
      }
    }
    for (const auto& msg : leaks) {
      metrics->leaks_detected.fetch_add(1, std::memory_order_relaxed);
      log(LogLevel::warning, msg);
    }
    storage::RequestOptions o;
    o.timeout = std::min(params.health_check_interval, std::chrono::milliseconds(5000));
    for (auto& c : to_ping) {
      c->async_call(storage::rpc::ping(), o, [m = metrics, wc = std::weak_ptr<RpcConnection>(c)](std::error_code ec, storage::Value) {
        if (!ec) return void(m->health_checks_passed.fetch_add(1, std::memory_order_relaxed));
        m->health_checks_failed.fetch_add(1, std::memory_order_relaxed);
        if (auto dead = wc.lock()) dead->abort();  // on_closed evicts it and the pool tops up
      });
    }
    arm_maintenance();
  }

  void on_timer() {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      armed_for.reset();
      const auto now = Clock::now();
      if (retry_at && now >= *retry_at) retry_at.reset();
      // While backing off a failing endpoint, waiters still expire but no attempt starts.
      core.tick(now, fx, !retry_at);
      for (const auto& c : fx.completions) {
        if (c.ec == make_error_code(Errc::pool_timeout)) metrics->acquisition_timeouts.fetch_add(1, std::memory_order_relaxed);
      }
      publish_gauges_locked();
    }
    apply(fx);
  }

};

// -- ConnectionPool ---------------------------------------------------------------------------

std::shared_ptr<ConnectionPool> ConnectionPool::create(asio::io_context& io, ConnectionPoolParams params,
                                                       std::shared_ptr<metrics::PoolMetrics> metrics) {
  params.config.validate();
  if (!(params.lifetime_jitter >= 0.0 && params.lifetime_jitter < 1.0)) {
    throw std::invalid_argument("ConnectionPoolParams::lifetime_jitter: must be within [0, 1)");
  }
  try {
    const auto ep = storage::parse_endpoint(params.url);
    if (ep.is_local()) throw std::invalid_argument("ConnectionPoolParams::url: a local engine URL (" + ep.to_string() +
                                                   ") must be started first; pass its ws:// URL");
  } catch (const Error& e) {
    throw std::invalid_argument(std::string("ConnectionPoolParams::url: ") + e.what());
  }
  if (params.defaults.db && !params.defaults.ns) throw std::invalid_argument("SessionDefaults::db: needs a namespace");
  const bool warm = params.config.warm_connections;
  std::shared_ptr<ConnectionPool> pool(new ConnectionPool(std::make_unique<Impl>(io, std::move(params), std::move(metrics))));
  pool->impl_->self = pool;
  pool->impl_->next_health = Clock::now() + pool->impl_->params.health_check_interval;
  pool->impl_->arm_maintenance();
  if (warm) {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(pool->impl_->mu);
      pool->impl_->core.fill(fx);
    }
    pool->impl_->apply(fx);
  }
  return pool;
}

ConnectionPool::ConnectionPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::async_acquire(std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                   int line) {
  auto& impl = *impl_;
  const auto start = Clock::now();
  auto self = shared_from_this();
  // Turns a slot already marked leased into a lease, with metrics: the one way a lease is made.
  auto hand_over = [start](std::shared_ptr<ConnectionPool> pool, Core::SlotPtr slot,
                           const std::function<void(std::error_code, PooledConnection)>& to) {
    auto& m = *pool->impl_->metrics;
    m.acquire_wait.record(Clock::now() - start);
    m.acquisitions.fetch_add(1, std::memory_order_relaxed);
    if (slot->uses > 1) m.connections_reused.fetch_add(1, std::memory_order_relaxed);
    PooledConnection lease;
    lease.pool_ = std::move(pool);
    lease.conn_ = slot->conn;
    lease.slot_ = std::move(slot);
    to({}, std::move(lease));
  };
  // The slow paths (a waiter served later, a validated idle connection) arrive without the lock.
  auto deliver = [self, start, file, line, handler, hand_over](std::error_code ec, Core::SlotPtr slot) {
    auto& in = *self->impl_;
    if (ec) {
      in.metrics->acquire_wait.record(Clock::now() - start);
      return handler(ec, PooledConnection{});
    }
    {
      std::lock_guard<std::mutex> lock(in.mu);
      in.mark_leased(*slot, file, line);
    }
    hand_over(self, std::move(slot), handler);
  };
  Core::Effects fx;
  std::optional<Core::SlotPtr> fast;
  bool validate = false;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    fast = impl.core.try_acquire(start);
    if (fast) {
      const auto limit = impl.params.validate_after_idle;
      validate = limit.count() > 0 && start - (*fast)->last_used > limit;
      if (!validate) impl.mark_leased(**fast, file, line);
    } else {
      impl.core.wait(start + impl.params.config.connection_timeout, deliver, fx);
    }
    impl.publish_gauges_locked();
  }
  if (!fast) return impl.apply(fx);
  if (!(*fast)->conn->is_open()) {
    // Died while idle, and its eviction has not run yet: drop it and look again.
    impl.give_back(std::move(*fast), false);
    return async_acquire(std::move(handler), file, line);
  }
  // Fast path: already marked leased under the lock above, so no second lock.
  if (!validate) return hand_over(std::move(self), std::move(*fast), handler);
  // Idle for long: make sure the server still answers before handing it out.
  storage::RequestOptions ping;
  ping.timeout = std::min(impl.params.config.connection_timeout, std::chrono::milliseconds(2000));
  auto conn = (*fast)->conn;
  const Core::Slot* raw = impl.hold(std::move(*fast));
  conn->async_call(storage::rpc::ping(), ping,
                   [weak = std::weak_ptr<ConnectionPool>(self), raw, deliver, handler, file, line](std::error_code ec,
                                                                                                   storage::Value) mutable {
                     auto pool = weak.lock();
                     if (!pool) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                     auto slot = pool->impl_->unhold(raw);
                     if (!slot) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                     if (!ec) return deliver({}, std::move(slot));
                     pool->impl_->metrics->health_checks_failed.fetch_add(1, std::memory_order_relaxed);
                     pool->impl_->give_back(std::move(slot), false);  // dead: closed, replaced
                     pool->async_acquire(std::move(handler), file, line);  // and try again
                   });
}

PooledConnection ConnectionPool::acquire(const char* file, int line) {
  if (impl_->io.get_executor().running_in_this_thread()) {
    throw Error(make_error_code(Errc::invalid_argument), "blocking acquire() called on the io thread");
  }
  struct Got {
    std::error_code ec;
    PooledConnection lease;
  };
  std::promise<Got> done;
  auto fut = done.get_future();
  async_acquire([&done](std::error_code ec, PooledConnection lease) { done.set_value({ec, std::move(lease)}); }, file,
                line);
  Got got = fut.get();
  if (!got.ec) return std::move(got.lease);
  const Status st = status();
  std::string why;
  if (got.ec == make_error_code(Errc::pool_timeout)) {
    why = "no connection to " + impl_->params.url + " became free within " +
          std::to_string(impl_->params.config.connection_timeout.count()) + " ms (" + std::to_string(st.in_use) + "/" +
          std::to_string(impl_->params.config.max_connections) + " in use, " + std::to_string(st.waiters) + " waiting)";
  } else if (got.ec == make_error_code(Errc::pool_closed)) {
    why = "the pool for " + impl_->params.url + " is shut down";
  } else {
    std::lock_guard<std::mutex> lock(impl_->mu);
    why = impl_->last_error_text.empty() ? got.ec.message() : impl_->last_error_text;
  }
  throw Error(got.ec, why);
}

void ConnectionPool::shutdown() {
  Core::Effects fx;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->core.closed()) return;
    impl_->core.shutdown(fx);
    impl_->retry_at.reset();
    impl_->timer.cancel();
    impl_->maintenance.cancel();
    impl_->publish_gauges_locked();
  }
  impl_->apply(fx);
}

bool ConnectionPool::wait_quiet(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->core.in_use() == 0 && impl_->core.waiters() == 0; });
}

ConnectionPool::Status ConnectionPool::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto& c = impl_->core;
  return {c.size(), c.idle(), c.in_use(), c.waiters(), c.pending(), c.closed(), c.last_error()};
}

metrics::PoolMetrics& ConnectionPool::metrics() const noexcept { return *impl_->metrics; }
const std::string& ConnectionPool::url() const noexcept { return impl_->params.url; }

// -- PooledConnection -------------------------------------------------------------------------

PooledConnection& PooledConnection::operator=(PooledConnection&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = std::move(o.pool_);
    slot_ = std::move(o.slot_);
    conn_ = std::move(o.conn_);
    broken_ = o.broken_;
    o.broken_ = false;
  }
  return *this;
}

void PooledConnection::release() {
  if (!pool_) return;
  auto pool = std::move(pool_);
  auto slot = std::static_pointer_cast<Core::Slot>(std::move(slot_));
  auto conn = std::move(conn_);
  auto& impl = *pool->impl_;
  if (broken_ || !conn->is_open()) return impl.give_back(std::move(slot), false);
  bool closed;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    closed = impl.core.closed();
  }
  if (closed) return impl.give_back(std::move(slot), true);  // the core closes it: no point restoring
  // The lease may have changed namespace, database, auth or variables: put the defaults back
  // (reset, then the same steps a new connection runs) before anyone else gets the connection.
  impl.restore(std::move(slot));
}

}  // namespace cortex::pool
