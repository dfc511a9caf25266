#include "cortex/metrics/pool_metrics.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace cortex::metrics {
const char* to_string(PoolEventKind k) noexcept {
  switch (k) {
    case PoolEventKind::acquired: return "acquired";
    case PoolEventKind::released: return "released";
    case PoolEventKind::created: return "created";
    case PoolEventKind::connect_failed: return "connect_failed";
    case PoolEventKind::closed: return "closed";
    case PoolEventKind::breaker_changed: return "breaker_changed";
    case PoolEventKind::failover: return "failover";
    case PoolEventKind::retry: return "retry";
    case PoolEventKind::leak: return "leak";
  }
  return "unknown";
}

void PoolMetrics::set_event_handler(PoolEventHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mu_);
  handler_ = handler ? std::make_shared<const PoolEventHandler>(std::move(handler)) : nullptr;
  has_handler_.store(handler_ != nullptr, std::memory_order_relaxed);
}

void PoolMetrics::deliver(const PoolEvent& e) const {
  std::shared_ptr<const PoolEventHandler> h;
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    h = handler_;
  }
  if (!h) return;
  try {
    (*h)(e);
  } catch (...) {  // a hook must not break the pool that reports to it
  }
}

namespace {

nlohmann::json latency_json(const LatencySummary& s) {
  auto us = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  return {{"count", s.count}, {"p50_us", us(s.p50)}, {"p95_us", us(s.p95)}, {"p99_us", us(s.p99)},
          {"max_us", us(s.max)}, {"mean_us", us(s.mean)}};
}

void prom_latency(std::ostringstream& o, const std::string& name, const LatencySummary& s) {
  o << "# TYPE " << name << "_seconds summary\n";
  for (const auto& [q, v] : {std::pair<const char*, std::chrono::nanoseconds>{"0.5", s.p50}, {"0.95", s.p95}, {"0.99", s.p99}}) {
    o << name << "_seconds{quantile=\"" << q << "\"} " << static_cast<double>(v.count()) / 1e9 << "\n";
  }
  o << name << "_seconds_sum " << static_cast<double>(s.mean.count()) * static_cast<double>(s.count) / 1e9 << "\n";
  o << name << "_seconds_count " << s.count << "\n";
}

}  // namespace

const char* to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::idle: return "idle";
    case CloseReason::lifetime: return "lifetime";
    case CloseReason::max_uses: return "max_uses";
    case CloseReason::broken: return "broken";
    case CloseReason::shutdown: return "shutdown";
    case CloseReason::count: break;
  }
  return "unknown";
}

namespace {

// One table per kind, so a counter or gauge is named once and snapshot, JSON and Prometheus
// cannot drift apart.
struct CounterField {
  const char* name;
  Counter PoolMetrics::*live;
  std::uint64_t MetricsSnapshot::*copy;
};
const CounterField kCounters[] = {
    {"connections_created", &PoolMetrics::connections_created, &MetricsSnapshot::connections_created},
    {"connections_reused", &PoolMetrics::connections_reused, &MetricsSnapshot::connections_reused},
    {"acquisitions", &PoolMetrics::acquisitions, &MetricsSnapshot::acquisitions},
    {"acquisition_timeouts", &PoolMetrics::acquisition_timeouts, &MetricsSnapshot::acquisition_timeouts},
    {"retries", &PoolMetrics::retries, &MetricsSnapshot::retries},
    {"successes", &PoolMetrics::successes, &MetricsSnapshot::successes},
    {"errors", &PoolMetrics::errors, &MetricsSnapshot::errors},
    {"health_checks_passed", &PoolMetrics::health_checks_passed, &MetricsSnapshot::health_checks_passed},
    {"health_checks_failed", &PoolMetrics::health_checks_failed, &MetricsSnapshot::health_checks_failed},
    {"leaks_detected", &PoolMetrics::leaks_detected, &MetricsSnapshot::leaks_detected},
    {"lease_restores", &PoolMetrics::lease_restores, &MetricsSnapshot::lease_restores},
    {"setup_requests", &PoolMetrics::setup_requests, &MetricsSnapshot::setup_requests},
    {"password_signins", &PoolMetrics::password_signins, &MetricsSnapshot::password_signins},
    {"breaker_transitions", &PoolMetrics::breaker_transitions, &MetricsSnapshot::breaker_transitions},
    {"failovers", &PoolMetrics::failovers, &MetricsSnapshot::failovers},
    {"sync_shipped_changes", &PoolMetrics::sync_shipped_changes, &MetricsSnapshot::sync_shipped_changes},
};
const std::pair<const char*, std::int64_t MetricsSnapshot::*> kGauges[] = {
    {"size", &MetricsSnapshot::size},           {"idle", &MetricsSnapshot::idle},
    {"in_use", &MetricsSnapshot::in_use},       {"waiters", &MetricsSnapshot::waiters},
    {"peak_in_use", &MetricsSnapshot::peak_in_use}, {"peak_waiters", &MetricsSnapshot::peak_waiters},
    {"sync_lag_ms", &MetricsSnapshot::sync_lag_ms},
};

}  // namespace

void PoolMetrics::store_gauges(const Gauges& g) const noexcept {
  size_.store(g.size, std::memory_order_relaxed);
  idle_.store(g.idle, std::memory_order_relaxed);
  in_use_.store(g.in_use, std::memory_order_relaxed);
  waiters_.store(g.waiters, std::memory_order_relaxed);
  raise_peak(peak_in_use_, g.in_use);
  raise_peak(peak_waiters_, g.waiters);
}

void PoolMetrics::sync_completed() noexcept {
  last_sync_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void PoolMetrics::set_agents_source(std::function<std::vector<AgentStats>()> source) {
  std::lock_guard<std::mutex> lock(source_mu_);
  agents_source_ = std::move(source);
}

void PoolMetrics::set_gauge_source(std::function<Gauges()> source) {
  std::lock_guard<std::mutex> lock(source_mu_);
  source_ = std::move(source);
}

MetricsSnapshot PoolMetrics::snapshot() const noexcept {
  std::optional<Gauges> live;
  std::vector<AgentStats> agents;
  {
    std::lock_guard<std::mutex> lock(source_mu_);
    if (source_) live = source_();
    if (agents_source_) agents = agents_source_();
  }
  if (live) {  // the pushed values stay as they are (pools add deltas to them); peaks see both
    raise_peak(peak_in_use_, live->in_use);
    raise_peak(peak_waiters_, live->waiters);
  }
  MetricsSnapshot s;
  for (const auto& c : kCounters) s.*c.copy = (this->*c.live).load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.closed.size(); ++i) s.closed[i] = closed_[i].load(std::memory_order_relaxed);
  auto g = [](const std::atomic<std::int64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.size = g(size_);
  s.idle = g(idle_);
  s.in_use = g(in_use_);
  s.waiters = g(waiters_);
  s.peak_in_use = g(peak_in_use_);
  s.peak_waiters = g(peak_waiters_);
  if (const auto last = g(last_sync_ns_); last >= 0) {
    s.sync_lag_ms = (std::chrono::steady_clock::now().time_since_epoch().count() - last) / 1000000;
  }
  if (live) {
    s.size = live->size;
    s.idle = live->idle;
    s.in_use = live->in_use;
    s.waiters = live->waiters;
  }
  const std::uint64_t fast = acquire_wait.immediate_count();  // see fast_acquisition()
  s.acquisitions += fast;
  s.connections_reused += fast;
  s.agents = std::move(agents);
  s.acquire_wait = acquire_wait.summary();
  s.request_time = request_time.summary();
  return s;
}

std::string MetricsSnapshot::to_json() const {
  nlohmann::json j;
  for (const auto& c : kCounters) j[c.name] = this->*c.copy;
  nlohmann::json closed_by;
  for (std::size_t i = 0; i < closed.size(); ++i) closed_by[to_string(static_cast<CloseReason>(i))] = closed[i];
  j["connections_closed"] = closed_by;
  for (const auto& [name, field] : kGauges) j[name] = this->*field;
  nlohmann::json per_agent = nlohmann::json::array();
  for (const auto& a : agents) {
    per_agent.push_back({{"agent", a.name}, {"operations", a.operations}, {"errors", a.errors}, {"latency", latency_json(a.latency)}});
  }
  j["agents"] = per_agent;
  j["acquire_wait"] = latency_json(acquire_wait);
  j["request_time"] = latency_json(request_time);
  return j.dump();
}

std::string MetricsSnapshot::to_prometheus(const std::string& prefix) const {
  std::ostringstream o;
  for (const auto& c : kCounters) {
    o << "# TYPE " << prefix << "_" << c.name << "_total counter\n"
      << prefix << "_" << c.name << "_total " << this->*c.copy << "\n";
  }
  o << "# TYPE " << prefix << "_connections_closed_total counter\n";
  for (std::size_t i = 0; i < closed.size(); ++i) {
    o << prefix << "_connections_closed_total{reason=\"" << to_string(static_cast<CloseReason>(i)) << "\"} " << closed[i] << "\n";
  }
  for (const auto& [name, field] : kGauges) {
    o << "# TYPE " << prefix << "_" << name << " gauge\n" << prefix << "_" << name << " " << this->*field << "\n";
  }
  if (!agents.empty()) {
    // Agent names are label values: quote-escaped as Prometheus requires.
    auto label = [](const std::string& v) {
      std::string out;
      for (char ch : v) {
        if (ch == '\\' || ch == '"') out += '\\';
        if (ch == '\n') { out += "\\n"; continue; }
        out += ch;
      }
      return out;
    };
    o << "# TYPE " << prefix << "_agent_operations_total counter\n";
    for (const auto& a : agents) o << prefix << "_agent_operations_total{agent=\"" << label(a.name) << "\"} " << a.operations << "\n";
    o << "# TYPE " << prefix << "_agent_errors_total counter\n";
    for (const auto& a : agents) o << prefix << "_agent_errors_total{agent=\"" << label(a.name) << "\"} " << a.errors << "\n";
    o << "# TYPE " << prefix << "_agent_latency_seconds gauge\n";
    for (const auto& a : agents) {
      for (const auto& [q, v] : {std::pair<const char*, std::chrono::nanoseconds>{"0.5", a.latency.p50}, {"0.99", a.latency.p99}}) {
        o << prefix << "_agent_latency_seconds{agent=\"" << label(a.name) << "\",quantile=\"" << q << "\"} "
          << static_cast<double>(v.count()) / 1e9 << "\n";
      }
    }
  }
  prom_latency(o, prefix + "_acquire_wait", acquire_wait);
  prom_latency(o, prefix + "_request_time", request_time);
  return o.str();
}

}  // namespace cortex::metrics
