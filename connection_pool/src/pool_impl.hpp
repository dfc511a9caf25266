#pragma once
// ConnectionPool::Impl: the I/O half of the pool — RpcConnections and Asio timers around PoolDriver
// (the core under its lock, the fast lane, gauges). Connect + setup, lease restore, validation and
// the reconnect backoff are here; maintenance is in pool_maintenance.cpp. All core state is under
// `mu`; effects (connects, closes, completions) run after it is released.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>

// After the standard headers: every translation unit must see the same allocator declarations
// when Asio picks its handler allocator.
#include <asio/steady_timer.hpp>

#include "coarse_clock.hpp"
#include "connection_setup.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/log.hpp"
#include "pool_driver.hpp"

namespace cortex::pool {

using Conn = std::shared_ptr<storage::RpcConnection>;
using Core = PoolCore<Conn>;
using Node = Core::Node;
using Clock = std::chrono::steady_clock;

struct ConnectionPool::Impl : PoolDriver<Conn, Clock, ConnectionPool::Impl> {
  Impl(asio::io_context& io_, ConnectionPoolParams p, std::shared_ptr<metrics::PoolMetrics> m)
      : PoolDriver(CoreLimits{p.config.min_connections, p.config.max_connections, p.config.idle_timeout, p.config.max_uses,
                              p.config.max_waiters},
                   std::move(m)),
        io(io_),
        params(std::move(p)),
        timer(io_),
        rng(std::random_device{}()),
        maintenance(io_) {
    endpoint = params.url;
    params.connect.on_request_done = detail::count_requests(metrics, std::move(params.connect.on_request_done));
  }

  asio::io_context& io;
  ConnectionPoolParams params;
  std::weak_ptr<ConnectionPool> self;

  // The pool user's token: setups and restores authenticate with it (run_setup learns it).
  std::shared_ptr<detail::TokenCache> tokens = std::make_shared<detail::TokenCache>();
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
      metrics->emit({metrics::PoolEventKind::closed, endpoint, {}, why, {}, {}});
      if (slot->conn) slot->conn->close();
    }
    for (std::size_t i = 0; i < fx.creates; ++i) start_create();
    for (auto& c : fx.completions) c();
    arm();
  }

  void start_create() {
    // The connect keeps its own timeout: a waiter whose deadline passes first gets pool_timeout,
    // and the connection, once up, serves the next caller instead of being thrown away.
    storage::RpcConnection::async_connect(io, params.url, params.connect, [weak = self](std::error_code ec, Conn conn) {
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
    auto plan = detail::setup_plan(params.defaults, tokens, params.schema);
    plan.metrics = metrics.get();
    plan.options.timeout = params.connect.connect_timeout;  // set-up is part of connecting
    detail::run_setup(conn, std::move(plan), [weak = self, wc = std::weak_ptr<storage::RpcConnection>(conn), node](std::error_code ec, const std::string& why) {
      auto pool = weak.lock();
      if (!pool) return;  // the pool is gone, and the connection with it
      auto& impl = *pool->impl_;
      Conn c = wc.lock();
      {
        std::lock_guard<std::mutex> lock(impl.mu);
        if (c) impl.setting_up.erase(c);
      }
      if (!c) return impl.finish_create(make_error_code(Errc::connection_lost), "connection gone during setup", nullptr, node);
      if (!ec && impl.params.on_connection_create) impl.params.on_connection_create(*c);
      impl.finish_create(ec, why, std::move(c), node);
    });
  }

  // A returned lease whose node asked for a restore: the pool owns the slot (`held`) while its
  // session state is put back, then the node decides (idle, or retired).
  void restore(Core::SlotPtr slot) {
    // reset, authenticate with the pool's token, use: no password signin per lease.
    auto plan = detail::setup_plan(params.defaults, tokens, {}, true);
    plan.metrics = metrics.get();
    std::weak_ptr<storage::RpcConnection> conn = slot->conn;
    const Core::Slot* raw = hold(std::move(slot));
    detail::run_setup(conn, std::move(plan), [weak = self, raw](std::error_code ec, const std::string&) {
      auto pool = weak.lock();
      if (!pool) return;
      auto& impl = *pool->impl_;
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
    metrics->emit({metrics::PoolEventKind::released, endpoint, {}, {}, {}, {}});
    if (give_back(slot, reusable, session_changed, coarse_now()) != NodeAction::restore) return;
    metrics->lease_restores.fetch_add(1);
    restore(std::move(slot));
  }

  void finish_create(std::error_code ec, const std::string& why, Conn conn, Node node) {
    if (params.on_connect_result) params.on_connect_result(ec, why);
    metrics->emit({ec ? metrics::PoolEventKind::connect_failed : metrics::PoolEventKind::created, endpoint, {}, {}, ec, why});
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
        conn->on_closed([weak = self, c = std::weak_ptr<storage::RpcConnection>(conn)](const std::string&) {
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

  // -- maintenance (pool_maintenance.cpp): health pings of idle connections, leak reports, and
  // draining the fast lane so that idle time and lifetime retire parked connections too --
  std::chrono::milliseconds maintenance_period() const;
  void arm_maintenance();
  void on_maintenance();

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

}  // namespace cortex::pool
