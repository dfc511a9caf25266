// CircuitBreaker on a fake clock: opens on failures within the rolling window only, rejects while
// open, lets a limited number of probes through half-open, closes on a probe's success.
#include "cortex/pool/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "fake_clock.hpp"

namespace {

using cortex::pool::BreakerState;
using cortex::pool::CircuitBreakerConfig;
using Breaker = cortex::pool::CircuitBreaker<cortex::test::FakeClock>;
using T = cortex::test::FakeClock::time_point;
using ms = std::chrono::milliseconds;

CircuitBreakerConfig cfg() {
  CircuitBreakerConfig c;
  c.failure_threshold = 3;
  c.window = ms(1000);
  c.open_timeout = ms(5000);
  c.half_open_probes = 2;
  return c;
}

TEST(CircuitBreaker, OpensOnlyOnFailuresWithinTheWindow) {
  Breaker b(cfg());
  const T t0{};
  b.on_failure(t0);
  b.on_failure(t0 + ms(900));
  b.on_failure(t0 + ms(1600));  // the first one has left the window: two in it
  EXPECT_EQ(b.state(t0 + ms(1600)), BreakerState::Closed);
  b.on_failure(t0 + ms(1700));  // three within 1 s (900, 1600, 1700)
  EXPECT_EQ(b.state(t0 + ms(1700)), BreakerState::Open);
  EXPECT_FALSE(b.allow(t0 + ms(1700)));
  EXPECT_EQ(b.transitions(), 1u);
}

TEST(CircuitBreaker, ManyFailuresSpreadOverALongLifeNeverOpenIt) {
  Breaker b(cfg());
  for (int i = 0; i < 1000; ++i) b.on_failure(T{} + ms(600) * i);  // never more than two per second
  EXPECT_EQ(b.state(T{} + ms(600000)), BreakerState::Closed);
}

TEST(CircuitBreaker, HalfOpensAfterTheTimeoutAndLimitsProbes) {
  Breaker b(cfg());
  const T t0{};
  for (int i = 0; i < 3; ++i) b.on_failure(t0);
  EXPECT_FALSE(b.allow(t0 + ms(4999)));
  EXPECT_EQ(b.state(t0 + ms(5000)), BreakerState::HalfOpen);
  EXPECT_TRUE(b.allow(t0 + ms(5000)));
  EXPECT_TRUE(b.allow(t0 + ms(5000)));
  EXPECT_FALSE(b.allow(t0 + ms(5000)));  // two probes at most
  b.release_probe();                     // one never ran
  EXPECT_TRUE(b.would_allow(t0 + ms(5000)));
  b.on_success(t0 + ms(5100));
  EXPECT_EQ(b.state(t0 + ms(5100)), BreakerState::Closed);
  EXPECT_TRUE(b.allow(t0 + ms(5100)));
  EXPECT_EQ(b.transitions(), 3u);  // Closed→Open→HalfOpen→Closed
}

TEST(CircuitBreaker, AFailedProbeOpensItAgainForAnotherTimeout) {
  Breaker b(cfg());
  const T t0{};
  for (int i = 0; i < 3; ++i) b.on_failure(t0);
  ASSERT_TRUE(b.allow(t0 + ms(5000)));
  b.on_failure(t0 + ms(5001));
  EXPECT_EQ(b.state(t0 + ms(5001)), BreakerState::Open);
  EXPECT_FALSE(b.allow(t0 + ms(10000)));
  EXPECT_EQ(b.state(t0 + ms(10001)), BreakerState::HalfOpen);
}

TEST(CircuitBreaker, ConfigIsValidatedNamingTheField) {
  auto c = cfg();
  c.failure_threshold = 0;
  try {
    c.validate();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("failure_threshold"), std::string::npos);
  }
  c = cfg();
  c.open_timeout = ms(0);
  EXPECT_THROW(c.validate(), std::invalid_argument);
}

}  // namespace
