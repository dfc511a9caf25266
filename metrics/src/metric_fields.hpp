#pragma once
// One table per kind of figure, so that a counter or gauge is named once and the snapshot, the JSON
// and the Prometheus text cannot drift apart. Internal to the metrics library.
#include <cstdint>

#include "cortex/metrics/pool_metrics.hpp"

namespace cortex::metrics::detail {

struct CounterField {
  const char* name;
  Counter PoolMetrics::*live;
  std::uint64_t MetricsSnapshot::*copy;
  const char* help;
};
inline const CounterField kCounters[] = {
    {"connections_created", &PoolMetrics::connections_created, &MetricsSnapshot::connections_created,
     "Connections opened and set up."},
    {"connections_reused", &PoolMetrics::connections_reused, &MetricsSnapshot::connections_reused,
     "Leases served by a connection used before."},
    {"acquisitions", &PoolMetrics::acquisitions, &MetricsSnapshot::acquisitions, "Leases handed out."},
    {"acquisition_timeouts", &PoolMetrics::acquisition_timeouts, &MetricsSnapshot::acquisition_timeouts,
     "Acquires that reached their deadline without a connection."},
    {"retries", &PoolMetrics::retries, &MetricsSnapshot::retries,
     "Attempts execute_with_retry ran again after a transient failure."},
    {"successes", &PoolMetrics::successes, &MetricsSnapshot::successes, "Requests that ended with a result."},
    {"errors", &PoolMetrics::errors, &MetricsSnapshot::errors,
     "Requests that ended with an error (server error, timeout, lost or refused connection)."},
    {"health_checks_passed", &PoolMetrics::health_checks_passed, &MetricsSnapshot::health_checks_passed,
     "Pings of idle or long-idle connections that were answered."},
    {"health_checks_failed", &PoolMetrics::health_checks_failed, &MetricsSnapshot::health_checks_failed,
     "Pings of idle or long-idle connections that failed (the connection was replaced)."},
    {"leaks_detected", &PoolMetrics::leaks_detected, &MetricsSnapshot::leaks_detected,
     "Leases held longer than leak_threshold."},
    {"lease_restores", &PoolMetrics::lease_restores, &MetricsSnapshot::lease_restores,
     "Returned leases whose session state had to be put back."},
    {"setup_requests", &PoolMetrics::setup_requests, &MetricsSnapshot::setup_requests,
     "Requests sent to set up or restore a session."},
    {"password_signins", &PoolMetrics::password_signins, &MetricsSnapshot::password_signins,
     "Password signins among the set-up requests (the rest authenticate with a token)."},
    {"breaker_transitions", &PoolMetrics::breaker_transitions, &MetricsSnapshot::breaker_transitions,
     "Circuit breaker state changes, all endpoints."},
    {"failovers", &PoolMetrics::failovers, &MetricsSnapshot::failovers,
     "Calls or acquires moved to another endpoint after a failure."},
    {"sync_shipped_changes", &PoolMetrics::sync_shipped_changes, &MetricsSnapshot::sync_shipped_changes,
     "Hybrid mode: changes shipped from the local cache to the remotes."},
    {"sync_pulled_changes", &PoolMetrics::sync_pulled_changes, &MetricsSnapshot::sync_pulled_changes,
     "Hybrid mode: changes copied from the remotes into the local cache."},
    {"operations_succeeded", &PoolMetrics::operations_succeeded, &MetricsSnapshot::operations_succeeded,
     "execute_with_retry operations that ended with a result."},
    {"operation_attempts_failed", &PoolMetrics::operation_attempts_failed, &MetricsSnapshot::operation_attempts_failed,
     "execute_with_retry attempts that failed (retried or not)."},
};

struct GaugeField {
  const char* name;
  std::int64_t MetricsSnapshot::*field;
  const char* help;
};
inline const GaugeField kGauges[] = {
    {"size", &MetricsSnapshot::size, "Pooled connections open."},
    {"idle", &MetricsSnapshot::idle, "Pooled connections idle."},
    {"in_use", &MetricsSnapshot::in_use, "Leases out."},
    {"waiters", &MetricsSnapshot::waiters, "Callers waiting for a lease."},
    {"peak_in_use", &MetricsSnapshot::peak_in_use, "Most leases out at once since start."},
    {"peak_waiters", &MetricsSnapshot::peak_waiters, "Most callers waiting at once since start."},
    {"sync_lag_ms", &MetricsSnapshot::sync_lag_ms, "Hybrid mode: since the last complete sync pass."},
};

}  // namespace cortex::metrics::detail
