// The pool's maintenance pass, on its own timer: health pings of idle connections, leak reports
// for leases held past leak_threshold, and draining the fast lane back into the core so that idle
// time and lifetime retire parked connections too (the core's timer sees only its idle list).
#include "pool_impl.hpp"

namespace cortex::pool {


std::chrono::milliseconds ConnectionPool::Impl::maintenance_period() const {
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

void ConnectionPool::Impl::arm_maintenance() {
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

void ConnectionPool::Impl::on_maintenance() {
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
    metrics->emit({metrics::PoolEventKind::leak, endpoint, {}, {}, {}, msg});
    log(LogLevel::warning, msg);
  }
  storage::RequestOptions o;
  o.timeout = std::min(params.health_check_interval, std::chrono::milliseconds(5000));
  o.counted = false;  // counted as health checks, not as requests
  for (auto& c : to_ping) {
    c->async_call(storage::rpc::ping(), o, [m = metrics, wc = std::weak_ptr<storage::RpcConnection>(c)](std::error_code ec, storage::Value) {
      if (!ec) return void(m->health_checks_passed.fetch_add(1, std::memory_order_relaxed));
      m->health_checks_failed.fetch_add(1, std::memory_order_relaxed);
      if (auto dead = wc.lock()) dead->abort();  // on_closed evicts it and the pool tops up
    });
  }
  arm_maintenance();
}

}  // namespace cortex::pool
