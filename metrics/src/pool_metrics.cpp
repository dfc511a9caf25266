#include "cortex/metrics/pool_metrics.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

namespace cortex::metrics {
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

MetricsSnapshot PoolMetrics::snapshot() const noexcept {
  MetricsSnapshot s;
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  auto g = [](const std::atomic<std::int64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.connections_created = r(connections_created);
  s.connections_reused = r(connections_reused);
  s.acquisitions = r(acquisitions);
  s.acquisition_timeouts = r(acquisition_timeouts);
  s.retries = r(retries);
  s.successes = r(successes);
  s.errors = r(errors);
  s.health_checks_passed = r(health_checks_passed);
  s.health_checks_failed = r(health_checks_failed);
  s.leaks_detected = r(leaks_detected);
  for (std::size_t i = 0; i < s.closed.size(); ++i) s.closed[i] = r(closed_[i]);
  s.size = g(size_);
  s.idle = g(idle_);
  s.in_use = g(in_use_);
  s.waiters = g(waiters_);
  s.peak_in_use = g(peak_in_use_);
  s.peak_waiters = g(peak_waiters_);
  s.acquire_wait = acquire_wait.summary();
  s.request_time = request_time.summary();
  return s;
}

std::string MetricsSnapshot::to_json() const {
  nlohmann::json closed_by;
  for (std::size_t i = 0; i < closed.size(); ++i) closed_by[to_string(static_cast<CloseReason>(i))] = closed[i];
  const nlohmann::json j = {
      {"connections_created", connections_created}, {"connections_reused", connections_reused},
      {"acquisitions", acquisitions}, {"acquisition_timeouts", acquisition_timeouts}, {"retries", retries},
      {"successes", successes}, {"errors", errors}, {"health_checks_passed", health_checks_passed},
      {"health_checks_failed", health_checks_failed}, {"leaks_detected", leaks_detected},
      {"connections_closed", closed_by}, {"size", size}, {"idle", idle}, {"in_use", in_use}, {"waiters", waiters},
      {"peak_in_use", peak_in_use}, {"peak_waiters", peak_waiters},
      {"acquire_wait", latency_json(acquire_wait)}, {"request_time", latency_json(request_time)}};
  return j.dump();
}

std::string MetricsSnapshot::to_prometheus(const std::string& prefix) const {
  std::ostringstream o;
  auto counter = [&](const char* name, std::uint64_t v) {
    o << "# TYPE " << prefix << "_" << name << "_total counter\n" << prefix << "_" << name << "_total " << v << "\n";
  };
  auto gauge = [&](const char* name, std::int64_t v) {
    o << "# TYPE " << prefix << "_" << name << " gauge\n" << prefix << "_" << name << " " << v << "\n";
  };
  counter("connections_created", connections_created);
  counter("connections_reused", connections_reused);
  counter("acquisitions", acquisitions);
  counter("acquisition_timeouts", acquisition_timeouts);
  counter("retries", retries);
  counter("successes", successes);
  counter("errors", errors);
  counter("health_checks_passed", health_checks_passed);
  counter("health_checks_failed", health_checks_failed);
  counter("leaks_detected", leaks_detected);
  o << "# TYPE " << prefix << "_connections_closed_total counter\n";
  for (std::size_t i = 0; i < closed.size(); ++i) {
    o << prefix << "_connections_closed_total{reason=\"" << to_string(static_cast<CloseReason>(i)) << "\"} " << closed[i] << "\n";
  }
  gauge("size", size);
  gauge("idle", idle);
  gauge("in_use", in_use);
  gauge("waiters", waiters);
  gauge("peak_in_use", peak_in_use);
  gauge("peak_waiters", peak_waiters);
  prom_latency(o, prefix + "_acquire_wait", acquire_wait);
  prom_latency(o, prefix + "_request_time", request_time);
  return o.str();
}

}  // namespace cortex::metrics
