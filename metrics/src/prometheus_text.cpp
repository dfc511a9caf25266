// MetricsSnapshot::to_prometheus: the text exposition format (0.0.4), written to pass
// `promtool check metrics`: every family has # HELP and # TYPE, durations are in seconds, latencies
// are classic histograms built from the log-linear buckets (exact counts, exact _sum), and label
// sets stay bounded (endpoints are few; agents are capped, the rest summed under agent="other"),
// while no counter ever goes down from one scrape to the next (a scraper reads that as a reset).
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "metric_fields.hpp"

namespace cortex::metrics {
namespace {

/// Exact decimal seconds of a nanosecond count ("0.000010239", "3", "12.5"): no float rounding.
std::string seconds_text(std::int64_t ns) {
  if (ns < 0) ns = 0;
  std::string frac = std::to_string(ns % 1000000000);
  frac.insert(0, 9 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return std::to_string(ns / 1000000000) + (frac.empty() ? "" : "." + frac);
}

/// A label value, escaped as the format requires (backslash, double quote, newline).
std::string label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

class Writer {
 public:
  explicit Writer(std::string prefix) : prefix_(std::move(prefix)) {}

  /// # HELP and # TYPE of one family (each family exactly once, before its samples).
  void family(const std::string& name, const char* type, const char* help) {
    o_ << "# HELP " << prefix_ << '_' << name << ' ' << help << "\n# TYPE " << prefix_ << '_' << name << ' ' << type << '\n';
  }
  /// One sample; `labels` is "" or `a="x",b="y"` (already escaped).
  template <class V>
  void sample(const std::string& name, const std::string& labels, const V& value) {
    o_ << prefix_ << '_' << name;
    if (!labels.empty()) o_ << '{' << labels << '}';
    o_ << ' ' << value << '\n';
  }
  /// The samples of one histogram series: cumulative buckets, +Inf, exact sum, count.
  void histogram(const std::string& name, const std::string& labels, const LatencySummary& s) {
    const std::string sep = labels.empty() ? "" : labels + ",";
    for (std::size_t i = 0; i < kClassicBuckets; ++i) {
      sample(name + "_bucket", sep + "le=\"" + seconds_text(LatencyHistogram::classic_bound(i).count()) + "\"", s.le[i]);
    }
    sample(name + "_bucket", sep + "le=\"+Inf\"", s.count);
    sample(name + "_sum", labels, seconds_text(s.sum.count()));
    sample(name + "_count", labels, s.count);
  }
  std::string str() const { return o_.str(); }

 private:
  std::string prefix_;
  std::ostringstream o_;
};

/// Adds `from`'s operations, errors and latency counts to `into`.
void add_to(AgentStats& into, const AgentStats& from) {
  into.operations += from.operations;
  into.errors += from.errors;
  into.latency.merge_counts(from.latency);
}

/// Agents by name (sessions of one agent id add up, closed ones included), the first `cap` names
/// in the snapshot's order kept, the rest summed under "other" (merged into an agent of that name
/// if there is one). Not the busiest: PoolMetrics lists agent ids in the order first seen, which
/// never changes, so an agent never moves out of "other" (which would make "other" go down) and a
/// series, once given, stays.
std::vector<AgentStats> capped_agents(const std::vector<AgentStats>& agents, std::size_t cap) {
  std::vector<AgentStats> out;
  std::map<std::string, std::size_t> at;  // name → its place in out
  for (const auto& a : agents) {
    const auto [it, first] = at.emplace(a.name, out.size());
    if (first) {
      out.emplace_back();
      out.back().name = a.name;
    }
    add_to(out[it->second], a);
  }
  if (out.size() <= cap) return out;
  AgentStats rest;
  rest.name = "other";
  for (std::size_t i = cap; i < out.size(); ++i) add_to(rest, out[i]);
  out.resize(cap);
  auto named_other = std::find_if(out.begin(), out.end(), [](const AgentStats& a) { return a.name == "other"; });
  if (named_other == out.end()) {
    out.push_back(std::move(rest));
  } else {
    add_to(*named_other, rest);
  }
  return out;
}

}  // namespace

std::string MetricsSnapshot::to_prometheus(const std::string& prefix) const {
  PrometheusOptions o;
  o.prefix = prefix;
  return to_prometheus(o);
}

std::string MetricsSnapshot::to_prometheus(const PrometheusOptions& options) const {
  Writer w(options.prefix);
  for (const auto& c : detail::kCounters) {
    const std::string name = std::string(c.name) + "_total";
    w.family(name, "counter", c.help);
    w.sample(name, "", this->*c.copy);
  }
  w.family("connections_closed_total", "counter", "Connections closed, by reason.");
  for (std::size_t i = 0; i < closed.size(); ++i) {
    w.sample("connections_closed_total", std::string("reason=\"") + to_string(static_cast<CloseReason>(i)) + "\"", closed[i]);
  }
  for (const auto& g : detail::kGauges) {
    if (g.field == &MetricsSnapshot::sync_lag_ms) continue;  // in seconds, below
    w.family(g.name, "gauge", g.help);
    w.sample(g.name, "", this->*g.field);
  }
  if (sync_lag_ms >= 0) {  // absent before the first pass (no "-1 = never")
    w.family("sync_lag_seconds", "gauge", "Hybrid mode: seconds since the last complete sync pass.");
    w.sample("sync_lag_seconds", "", seconds_text(sync_lag_ms * 1000000));
  }
  w.family("acquire_wait_seconds", "histogram", "How long acquires waited for a lease.");
  w.histogram("acquire_wait_seconds", "", acquire_wait);
  w.family("request_time_seconds", "histogram",
           "Requests from send to their end (shared calls, sessions, leases, set-up).");
  w.histogram("request_time_seconds", "", request_time);

  if (!endpoints.empty()) {
    auto each = [&](const std::string& name, const char* type, const char* help, auto value) {
      w.family(name, type, help);
      for (const auto& e : endpoints) w.sample(name, "endpoint=\"" + label_value(e.url) + "\"", value(e));
    };
    each("endpoint_up", "gauge", "1 while the endpoint takes calls.", [](const EndpointStats& e) { return e.up ? 1 : 0; });
    w.family("endpoint_breaker_state", "gauge", "The endpoint's circuit breaker: 1 for its present state.");
    for (const auto& e : endpoints) {
      for (const char* st : {"closed", "half_open", "open"}) {
        w.sample("endpoint_breaker_state", "endpoint=\"" + label_value(e.url) + "\",state=\"" + st + "\"",
                 e.breaker_state == st ? 1 : 0);
      }
    }
    each("endpoint_connections", "gauge", "Pooled connections open.", [](const EndpointStats& e) { return e.connections; });
    each("endpoint_idle_connections", "gauge", "Pooled connections idle.", [](const EndpointStats& e) { return e.idle; });
    each("endpoint_leases_in_use", "gauge", "Leases out.", [](const EndpointStats& e) { return e.leases_in_use; });
    each("endpoint_waiters", "gauge", "Callers waiting for a lease.", [](const EndpointStats& e) { return e.waiters; });
    each("endpoint_shared_in_flight", "gauge", "Shared-path and session requests in flight.",
         [](const EndpointStats& e) { return e.shared_in_flight; });
    each("endpoint_requests_total", "counter", "Calls through the endpoint's breaker accounting.",
         [](const EndpointStats& e) { return e.requests; });
    each("endpoint_request_failures_total", "counter", "Of those, failures of the endpoint (server errors excluded).",
         [](const EndpointStats& e) { return e.request_failures; });
    each("endpoint_connect_failures_total", "counter", "Connection attempts (set-up included) that failed.",
         [](const EndpointStats& e) { return e.connect_failures; });
  }

  if (!agents.empty()) {
    // Beyond PoolMetrics' tracked ids an agent's closed sessions are summed as "other": none of
    // them may have a series of its own, which would vanish (and restart lower) when they close.
    const auto top = capped_agents(agents, std::min(options.max_agents, PoolMetrics::kTrackedAgents));
    auto agent_label = [](const AgentStats& a) { return "agent=\"" + label_value(a.name) + "\""; };
    w.family("agent_operations_total", "counter", "Operations of the agent's sessions, closed ones included (the first agents seen; the rest as \"other\").");
    for (const auto& a : top) w.sample("agent_operations_total", agent_label(a), a.operations);
    w.family("agent_errors_total", "counter", "Failed operations of the agent's sessions.");
    for (const auto& a : top) w.sample("agent_errors_total", agent_label(a), a.errors);
    w.family("agent_operation_seconds", "histogram", "How long the agent's operations took.");
    for (const auto& a : top) w.histogram("agent_operation_seconds", agent_label(a), a.latency);
  }
  return w.str();
}

}  // namespace cortex::metrics
