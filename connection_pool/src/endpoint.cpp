#include "endpoint.hpp"

#include "cortex/storage/error.hpp"
#include "cortex/storage/log.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

Endpoint::Endpoint(const std::string& configured_url, const DatabaseConfig& config, std::shared_ptr<storage::IoRunner> io,
                   std::shared_ptr<metrics::PoolMetrics> metrics)
    : metrics_(std::move(metrics)), breaker_(config.circuit_breaker) {
  const auto ep = storage::parse_endpoint(configured_url);
  if (ep.is_local()) {
    storage::LocalServerOptions o = config.local_engine;
    if (config.credentials && config.credentials->ns.empty()) {
      o.user = config.credentials->user;  // the embedded engine defines this root user
      o.pass = config.credentials->pass;
    }
    local_ = storage::LocalServer::shared(ep, o);
    url_ = local_->url();
  } else {
    url_ = ep.to_string();  // ws(s):// or http(s):// — the transport follows the scheme
  }
  const SessionDefaults defaults{config.namespace_, config.database, config.credentials};
  ConnectionPoolParams p;
  p.url = url_;
  p.config = config.pool_config;
  p.defaults = defaults;
  p.schema = config.schema;
  p.health_check_interval = config.health_check_interval;
  p.validate_after_idle = config.validate_after_idle;
  p.leak_threshold = config.leak_threshold;
  p.keep_alive = io;
  p.on_connect_result = [note = last_failure_](std::error_code ec, const std::string& why) {
    if (ec) note->connect_failures.fetch_add(1, std::memory_order_relaxed);
    note->set(ec ? why : "");
  };
  pool_ = ConnectionPool::create(io->context(), p, metrics_);
  SharedPathParams sp;
  sp.url = url_;
  sp.connections = config.shared_connections;  // opened on first use
  sp.connect.connect_timeout = config.pool_config.connection_timeout;
  sp.defaults = defaults;
  sp.schema = config.schema;
  sp.reconnect = config.pool_config.retry_policy;
  sp.metrics = metrics_;
  sp.on_connect_result = p.on_connect_result;
  // A shared connection dropped by the server counts as a failure of the endpoint at once, even
  // with no call on it: a Hybrid cache that restarted must catch up before it serves (failures()).
  sp.on_connection_lost = [note = last_failure_](const std::string& why) {
    note->connections_lost.fetch_add(1, std::memory_order_relaxed);
    note->set("connection lost: " + why);  // unhealthy until a call or a connect succeeds
  };
  shared_ = SharedPath::create(io->context(), sp);
}

Endpoint::~Endpoint() {
  shared_->close();  // the pool lives on while leases hold it
}

std::string Endpoint::settle_locked(Clock::time_point now) {
  const auto state = breaker_.state(now);
  if (breaker_.transitions() == reported_transitions_) return {};
  metrics_->breaker_transitions.fetch_add(breaker_.transitions() - reported_transitions_);
  reported_transitions_ = breaker_.transitions();
  std::string change = std::string(to_string(reported_state_)) + " -> " + to_string(state);
  reported_state_ = state;
  return change;
}

void Endpoint::report(const std::string& change, std::error_code cause) {
  if (change.empty()) return;
  metrics_->emit({metrics::PoolEventKind::breaker_changed, url_, {}, {}, cause, change});
  log(change.find("-> Open") != std::string::npos ? LogLevel::warning : LogLevel::info,
      "circuit breaker of " + url_ + ": " + change + (cause ? " after " + cause.message() : ""));
}

EndpointView Endpoint::view(bool with_active, bool with_score) {
  EndpointView v;
  if (with_active) v.active = pool_->status().in_use + shared_->in_flight();
  const auto now = Clock::now();
  std::string change;
  {
    std::lock_guard<std::mutex> lock(mu_);
    v.available = breaker_.would_allow(now);
    if (with_score) {
      v.error_rate = score_.error_rate(now);
      v.latency_ms = score_.latency_ms(now);
    }
    change = settle_locked(now);
  }
  report(change);
  return v;
}

bool Endpoint::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  return breaker_.allow(Clock::now());
}

void Endpoint::unadmit() {
  std::lock_guard<std::mutex> lock(mu_);
  breaker_.release_probe();
}

void Endpoint::record(std::error_code ec, std::chrono::nanoseconds latency) {
  const bool failed = is_endpoint_failure(ec);
  // A request that outran its caller's deadline says the caller was in a hurry, not that the
  // endpoint is down: a dead socket shows as connection_lost (keepalive) and a dead server as a
  // connect failure. The breaker ignores it; the health score counts it as slowness.
  const bool late = ec == make_error_code(Errc::timeout);
  // No connection opened within the call's deadline: nothing reached the endpoint, so the breaker
  // neither opens nor closes on it (a half-open probe stays unanswered), but it is never a success:
  // health shows why until a call or a connect succeeds.
  const bool unreached = ec == make_error_code(Errc::pool_timeout);
  const auto now = Clock::now();
  std::string change;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    if (failed) {
      ++request_failures_;
      breaker_.on_failure(now);
      last_failure_->set(ec.message());
    } else if (late || unreached) {
      breaker_.release_probe();
      if (unreached) last_failure_->set("no connection opened within a call's deadline");
    } else {
      breaker_.on_success(now);
      if (last_failure_->has_text.load(std::memory_order_relaxed)) last_failure_->set({});
    }
    score_.record(!failed && !late && !unreached, latency, now);
    change = settle_locked(now);
  }
  report(change, failed ? ec : std::error_code{});
}

std::uint64_t Endpoint::failures() {
  return request_failures_.load(std::memory_order_relaxed) + last_failure_->connections_lost.load(std::memory_order_relaxed);
}

std::string Endpoint::last_failure() {
  std::lock_guard<std::mutex> lock(last_failure_->mu);
  return last_failure_->text;
}

metrics::EndpointStats Endpoint::stats() {
  const auto st = pool_->status();
  metrics::EndpointStats s;
  s.url = url_;
  BreakerState breaker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    breaker = breaker_.state(Clock::now());  // a lazy change is reported by the next settle
    s.requests = requests_;
    s.request_failures = request_failures_.load(std::memory_order_relaxed);
  }
  s.breaker_state = breaker == BreakerState::Closed ? "closed" : breaker == BreakerState::Open ? "open" : "half_open";
  s.connections = static_cast<std::int64_t>(st.size);
  s.idle = static_cast<std::int64_t>(st.idle);
  s.leases_in_use = static_cast<std::int64_t>(st.in_use);
  s.waiters = static_cast<std::int64_t>(st.waiters);
  s.shared_in_flight = static_cast<std::int64_t>(shared_->in_flight());
  s.connect_failures = last_failure_->connect_failures.load(std::memory_order_relaxed);
  // The present: a recovered endpoint is up again once a call or a connect succeeds.
  s.up = !st.closed && breaker != BreakerState::Open && last_failure().empty();
  return s;
}

BreakerState Endpoint::breaker_state() {
  std::string change;
  BreakerState s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    change = settle_locked(Clock::now());
    s = reported_state_;
  }
  report(change);
  return s;
}

}  // namespace cortex::pool
