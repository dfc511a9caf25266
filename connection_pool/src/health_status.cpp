#include <nlohmann/json.hpp>

#include "cortex/pool/connection_manager.hpp"

namespace cortex::pool {

std::string HealthStatus::to_json() const {
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& e : endpoints) {
    eps.push_back({{"url", e.url}, {"healthy", e.healthy}, {"size", e.size}, {"idle", e.idle}, {"in_use", e.in_use},
                   {"waiters", e.waiters}, {"shared_in_flight", e.shared_in_flight},
                   {"circuit_breaker_state", e.circuit_breaker_state}, {"last_error", e.last_error},
                   {"requests", e.requests}, {"request_failures", e.request_failures},
                   {"connect_failures", e.connect_failures}});
  }
  nlohmann::json j{{"healthy", healthy}, {"pool_size", pool_size}, {"available_connections", available_connections},
                   {"in_use", in_use}, {"waiters", waiters}, {"circuit_breaker_state", circuit_breaker_state},
                   {"endpoints", eps}};
  if (sync) {
    j["sync"] = {{"shipped_changes", sync->shipped_changes}, {"pulled_changes", sync->pulled_changes},
                 {"passes", sync->passes}, {"lag_ms", sync->lag_ms}, {"cache_serving", sync->cache_serving},
                 {"last_error", sync->last_error}};
  }
  // last_error can carry bytes a server sent (a refused upgrade's body), which need not be UTF-8:
  // replaced (U+FFFD), so that the health output is always valid JSON instead of a throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace cortex::pool
