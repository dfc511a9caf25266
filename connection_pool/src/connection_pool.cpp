// ConnectionPool and PooledConnection: the public API over ConnectionPool::Impl (pool_impl.hpp) —
// creation, acquire (fast lane, slow path, validation of long-idle connections), shutdown,
// status, and the lease's release.
#include "pool_impl.hpp"

#include "cortex/storage/block_on.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

using storage::RpcConnection;

// The I/O half of the pool; PoolDriver (the base) holds the core, the fast lane and the gauges.

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
  using Handler = std::function<void(std::error_code, PooledConnection)>;
  auto hand_over = [start, file, line](std::shared_ptr<ConnectionPool> pool, Core::SlotPtr slot, Since waited_from, const Handler& to) {
    pool->impl_->lend_out(*slot, start, file, line, waited_from);
    slot->session_changes_at_lease = slot->conn->session_changes();
    PooledConnection lease;
    lease.pool_ = std::move(pool);
    lease.conn_ = slot->conn;
    lease.slot_ = std::move(slot);
    to({}, std::move(lease));
  };
  // The one check before a connection reaches its caller, whichever way it came (the bag, the
  // core's idle list, or handed over by a release): dead or past its lifetime → closed and look
  // again within the same deadline; idle longer than `validate_after` (0 = never) → pinged first,
  // within what is left of the caller's deadline; else handed out.
  auto check_out = [hand_over, until, start, file, line](std::shared_ptr<ConnectionPool> pool, Core::SlotPtr slot, Clock::time_point now,
                                                          std::chrono::milliseconds validate_after, Since waited_from, Handler to) {
    auto& pi = *pool->impl_;
    switch (slot->node.check_out(slot->conn->is_open(), now, validate_after)) {
      case NodeAction::close:  // died while idle (its eviction has not run yet) or outlived its lifetime
        pi.settle(std::move(slot));
        return pool->acquire_until(until, std::move(to), file, line);  // look again, same deadline
      case NodeAction::hand_out:
        return hand_over(std::move(pool), std::move(slot), waited_from, to);
      default:
        break;  // validate
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      slot->node.unlend();  // unchecked, not dead: back to the pool as it was
      pi.settle(std::move(slot));
      pi.metrics->acquisition_timeouts.fetch_add(1, std::memory_order_relaxed);
      return to(make_error_code(Errc::pool_timeout), PooledConnection{});
    }
    storage::RequestOptions ping;
    ping.timeout = std::min(left, std::chrono::milliseconds(2000));
    ping.counted = false;  // the pool's own check, not a user's request
    auto conn = slot->conn;
    const Core::Slot* raw = pi.hold(std::move(slot));
    conn->async_call(storage::rpc::ping(), ping,
                     [weak = std::weak_ptr<ConnectionPool>(pool), raw, hand_over, handler = std::move(to), file, line, until,
                      waited_from = waited_from.value_or(start)](std::error_code ec, storage::Value) mutable {
                       auto alive = weak.lock();
                       if (!alive) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                       auto held = alive->impl_->unhold(raw);
                       if (!held) return handler(make_error_code(Errc::pool_closed), PooledConnection{});
                       if (held->node.validated(ec) == NodeAction::hand_out) {
                         return hand_over(std::move(alive), std::move(held), waited_from, handler);
                       }
                       alive->impl_->metrics->health_checks_failed.fetch_add(1, std::memory_order_relaxed);
                       alive->impl_->settle(std::move(held));  // dead: closed, replaced
                       alive->acquire_until(until, std::move(handler), file, line);  // and try again, same deadline
                     });
  };
  if (auto parked = impl.take_parked()) {
    return check_out(std::move(self), std::move(*parked), start, impl.params.validate_after_idle, std::nullopt, std::move(handler));
  }
  const auto waited_from = Clock::now();
  auto deliver = [self, waited_from, handler, check_out](std::error_code ec, Core::SlotPtr slot) {
    if (!ec) {
      // Handed over by a release or a drained fast lane: the same check, without the ping (it was
      // in use just now; its socket may have died meanwhile).
      return check_out(self, std::move(slot), coarse_now(), std::chrono::milliseconds(0), waited_from, handler);
    }
    self->impl_->metrics->acquire_wait.record(Clock::now() - waited_from);
    handler(ec, PooledConnection{});
  };
  if (auto idle = impl.take_or_wait(until, std::move(deliver))) {
    check_out(std::move(self), std::move(*idle), start, impl.params.validate_after_idle, waited_from, std::move(handler));
  }
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
  const bool changed = conn->session_changes() != slot->session_changes_at_lease;  // before `slot` moves
  impl.end_lease(std::move(slot), true, changed);
}

}  // namespace cortex::pool
