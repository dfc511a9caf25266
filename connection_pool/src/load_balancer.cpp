#include "cortex/pool/load_balancer.hpp"

#include <cmath>

namespace cortex::pool {

// -- HealthScore ------------------------------------------------------------------------------

double HealthScore::decay(Clock::time_point now) const {
  if (last_ == Clock::time_point{} || now <= last_) return 1.0;
  const double dt = std::chrono::duration<double, std::milli>(now - last_).count();
  return std::exp2(-dt / static_cast<double>(half_life_.count()));
}

void HealthScore::record(bool ok, std::chrono::nanoseconds latency, Clock::time_point now) {
  const double d = decay(now);
  calls_ = calls_ * d + 1;
  errors_ = errors_ * d + (ok ? 0 : 1);
  latency_sum_ms_ = latency_sum_ms_ * d + std::chrono::duration<double, std::milli>(latency).count();
  if (now > last_) last_ = now;
}

// One neutral call's worth of prior: with no traffic the decayed sums fade and the score drifts
// back to neutral, so an endpoint that was bad gets traffic again without needing any first.
double HealthScore::error_rate(Clock::time_point now) const {
  const double d = decay(now);
  return errors_ * d / (calls_ * d + 1.0);
}

double HealthScore::latency_ms(Clock::time_point now) const {
  const double d = decay(now);
  return latency_sum_ms_ * d / (calls_ * d + 1.0);
}

// -- LoadBalancer -----------------------------------------------------------------------------

double LoadBalancer::weight(const EndpointView& e, double best_ms) {
  // Slowness: the extra latency over the fastest endpoint, in units of (fastest + kLatencyFloorMs):
  // differences of a millisecond or two between fast endpoints are noise, not a reason to shift.
  const double slowness = e.latency_ms > best_ms ? (e.latency_ms - best_ms) / (best_ms + kLatencyFloorMs) : 0.0;
  return 1.0 / (1.0 + e.error_rate * kErrorWeight + slowness);
}

std::optional<std::size_t> LoadBalancer::choose(const std::vector<EndpointView>& eps, double u,
                                                const std::vector<bool>* skip) {
  const std::size_t n = eps.size();
  auto usable = [&](std::size_t i) { return eps[i].available && !(skip && i < skip->size() && (*skip)[i]); };
  std::vector<std::size_t> candidates;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_ + k) % n;  // in round-robin order from the cursor
    if (usable(i)) candidates.push_back(i);
  }
  if (candidates.empty()) return std::nullopt;
  std::size_t pick = candidates.front();
  switch (strategy_) {
    case LoadBalancingStrategy::RoundRobin:
      break;
    case LoadBalancingStrategy::LeastConnections:
      for (std::size_t i : candidates) {
        if (eps[i].active < eps[pick].active) pick = i;  // first of the least: ties rotate with the cursor
      }
      break;
    case LoadBalancingStrategy::Random:
      pick = candidates[std::min(candidates.size() - 1, static_cast<std::size_t>(u * static_cast<double>(candidates.size())))];
      break;
    case LoadBalancingStrategy::HealthBased: {
      double best_ms = 0;
      for (std::size_t i : candidates) {
        if (eps[i].latency_ms > 0 && (best_ms == 0 || eps[i].latency_ms < best_ms)) best_ms = eps[i].latency_ms;
      }
      double total = 0;
      for (std::size_t i : candidates) total += weight(eps[i], best_ms);
      double at = u * total;
      for (std::size_t i : candidates) {
        pick = i;
        at -= weight(eps[i], best_ms);
        if (at < 0) break;
      }
      break;
    }
  }
  next_ = (pick + 1) % n;
  return pick;
}

}  // namespace cortex::pool
