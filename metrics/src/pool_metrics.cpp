#include "cortex/metrics/pool_metrics.hpp"

#include <nlohmann/json.hpp>
#include <map>
#include <optional>

#include "metric_fields.hpp"

namespace cortex::metrics {
using detail::kCounters;
using detail::kGauges;

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
          {"max_us", us(s.max)}, {"mean_us", us(s.mean)}, {"sum_us", us(s.sum)}};
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

// The agents section's bookkeeping. A closed session's figures stay (summed by agent id), and the
// order agent ids were first seen never changes, so that a rendering which gives the first ids
// their own series and sums the rest keeps every series' counters from going down.
struct PoolMetrics::Agents {
  static constexpr std::size_t kBeyond = SIZE_MAX;  // an agent id first seen after kTrackedAgents
  struct Id {
    std::string name;
    AgentStats closed;  // its closed sessions, summed (closed.closed: there are some)
  };
  struct Live {
    std::size_t id;  // in `ids`, or kBeyond
    std::string name;
    std::function<AgentStats()> figures;
  };
  std::vector<Id> ids;  // first seen first
  std::map<std::string, std::size_t> index;
  std::map<std::uint64_t, Live> live;  // by token
  AgentStats closed_beyond;            // the closed sessions of agent ids beyond kTrackedAgents
  std::uint64_t next_token = 1;

  static void add_to(AgentStats& into, const AgentStats& from) {
    into.operations += from.operations;
    into.errors += from.errors;
    into.latency.merge_counts(from.latency);
    into.closed = true;
  }

  // Grouped by agent id in first-seen order (closed figures, then live sessions); ids beyond the
  // tracked ones last, and their closed sessions' sum as "other" at the very end.
  std::vector<AgentStats> figures() const {
    std::vector<std::vector<const Live*>> by_id(ids.size());
    std::vector<const Live*> beyond;
    for (const auto& [token, l] : live) (l.id == kBeyond ? beyond : by_id[l.id]).push_back(&l);
    std::vector<AgentStats> out;
    out.reserve(ids.size() + live.size() + 1);
    auto add_live = [&out](const Live& l) {
      out.push_back(l.figures());
      out.back().name = l.name;
      out.back().closed = false;
    };
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].closed.closed) out.push_back(ids[i].closed);
      for (const Live* l : by_id[i]) add_live(*l);
    }
    for (const Live* l : beyond) add_live(*l);
    if (closed_beyond.closed) out.push_back(closed_beyond);
    return out;
  }
};

PoolMetrics::PoolMetrics() : agents_(std::make_unique<Agents>()) { agents_->closed_beyond.name = "other"; }
PoolMetrics::~PoolMetrics() = default;

std::uint64_t PoolMetrics::add_agent(const std::string& agent_id, std::function<AgentStats()> live) {
  std::lock_guard<std::mutex> lock(source_mu_);
  auto& a = *agents_;
  std::size_t id = Agents::kBeyond;
  if (const auto it = a.index.find(agent_id); it != a.index.end()) {
    id = it->second;
  } else if (a.ids.size() < kTrackedAgents) {
    id = a.ids.size();
    a.index.emplace(agent_id, id);
    a.ids.push_back({agent_id, {}});
    a.ids.back().closed.name = agent_id;
  }
  const std::uint64_t token = a.next_token++;
  a.live.emplace(token, Agents::Live{id, agent_id, std::move(live)});
  return token;
}

void PoolMetrics::remove_agent(std::uint64_t token) {
  std::lock_guard<std::mutex> lock(source_mu_);
  auto& a = *agents_;
  const auto it = a.live.find(token);
  if (it == a.live.end()) return;
  const AgentStats last = it->second.figures();  // under the same lock a snapshot reads: seen once, always
  Agents::add_to(it->second.id == Agents::kBeyond ? a.closed_beyond : a.ids[it->second.id].closed, last);
  a.live.erase(it);
}

void PoolMetrics::set_endpoints_source(std::function<std::vector<EndpointStats>()> source) {
  std::lock_guard<std::mutex> lock(source_mu_);
  endpoints_source_ = std::move(source);
}

void PoolMetrics::set_gauge_source(std::function<Gauges()> source) {
  std::lock_guard<std::mutex> lock(source_mu_);
  source_ = std::move(source);
}

MetricsSnapshot PoolMetrics::snapshot() const noexcept {
  std::optional<Gauges> live;
  std::vector<AgentStats> agents;
  std::vector<EndpointStats> endpoints;
  {
    std::lock_guard<std::mutex> lock(source_mu_);
    if (source_) live = source_();
    agents = agents_->figures();
    if (endpoints_source_) endpoints = endpoints_source_();
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
  s.endpoints = std::move(endpoints);
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
  for (const auto& g : kGauges) j[g.name] = this->*g.field;
  if (sync_lag_ms < 0) j["sync_lag_ms"] = nullptr;  // no pass yet
  nlohmann::json per_endpoint = nlohmann::json::array();
  for (const auto& e : endpoints) {
    per_endpoint.push_back({{"url", e.url}, {"up", e.up}, {"breaker_state", e.breaker_state},
                            {"connections", e.connections}, {"idle", e.idle}, {"leases_in_use", e.leases_in_use},
                            {"waiters", e.waiters}, {"shared_in_flight", e.shared_in_flight}, {"requests", e.requests},
                            {"request_failures", e.request_failures}, {"connect_failures", e.connect_failures}});
  }
  j["endpoints"] = per_endpoint;
  nlohmann::json per_agent = nlohmann::json::array();
  for (const auto& a : agents) {
    per_agent.push_back({{"agent", a.name}, {"closed", a.closed}, {"operations", a.operations}, {"errors", a.errors},
                         {"latency", latency_json(a.latency)}});
  }
  j["agents"] = per_agent;
  j["acquire_wait"] = latency_json(acquire_wait);
  j["request_time"] = latency_json(request_time);
  // Agent ids and URLs come from callers and need not be UTF-8: replaced (U+FFFD), so that the
  // output is always valid JSON instead of a throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace cortex::metrics
