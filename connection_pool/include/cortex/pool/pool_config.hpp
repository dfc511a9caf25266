#pragma once
// Pool and retry configuration, with seed 002's defaults. Each field documents its unit and default;
// validate() throws std::invalid_argument naming the offending field (called once, at construction).
#include <chrono>
#include <cstdint>

namespace cortex::pool {

struct RetryPolicy {
  /// Attempts in all, the first included (1 = never retry). Default 3.
  std::uint32_t max_attempts = 3;
  /// Backoff before the first retry. Default 100 ms.
  std::chrono::milliseconds initial_backoff{100};
  /// Cap on any backoff. Default 10 s.
  std::chrono::milliseconds max_backoff{10000};
  /// Growth per retry (>= 1). Default 2.0.
  double multiplier = 2.0;
  /// Share of each backoff that is randomised, in [0, 1]: the wait is drawn from
  /// [backoff·(1−jitter), backoff] so that retries of many callers spread out. Default 0.2.
  double jitter = 0.2;

  void validate() const;
  /// The wait before retry number `retry` (1 = the first retry), for a uniform draw `u` in [0, 1).
  /// Pure: the caller supplies the randomness, so schedules are testable.
  std::chrono::milliseconds backoff(std::uint32_t retry, double u) const;
};

struct PoolConfig {
  /// Connections kept open even when idle. Default 5.
  std::size_t min_connections = 5;
  /// Hard cap on open connections (>= 1, >= min). Default 20.
  std::size_t max_connections = 20;
  /// Longest wait for a connection (acquire deadline, also the connect timeout). Default 30 s.
  std::chrono::milliseconds connection_timeout{30000};
  /// Idle connections above the minimum close after this; 0 = never. Default 300 s.
  std::chrono::milliseconds idle_timeout{300000};
  /// Connections are retired after this age (with jitter); 0 = never. Default 1800 s.
  std::chrono::milliseconds max_lifetime{1800000};
  RetryPolicy retry_policy;
  /// Open min_connections at start instead of on first use. Default true.
  bool warm_connections = true;
  /// With warm_connections: the pool's creation (and so ConnectionManager's constructor) waits up
  /// to connection_timeout until min_connections are open, and throws the connect error when they
  /// cannot be. Default false (they open in the background).
  bool wait_for_min_connections = false;
  /// Callers that may wait for a connection at once; one more fails at once with
  /// Errc::pool_exhausted (load shedding instead of a queue that only grows). 0 = no limit. Default 0.
  std::size_t max_waiters = 0;
  /// A connection is retired after this many leases; 0 = never. Default 0.
  std::uint64_t max_uses = 0;

  void validate() const;
};

}  // namespace cortex::pool
