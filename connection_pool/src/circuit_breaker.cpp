#include "cortex/pool/circuit_breaker.hpp"

#include <stdexcept>

namespace cortex::pool {

const char* to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::Closed: return "Closed";
    case BreakerState::Open: return "Open";
    case BreakerState::HalfOpen: return "HalfOpen";
  }
  return "Unknown";
}

void CircuitBreakerConfig::validate() const {
  if (failure_threshold < 1) throw std::invalid_argument("CircuitBreakerConfig::failure_threshold: must be at least 1");
  if (window.count() <= 0) throw std::invalid_argument("CircuitBreakerConfig::window: must be positive");
  if (open_timeout.count() <= 0) throw std::invalid_argument("CircuitBreakerConfig::open_timeout: must be positive");
  if (half_open_probes < 1) throw std::invalid_argument("CircuitBreakerConfig::half_open_probes: must be at least 1");
}

}  // namespace cortex::pool
