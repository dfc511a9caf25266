#pragma once
// Pool events: what a pool, a manager and their endpoints do, as they happen — for logs, traces and
// audits (as purreal's and HikariCP's hooks). Install one handler on a PoolMetrics
// (DatabaseConfig::on_event for a manager). It runs on the thread where the event happened, never
// under a pool's lock: keep it short and never block in it. Exceptions it throws are dropped.
// Without a handler an event costs one relaxed atomic load.
#include <chrono>
#include <functional>
#include <string_view>
#include <system_error>

namespace cortex::metrics {

enum class CloseReason : std::size_t;

enum class PoolEventKind {
  acquired,         ///< a lease was handed out (`waited`: how long its caller waited)
  released,         ///< a lease came back
  created,          ///< a connection opened and was set up
  connect_failed,   ///< opening or setting up a connection failed (`error`, `detail`)
  closed,           ///< a connection closed (`reason`)
  breaker_changed,  ///< an endpoint's circuit breaker changed state (`detail`: "Closed -> Open")
  failover,         ///< work moved to another endpoint after this one failed (`error`, `detail`)
  retry,            ///< execute_with_retry runs its function again after `error`
  leak,             ///< a lease was held past leak_threshold (`detail`: where it was acquired)
};
const char* to_string(PoolEventKind k) noexcept;

/// One event. The views are valid during the handler's call only: copy what you keep.
struct PoolEvent {
  PoolEventKind kind = PoolEventKind::acquired;
  std::string_view endpoint;           ///< the endpoint's URL (never with credentials); empty for retry
  std::chrono::nanoseconds waited{0};  ///< acquired: the caller's wait (0 from the fast lane)
  CloseReason reason{};                ///< closed: why
  std::error_code error;               ///< connect_failed, failover, retry: the failure; breaker_changed: the cause
  std::string_view detail;             ///< a human-readable account (see the kinds)
};

using PoolEventHandler = std::function<void(const PoolEvent&)>;

}  // namespace cortex::metrics
