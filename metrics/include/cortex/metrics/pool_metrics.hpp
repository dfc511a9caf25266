#pragma once
// PoolMetrics: the counters, gauges and latency histograms a pool reports (seed 002's counters plus
// what operators need), all lock-free atomics safe to update from any thread. snapshot() copies
// them into a plain MetricsSnapshot, which renders as JSON or Prometheus text.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cortex/metrics/counter.hpp"
#include "cortex/metrics/latency_histogram.hpp"
#include "cortex/metrics/pool_events.hpp"

namespace cortex::metrics {

/// Why a connection was closed.
enum class CloseReason : std::size_t { idle = 0, lifetime, max_uses, broken, shutdown, count };
const char* to_string(CloseReason r) noexcept;

/// One agent's (tenant's) figures, for the agents section of a snapshot: a live session's, or the
/// summed figures of the agent's closed sessions (`closed`).
struct AgentStats {
  std::string name;
  std::uint64_t operations = 0, errors = 0;
  /// Of closed sessions: counts, sum, max and buckets (quantiles cannot be summed: left 0).
  LatencySummary latency;
  /// The figures of the agent's sessions that have closed, kept so that its counters never go down.
  bool closed = false;
};

/// One endpoint's figures (a manager's endpoints section).
struct EndpointStats {
  std::string url;                      ///< never with credentials
  bool up = false;                      ///< takes calls (as EndpointHealth::healthy)
  std::string breaker_state = "closed"; ///< closed, half_open or open
  std::int64_t connections = 0, idle = 0, leases_in_use = 0, waiters = 0, shared_in_flight = 0;
  std::uint64_t requests = 0;           ///< calls that reached its breaker's accounting
  std::uint64_t request_failures = 0;   ///< of those, failures of the endpoint (not server errors)
  std::uint64_t connect_failures = 0;   ///< connection attempts (set-up included) that failed
};

/// How to_prometheus renders.
struct PrometheusOptions {
  std::string prefix = "cortex_pool";  ///< every family is named `<prefix>_…`
  /// Per-agent series for the first `max_agents` agent ids of the snapshot (first seen first; at
  /// most PoolMetrics::kTrackedAgents); the rest are summed under agent="other", so the number of
  /// series stays bounded however many agents come and go. Who has a series never changes later:
  /// moving a busy agent out of "other" would make that counter go down.
  std::size_t max_agents = 20;
};

struct MetricsSnapshot {
  // Cumulative counters (only ever grow).
  std::uint64_t connections_created = 0, connections_reused = 0, acquisitions = 0, acquisition_timeouts = 0,
                retries = 0, successes = 0, errors = 0, health_checks_passed = 0, health_checks_failed = 0,
                leaks_detected = 0, lease_restores = 0, setup_requests = 0, password_signins = 0,
                breaker_transitions = 0, failovers = 0, sync_shipped_changes = 0, sync_pulled_changes = 0,
                operations_succeeded = 0, operation_attempts_failed = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(CloseReason::count)> closed{};
  // Gauges (go up and down) and their peaks.
  std::int64_t size = 0, idle = 0, in_use = 0, waiters = 0, peak_in_use = 0, peak_waiters = 0;
  std::int64_t sync_lag_ms = -1;  ///< Hybrid: since the last complete sync pass; -1 before one
  LatencySummary acquire_wait;
  /// Every request of the pools' and shared paths' connections (shared calls, sessions, leases,
  /// set-up), from send to its end; `successes`/`errors` count the same requests by outcome.
  LatencySummary request_time;
  /// Per live agent session, and per agent id the summed figures of its closed sessions, grouped
  /// by agent id in the order the ids were first seen (PoolMetrics::add_agent).
  std::vector<AgentStats> agents;
  std::vector<EndpointStats> endpoints;  ///< per endpoint (a manager's)

  /// JSON: every figure (latencies in µs; sync_lag_ms null before the first pass).
  std::string to_json() const;
  /// Prometheus text exposition (format 0.0.4) that `promtool check metrics` accepts: # HELP and
  /// # TYPE on every family, seconds as the unit, classic histograms (_bucket{le}, exact _sum and
  /// _count), per-endpoint series, per-agent series capped at options.max_agents (+ "other").
  std::string to_prometheus(const PrometheusOptions& options) const;
  std::string to_prometheus(const std::string& prefix = "cortex_pool") const;
};

class PoolMetrics {
 public:
  PoolMetrics();
  ~PoolMetrics();
  PoolMetrics(const PoolMetrics&) = delete;
  PoolMetrics& operator=(const PoolMetrics&) = delete;

  // Counters (striped: cheap to bump from many threads at once).
  /// successes/errors: requests by outcome (see MetricsSnapshot::request_time).
  Counter connections_created, connections_reused, acquisitions, acquisition_timeouts, retries, successes, errors,
      health_checks_passed, health_checks_failed, leaks_detected,
      lease_restores,       ///< leases whose session state had to be put back (reset + defaults)
      setup_requests,       ///< RPCs sent to set up or restore a session (new connection, lease, agent)
      password_signins,     ///< of those, password signins (the rest authenticate with a token)
      breaker_transitions,  ///< circuit breaker state changes, every endpoint
      failovers,            ///< calls or acquires moved to another endpoint after a failure
      sync_shipped_changes, ///< Hybrid: changes shipped from the local cache to the remotes
      sync_pulled_changes,  ///< Hybrid: changes copied from the remotes into the local cache
      /// execute_with_retry's operations, counted where it ends each attempt whatever the attempt
      /// did (its requests count in successes/errors where they end; a closure may make none or
      /// several): operations that ended with a result, and attempts that failed (retried or not).
      operations_succeeded, operation_attempts_failed;
  void closed(CloseReason r) noexcept { closed_[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed); }

  // Gauges: add(+1/−1); peaks follow in_use and waiters.
  void add_size(std::int64_t d) noexcept { size_.fetch_add(d, std::memory_order_relaxed); }
  void add_idle(std::int64_t d) noexcept { idle_.fetch_add(d, std::memory_order_relaxed); }
  void add_in_use(std::int64_t d) noexcept { raise_peak(peak_in_use_, in_use_.fetch_add(d, std::memory_order_relaxed) + d); }
  void add_waiters(std::int64_t d) noexcept { raise_peak(peak_waiters_, waiters_.fetch_add(d, std::memory_order_relaxed) + d); }

  /// Sets all four gauges at once from the pool's own counts (raising the peaks).
  void set_gauges(std::int64_t size, std::int64_t idle, std::int64_t in_use, std::int64_t waiters) noexcept {
    store_gauges({size, idle, in_use, waiters});
  }

  LatencyHistogram acquire_wait, request_time;
  /// An acquisition served at once from the pool's fast lane, of a connection used before: one
  /// striped increment that snapshot() counts as an acquisition, a reuse and a zero wait.
  void fast_acquisition() noexcept { acquire_wait.record_immediate(); }

  /// The live counts. Pools push gauge changes as deltas (so pools sharing one PoolMetrics add up,
  /// and peaks follow the sum), but their fast lanes do not push: whoever owns the metrics installs
  /// a source that snapshot() reports current gauges from (and raises the peaks with); nullptr
  /// removes it.
  struct Gauges {
    std::int64_t size, idle, in_use, waiters;
  };
  void set_gauge_source(std::function<Gauges()> source);

  /// Agent ids whose closed sessions' figures are kept by id; those of agent ids first seen after
  /// them are kept summed as "other" (agents that come and go take bounded memory).
  static constexpr std::size_t kTrackedAgents = 1000;
  /// The agents section. An agent session registers its live figures under its agent id; `live`
  /// runs under a lock of these metrics, as the sources below (it must not call snapshot() or emit
  /// events). remove_agent runs it a last time and keeps what it returns, summed with the agent's
  /// other closed sessions, in every later snapshot: an agent's counters never go down when its
  /// sessions close. Returns the token for remove_agent.
  std::uint64_t add_agent(const std::string& agent_id, std::function<AgentStats()> live);
  void remove_agent(std::uint64_t token);
  /// The endpoints section's source (a manager installs it); nullptr removes it. Sources run under
  /// a lock of these metrics: they must not call snapshot() or emit events.
  void set_endpoints_source(std::function<std::vector<EndpointStats>()> source);

  /// The event hook (pool_events.hpp); nullptr removes it. Pools, endpoints and the manager
  /// sharing these metrics all report to it.
  void set_event_handler(PoolEventHandler handler);
  /// Reports an event to the handler, if one is installed (else one relaxed atomic load).
  void emit(const PoolEvent& e) const {
    if (has_handler_.load(std::memory_order_relaxed)) deliver(e);
  }

  /// Hybrid mode: a sync pass completed now (snapshot() reports the time since as sync_lag_ms).
  void sync_completed() noexcept;

  MetricsSnapshot snapshot() const noexcept;

 private:
  void store_gauges(const Gauges& g) const noexcept;
  void deliver(const PoolEvent& e) const;
  static void raise_peak(std::atomic<std::int64_t>& peak, std::int64_t now) noexcept {
    auto seen = peak.load(std::memory_order_relaxed);
    while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(CloseReason::count)> closed_{};
  mutable std::atomic<std::int64_t> size_{0}, idle_{0}, in_use_{0}, waiters_{0}, peak_in_use_{0}, peak_waiters_{0};
  mutable std::mutex source_mu_;
  std::function<Gauges()> source_;
  struct Agents;
  std::unique_ptr<Agents> agents_;  // under source_mu_
  std::function<std::vector<EndpointStats>()> endpoints_source_;
  std::atomic<std::int64_t> last_sync_ns_{-1};  // steady_clock, ns since its epoch
  std::atomic<bool> has_handler_{false};
  mutable std::mutex handler_mu_;
  std::shared_ptr<const PoolEventHandler> handler_;  // copied out under the lock, called outside it
};

}  // namespace cortex::metrics
