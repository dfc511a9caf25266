// ConnectionPool: drives PoolCore (pure logic) with RpcConnections and an Asio timer. All core
// state is under `mu`; effects (connects, closes, completions) run after it is released.
#include "cortex/storage/block_on.hpp"
#include "cortex/pool/connection_pool.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <map>
#include <set>

#include "coarse_clock.hpp"
#include "connection_setup.hpp"
#include "pool_driver.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/log.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

using storage::RpcConnection;
using Conn = std::shared_ptr<RpcConnection>;
using Core = PoolCore<Conn>;
using Node = Core::Node;
using Clock = std::chrono::steady_clock;

// The I/O half of the pool; PoolDriver (the base) holds the core, the fast lane and the gauges.
struct ConnectionPool::Impl : PoolDriver<Conn, Clock, ConnectionPool::Impl> {
  Impl(asio::io_context& io_, ConnectionPoolParams p, std::shared_ptr<metrics::PoolMetrics> m)
      : PoolDriver(CoreLimits{p.config.min_connections, p.config.max_connections, p.config.idle_timeout, p.config.max_uses,
                              p.config.max_waiters},
                   std::move(m)),
        io(io_),
        params(std::move(p)),
        timer(io_),
        rng(std::random_device{}()),
        maintenance(io_) {}

  asio::io_context& io;
  ConnectionPoolParams params;
  std::weak_ptr<ConnectionPool> self;

  detail::TokenCache tokens;  // the pool user's token: setups and restores authenticate with it
  asio::steady_timer timer;
  std::atomic<bool> shut{false};
  bool owns_metrics = false;                    // created them: installs their gauge source
  std::optional<Clock::time_point> armed_for;
  ConnectBackoff<Clock> backoff;  // reconnect schedule after failed connects
  std::string last_error_text;
  std::mt19937_64 rng;
  std::set<Conn> setting_up;           // new connections between connect and first use
  asio::steady_timer maintenance;      // health pings of idle connections, leak reports
  Clock::time_point next_health{};
  // Every open slot, for the leak scan (alive while listed: whoever holds it — core, bag, lease,
  // `held` — keeps it; apply() unlists a slot before its close drops it).
  std::set<Core::Slot*> slots;
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

  // Performs what the core asked for. Never called with `mu` held.
  void apply(Core::Effects& fx) {
    if (!fx.closes.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& c : fx.closes) slots.erase(c.first.get());
    }
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
      Node node;  // its lifecycle starts here: connecting
      if (node.connected(ec) != NodeAction::setup) {
        return impl.finish_create(ec, "connect to " + impl.params.url + " failed: " + ec.message(), nullptr, node);
      }
      impl.setup(std::move(conn), node);
    });
  }

  // New connection: the pool owns it (`setting_up`) while signin, use, schema and the hook run.
  void setup(Conn conn, Node node) {
    {
      std::lock_guard<std::mutex> lock(mu);
      setting_up.insert(conn);
    }
    auto plan = detail::setup_plan(params.defaults, tokens.get(), params.schema);
    plan.metrics = metrics.get();
    detail::run_setup(conn, std::move(plan), [weak = self, wc = std::weak_ptr<RpcConnection>(conn), node](std::error_code ec, const std::string& why) {
      auto pool = weak.lock();
      if (!pool) return;  // the pool is gone, and the connection with it
      auto& impl = *pool->impl_;
      Conn c = wc.lock();
      {
        std::lock_guard<std::mutex> lock(impl.mu);
        if (c) impl.setting_up.erase(c);
      }
      if (!c) return impl.finish_create(make_error_code(Errc::connection_lost), "connection gone during setup", nullptr, node);
      if (!ec) impl.tokens.learn(*c);
      if (!ec && impl.params.on_connection_create) impl.params.on_connection_create(*c);
      impl.finish_create(ec, why, std::move(c), node);
    });
  }

  // A returned lease whose node asked for a restore: the pool owns the slot (`held`) while its
  // session state is put back, then the node decides (idle, or retired).
  void restore(Core::SlotPtr slot) {
    // reset, authenticate with the pool's token, use: no password signin per lease.
    auto plan = detail::setup_plan(params.defaults, tokens.get(), {}, true);
    plan.metrics = metrics.get();
    std::weak_ptr<RpcConnection> conn = slot->conn;
    const Core::Slot* raw = hold(std::move(slot));
    detail::run_setup(conn, std::move(plan), [weak = self, raw, conn](std::error_code ec, const std::string&) {
      auto pool = weak.lock();
      if (!pool) return;
      auto& impl = *pool->impl_;
      if (auto c = conn.lock(); c && !ec) impl.tokens.learn(*c);
      auto back = impl.unhold(raw);
      if (!back) return;
      const auto& c = back->conn;
      back->node.restored(ec || !c->is_open() ? make_error_code(Errc::connection_lost) : std::error_code{}, coarse_now(),
                          impl.core.rules());
      impl.settle(std::move(back));
    });
  }

  // PoolConfig::wait_for_min_connections: block the creator until min_connections are open, or
  // fail with why they are not once connection_timeout passes (failed attempts retry meanwhile).
  void wait_for_min() {
    storage::refuse_on_io_thread(io, "creating a pool that waits for its connections");
    const auto deadline = Clock::now() + params.config.connection_timeout;
    std::unique_lock<std::mutex> lock(mu);
    if (changed.wait_until(lock, deadline, [&] { return core.size() >= params.config.min_connections; })) return;
    const auto ec = core.last_error() ? core.last_error() : make_error_code(Errc::pool_timeout);
    const std::string why = std::to_string(core.size()) + " of min_connections " + std::to_string(params.config.min_connections) +
                            " open to " + params.url + " within connection_timeout" +
                            (last_error_text.empty() ? "" : ": " + last_error_text);
    lock.unlock();
    throw Error(ec, why);
  }

  // A lease ends: its node judges the connection (retire, restore, or idle again). `reusable` =
  // false: broken.
  void end_lease(Core::SlotPtr slot, bool reusable, bool session_changed = false) {
    if (give_back(slot, reusable, session_changed, coarse_now()) != NodeAction::restore) return;
    metrics->lease_restores.fetch_add(1);
    restore(std::move(slot));
  }

  void finish_create(std::error_code ec, const std::string& why, Conn conn, Node node) {
    if (params.on_connect_result) params.on_connect_result(ec, why);
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto now = Clock::now();
      auto retire_at = Clock::time_point::max();
      if (params.config.max_lifetime.count() > 0) {
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        retire_at = now + std::chrono::duration_cast<Clock::duration>(params.config.max_lifetime * (1.0 - params.lifetime_jitter * u));
      }
      // Its session ends when the token it authenticated with expires: retire it before then.
      if (!ec && conn) {
        if (auto by = detail::renew_by(conn->auth_token())) retire_at = std::min(retire_at, std::max(*by, now));
      }
      if (node.state() == NodeState::setting_up) node.set_up(ec, now, retire_at);
      if (ec) {
        if (conn) conn->close();
        last_error_text = why;
        backoff.failed(now, params.config.retry_policy, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
      } else {
        backoff.succeeded();
        last_error_text.clear();
        metrics->connections_created.fetch_add(1, std::memory_order_relaxed);
        // A connection that dies while idle leaves the pool at once, not when someone leases it.
        conn->on_closed([weak = self, c = std::weak_ptr<RpcConnection>(conn)](const std::string&) {
          auto pool = weak.lock();
          auto dead = c.lock();
          if (!pool || !dead) return;
          pool->impl_->with_bag_drained([&](Core::Effects& evicted) { pool->impl_->core.evict_idle(dead, evicted); });
        });
      }
      if (auto slot = core.created(ec, conn, node, fx)) slots.insert(slot.get());
      publish_gauges_locked();
    }
    apply(fx);
  }

  void arm() {
    std::lock_guard<std::mutex> lock(mu);
    auto next = core.next_wakeup();
    if (auto r = backoff.retry_at(); r && (!next || *r < *next)) next = r;
    if (!next || (armed_for && *armed_for <= *next)) return;
    armed_for = next;
    timer.expires_at(*next);
    timer.async_wait([weak = self](const std::error_code& ec) {
      if (ec) return;
      if (auto p = weak.lock()) p->impl_->on_timer();
    });
  }

  // -- maintenance: health pings of idle connections, leak reports, the fast lane's retirements --

  std::chrono::milliseconds maintenance_period() const {
    std::chrono::milliseconds p{0};
    auto consider = [&](std::chrono::milliseconds x) { if (x.count() > 0 && (p.count() == 0 || x < p)) p = x; };
    consider(params.health_check_interval);
    consider(std::max(params.leak_threshold / 2, std::chrono::milliseconds(10)) * (params.leak_threshold.count() > 0));
    // Connections parked in the fast lane are invisible to the core's own timer: a pass drains
    // them back so that idle time and lifetime retire them too, not only the core's idle list.
    const bool can_shrink = params.config.max_connections > params.config.min_connections;
    consider(std::max(params.config.idle_timeout / 2, std::chrono::milliseconds(10)) *
             (can_shrink && params.config.idle_timeout.count() > 0));
    consider(std::max(params.config.max_lifetime / 4, std::chrono::milliseconds(10)) * (params.config.max_lifetime.count() > 0));
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
    bool closed = false;
    // Parked connections go back to the core so they are pinged, and age out by idle time.
    with_bag_drained([&](Core::Effects&) {
      closed = core.closed();
      if (closed) return;
      const auto now = Clock::now();
      if (params.health_check_interval.count() > 0 && now >= next_health) {
        for (const auto& s : core.idle_slots()) to_ping.push_back(s->conn);
        next_health = now + params.health_check_interval;
      }
      if (params.leak_threshold.count() > 0) {
        for (Core::Slot* s : slots) {
          if (!s->leased.load(std::memory_order_acquire) || s->leak_reported.load(std::memory_order_relaxed)) continue;
          const auto held = now - Clock::time_point(Clock::duration(s->leased_at.load(std::memory_order_relaxed)));
          if (held < params.leak_threshold) continue;
          s->leak_reported.store(true, std::memory_order_relaxed);  // once per lease
          const char* file = s->lease_file.load(std::memory_order_relaxed);
          leaks.push_back("possible connection leak: a lease of " + params.url + " taken at " + (file ? file : "?") + ":" +
                          std::to_string(s->lease_line.load(std::memory_order_relaxed)) + " is held for " +
                          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(held).count()) + " ms");
        }
      }
    });
    if (closed) return;
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
      // While backing off a failing endpoint, waiters still expire but no attempt starts.
      core.tick(now, fx, backoff.may_attempt(now));
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
  const bool owns_metrics = !metrics;
  std::shared_ptr<ConnectionPool> pool(new ConnectionPool(std::make_unique<Impl>(io, std::move(params), std::move(metrics))));
  pool->impl_->owns_metrics = owns_metrics;
  pool->impl_->self = pool;
  // The fast lane does not push gauges: snapshots read the live counts.
  // A raw pointer, not a weak one: a snapshot holding the last reference would run the destructor
  // inside the metrics' lock. The destructor removes the source (waiting out a running snapshot).
  // Shared metrics get their source from their owner (the manager sums its pools).
  if (pool->impl_->owns_metrics) {
    pool->impl_->metrics->set_gauge_source([impl = pool->impl_.get()] {
      std::lock_guard<std::mutex> lock(impl->mu);
      return impl->counts_locked();
    });
  }
  pool->impl_->next_health = Clock::now() + pool->impl_->params.health_check_interval;
  pool->impl_->arm_maintenance();
  if (warm) {
    Core::Effects fx;
    {
      std::lock_guard<std::mutex> lock(pool->impl_->mu);
      pool->impl_->core.fill(fx);
    }
    pool->impl_->apply(fx);
    if (pool->impl_->params.config.wait_for_min_connections) pool->impl_->wait_for_min();
  }
  return pool;
}

ConnectionPool::ConnectionPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionPool::~ConnectionPool() {
  if (impl_->owns_metrics) impl_->metrics->set_gauge_source(nullptr);
  shutdown();
}

void ConnectionPool::async_acquire(std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                   int line) {
  acquire_until(std::nullopt, std::move(handler), file, line);
}

// `deadline`: none on the first try (it is then start + connection_timeout); a retry after a
// connection failed its check keeps the first try's, so checks never extend the caller's wait.
void ConnectionPool::acquire_until(std::optional<std::chrono::steady_clock::time_point> deadline,
                                   std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                   int line) {
  auto& impl = *impl_;
  // The fast lane reads the tick-granular clock (a quarter of the cost); it only compares against
  // lifetimes, idle windows and leak thresholds of seconds.
  const auto start = coarse_now();
  const auto until = deadline ? *deadline : start + impl.params.config.connection_timeout;
  auto self = shared_from_this();
  // Turns a slot into a lease, with metrics: the one way a lease is made. `waited_from`: set when
  // it came through the slow path, whose wait is timed; the fast lane's is too short to time.
  using Since = std::optional<Clock::time_point>;
  auto hand_over = [start, file, line](std::shared_ptr<ConnectionPool> pool, Core::SlotPtr slot, Since waited_from,
                                       const std::function<void(std::error_code, PooledConnection)>& to) {
    pool->impl_->lend_out(*slot, start, file, line, waited_from);
    slot->session_changes_at_lease = slot->conn->session_changes();
    PooledConnection lease;
    lease.pool_ = std::move(pool);
    lease.conn_ = slot->conn;
    lease.slot_ = std::move(slot);
    to({}, std::move(lease));
  };
  // An idle connection (from the bag or the core's idle list) is checked before it is handed out.
  auto from_idle = [&](Core::SlotPtr slot, Since waited_from) {
    switch (slot->node.check_out(slot->conn->is_open(), start, impl.params.validate_after_idle)) {
      case NodeAction::close:  // died while idle (its eviction has not run yet) or outlived its lifetime
        impl.settle(std::move(slot));
        return acquire_until(until, std::move(handler), file, line);  // look again, same deadline
      case NodeAction::hand_out:
        return hand_over(std::move(self), std::move(slot), waited_from, handler);
      default:
        break;  // validate
    }
    // Idle for long: make sure the server still answers before handing it out, within what is
    // left of the caller's deadline.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      slot->node.unlend();  // unchecked, not dead: back to the pool as it was
      impl.settle(std::move(slot));
      impl.metrics->acquisition_timeouts.fetch_add(1, std::memory_order_relaxed);
      return handler(make_error_code(Errc::pool_timeout), PooledConnection{});
    }
    storage::RequestOptions ping;
    ping.timeout = std::min(left, std::chrono::milliseconds(2000));
    auto conn = slot->conn;
    const Core::Slot* raw = impl.hold(std::move(slot));
    conn->async_call(storage::rpc::ping(), ping,
                     [weak = std::weak_ptr<ConnectionPool>(self), raw, hand_over, handler, file, line, until,
                      waited_from = waited_from.value_or(start)](std::error_code ec, storage::Value) mutable {
                       auto pool = weak.lock();
                       if (!pool) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                       auto held = pool->impl_->unhold(raw);
                       if (!held) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                       if (held->node.validated(ec) == NodeAction::hand_out) {
                         return hand_over(std::move(pool), std::move(held), waited_from, handler);
                       }
                       pool->impl_->metrics->health_checks_failed.fetch_add(1, std::memory_order_relaxed);
                       pool->impl_->settle(std::move(held));  // dead: closed, replaced
                       pool->acquire_until(until, std::move(handler), file, line);  // and try again, same deadline
                     });
  };
  if (auto parked = impl.take_parked()) return from_idle(std::move(*parked), std::nullopt);
  const auto waited_from = Clock::now();
  auto deliver = [self, waited_from, handler, hand_over](std::error_code ec, Core::SlotPtr slot) {
    if (!ec) return hand_over(self, std::move(slot), waited_from, handler);
    self->impl_->metrics->acquire_wait.record(Clock::now() - waited_from);
    handler(ec, PooledConnection{});
  };
  if (auto idle = impl.take_or_wait(waited_from, until, std::move(deliver))) from_idle(std::move(*idle), waited_from);
}

PooledConnection ConnectionPool::acquire(const char* file, int line) {
  storage::refuse_on_io_thread(impl_->io, "acquire()");
  auto [ec, lease] = storage::block_on<std::error_code, PooledConnection>(
      [&](auto done) { async_acquire(std::move(done), file, line); });
  if (!ec) return std::move(lease);
  throw Error(ec, describe(ec));
}

std::string ConnectionPool::describe(std::error_code ec) const {
  const Status st = status();
  if (ec == make_error_code(Errc::pool_timeout)) {
    return "no connection to " + impl_->params.url + " became free within " +
           std::to_string(impl_->params.config.connection_timeout.count()) + " ms (" + std::to_string(st.in_use) + "/" +
           std::to_string(impl_->params.config.max_connections) + " in use, " + std::to_string(st.waiters) + " waiting)";
  }
  if (ec == make_error_code(Errc::pool_closed)) return "the pool for " + impl_->params.url + " is shut down";
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_error_text.empty() ? ec.message() : impl_->last_error_text;
}

void ConnectionPool::shutdown() {
  auto& impl = *impl_;
  if (impl.shut.exchange(true)) return;
  impl.bag.close_gate();  // for good: every later release goes to the core, which closes it
  impl.with_bag_drained([&](Core::Effects& fx) {
    impl.core.shutdown(fx);
    impl.backoff.cancel();
    impl.timer.cancel();
    impl.maintenance.cancel();
  });
}

bool ConnectionPool::wait_quiet(std::chrono::milliseconds timeout) const {
  auto& impl = *impl_;
  impl.bag.close_gate();  // returns meanwhile go through the core, which notifies `changed`
  Core::Effects fx;
  std::unique_lock<std::mutex> lock(impl.mu);
  impl.drain_bag_locked(fx);  // nobody waits (or they would have drained it): nothing to apply
  const bool quiet = impl.changed.wait_for(lock, timeout, [&] {
    return impl.core.in_use() == 0 && impl.core.waiters() == 0 && impl.core.pending() == 0;
  });
  lock.unlock();
  impl.bag.open_gate();
  impl.apply(fx);
  return quiet;
}

ConnectionPool::Status ConnectionPool::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto& c = impl_->core;
  const auto g = impl_->counts_locked();
  return {c.size(), static_cast<std::size_t>(g.idle), static_cast<std::size_t>(g.in_use), c.waiters(), c.pending(),
          c.closed(), c.last_error()};
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
  auto slot = std::static_pointer_cast<Core::Slot>(slot_);  // C++17 has no moving cast: reset below
  slot_.reset();
  auto conn = std::move(conn_);
  auto& impl = *pool->impl_;
  if (broken_ || !conn->is_open()) return impl.end_lease(std::move(slot), false);
  if (impl.shut.load()) return impl.end_lease(std::move(slot), true);  // the core closes it: no point restoring
  // The lease may have changed namespace, database, auth or variables (any method but the record
  // ones): the node then asks for a restore (reset, then the same steps a new connection runs)
  // before anyone else gets the connection.
  impl.end_lease(std::move(slot), true, conn->session_changes() != slot->session_changes_at_lease);
}

}  // namespace cortex::pool
