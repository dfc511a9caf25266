#include "cortex/pool/pool_config.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace cortex::pool {
namespace {

void require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string(field) + ": " + why);
}

}  // namespace

void RetryPolicy::validate() const {
  require(max_attempts >= 1, "RetryPolicy::max_attempts", "must be at least 1 (1 = no retries)");
  require(initial_backoff.count() >= 0, "RetryPolicy::initial_backoff", "must not be negative");
  require(max_backoff >= initial_backoff, "RetryPolicy::max_backoff", "must be at least initial_backoff");
  require(std::isfinite(multiplier) && multiplier >= 1.0, "RetryPolicy::multiplier", "must be a finite number >= 1");
  require(jitter >= 0.0 && jitter <= 1.0, "RetryPolicy::jitter", "must be within [0, 1]");
}

std::chrono::milliseconds RetryPolicy::backoff(std::uint32_t retry, double u) const {
  if (retry == 0) return std::chrono::milliseconds(0);
  // Grow in floating point and cap before converting: 2^60 ms must not overflow.
  const double grown = static_cast<double>(initial_backoff.count()) * std::pow(multiplier, static_cast<double>(retry - 1));
  const double capped = std::min(grown, static_cast<double>(max_backoff.count()));
  const double draw = std::clamp(u, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(capped * (1.0 - jitter * draw)));
}

void PoolConfig::validate() const {
  require(max_connections >= 1, "PoolConfig::max_connections", "must be at least 1");
  require(min_connections <= max_connections, "PoolConfig::min_connections", "must not exceed max_connections");
  require(connection_timeout.count() > 0, "PoolConfig::connection_timeout", "must be positive");
  require(idle_timeout.count() >= 0, "PoolConfig::idle_timeout", "must not be negative (0 disables)");
  require(max_lifetime.count() >= 0, "PoolConfig::max_lifetime", "must not be negative (0 disables)");
  require(!wait_for_min_connections || warm_connections, "PoolConfig::wait_for_min_connections",
          "needs warm_connections (nothing would open the connections it waits for)");
  retry_policy.validate();
}

}  // namespace cortex::pool
