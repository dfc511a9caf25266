#include "cortex/pool/circuit_breaker.hpp"

#include "cortex/storage/error.hpp"

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

bool is_endpoint_failure(std::error_code ec) noexcept {
  if (!ec) return false;
  // The server says its own connection layer failed. Not `internal`: SurrealDB 2.x reports every
  // error, a bad query's too, as -32000 without a kind, which reads as internal.
  if (ec.category() == server_category()) return ec == make_error_code(ServerErrc::connection);
  if (ec.category() != client_category()) return false;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::connect_failed: case Errc::connect_timeout: case Errc::handshake_failed:
    case Errc::connection_lost: case Errc::not_connected: case Errc::protocol_error: case Errc::decode_error:
      return true;
    case Errc::reply_too_large:  // this client's own limit refused a reply the server sent: it answered
      return false;
    default:
      return false;
  }
}

}  // namespace cortex::pool
