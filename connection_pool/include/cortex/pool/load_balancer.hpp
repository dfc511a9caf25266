#pragma once
// Load balancing across endpoints: the choice is a pure function of what the manager knows about
// each endpoint, so every strategy is unit-tested without sockets.
//   RoundRobin       — the next available endpoint after the previous choice.
//   LeastConnections — fewest active (leases out + shared calls in flight); ties go round-robin.
//   Random           — uniform among the available.
//   HealthBased      — weighted random, weight = 1 / (1 + error_rate·kErrorWeight + slowness), where
//                      slowness = (latency − fastest) / (fastest + kLatencyFloorMs), from a
//                      HealthScore that decays, so an endpoint that recovered gets traffic back.
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "cortex/pool/database_config.hpp"

namespace cortex::pool {

/// A decaying record of an endpoint's recent errors and latency (exponentially weighted, with a
/// half-life in time rather than in samples, so a quiet endpoint's bad past fades). Not thread-safe.
class HealthScore {
 public:
  using Clock = std::chrono::steady_clock;
  HealthScore() = default;
  explicit HealthScore(std::chrono::milliseconds half_life) : half_life_(half_life) {}

  void record(bool ok, std::chrono::nanoseconds latency, Clock::time_point now);
  /// Error share of recent calls, in [0, 1] (0 without data).
  double error_rate(Clock::time_point now) const;
  /// Mean recent latency in ms (0 without data).
  double latency_ms(Clock::time_point now) const;

 private:
  double decay(Clock::time_point now) const;
  std::chrono::milliseconds half_life_{5000};
  Clock::time_point last_{};
  double calls_ = 0, errors_ = 0, latency_sum_ms_ = 0;  // decayed sums
};

/// What the balancer sees of one endpoint.
struct EndpointView {
  bool available = true;       ///< its breaker lets calls through
  std::size_t active = 0;      ///< leases out + shared calls in flight
  double error_rate = 0;       ///< HealthScore::error_rate
  double latency_ms = 0;       ///< HealthScore::latency_ms
};

class LoadBalancer {
 public:
  explicit LoadBalancer(LoadBalancingStrategy s) : strategy_(s) {}
  /// The endpoint to use, or nullopt when none is available. `u` is a uniform draw in [0, 1)
  /// (Random and HealthBased); `skip` (optional) marks endpoints already tried for this call.
  std::optional<std::size_t> choose(const std::vector<EndpointView>& endpoints, double u,
                                    const std::vector<bool>* skip = nullptr);
  /// HealthBased's weight for one endpoint (exposed for tests), relative to the fastest `best_ms`.
  static double weight(const EndpointView& e, double best_ms);
  static constexpr double kErrorWeight = 20.0;
  static constexpr double kLatencyFloorMs = 5.0;

  LoadBalancingStrategy strategy() const noexcept { return strategy_; }

 private:
  LoadBalancingStrategy strategy_;
  std::size_t next_ = 0;  // round-robin cursor
};

}  // namespace cortex::pool
