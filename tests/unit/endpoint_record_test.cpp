// Endpoint::record, the one place a call's outcome reaches the breaker and health: no connection
// opened within a call's deadline (pool_timeout) is no success — it does not close a half-open
// breaker, and health shows why until something succeeds (before: it was recorded as a success).
// No server: the endpoint's pool and shared path open nothing (min_connections 0, no call).
#include <gtest/gtest.h>

#include "cortex/storage/error.hpp"
#include "endpoint.hpp"

using namespace cortex::pool;
using cortex::Errc;
using cortex::make_error_code;

namespace {

DatabaseConfig config() {
  DatabaseConfig c;
  c.connection_mode.mode = ConnectionMode::Remote{{"ws://127.0.0.1:9/rpc"}, LoadBalancingStrategy::RoundRobin};
  c.pool_config.min_connections = 0;
  c.circuit_breaker.failure_threshold = 1;
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(1);
  return c;
}

// Admits a call, once the breaker lets one through (open_timeout is 1 ms: this polls the state,
// it does not wait for time to pass for its own sake).
void admit(Endpoint& ep) {
  while (!ep.admit()) {
  }
}

}  // namespace

TEST(EndpointRecord, APoolTimeoutNeitherClosesAHalfOpenBreakerNorReadsAsHealthy) {
  auto io = std::make_shared<cortex::storage::IoRunner>(1);
  Endpoint ep("ws://127.0.0.1:9/rpc", config(), io, std::make_shared<cortex::metrics::PoolMetrics>());
  admit(ep);
  ep.record(make_error_code(Errc::connect_failed), std::chrono::milliseconds(1));
  EXPECT_EQ(ep.breaker_state(), BreakerState::Open);
  admit(ep);  // the half-open probe
  ep.record(make_error_code(Errc::pool_timeout), std::chrono::milliseconds(1));
  EXPECT_NE(ep.breaker_state(), BreakerState::Closed);
  EXPECT_FALSE(ep.last_failure().empty());
  EXPECT_FALSE(ep.stats().up);
  admit(ep);  // the probe's place was given back: another may try
  ep.record({}, std::chrono::milliseconds(1));
  EXPECT_EQ(ep.breaker_state(), BreakerState::Closed);
  EXPECT_TRUE(ep.last_failure().empty());
}

TEST(EndpointRecord, APoolTimeoutAloneIsNoEndpointFailure) {
  auto io = std::make_shared<cortex::storage::IoRunner>(1);
  Endpoint ep("ws://127.0.0.1:9/rpc", config(), io, std::make_shared<cortex::metrics::PoolMetrics>());
  for (int i = 0; i < 3; ++i) {
    admit(ep);
    ep.record(make_error_code(Errc::pool_timeout), std::chrono::milliseconds(1));
  }
  EXPECT_EQ(ep.breaker_state(), BreakerState::Closed);  // nothing reached the endpoint
  EXPECT_EQ(ep.failures(), 0u);
}
