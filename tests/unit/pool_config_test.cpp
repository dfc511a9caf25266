// PoolConfig / RetryPolicy: seed 002's defaults, validation naming the field, the retry schedule.
#include <gtest/gtest.h>

#include <stdexcept>

#include "cortex/pool/pool_config.hpp"

using namespace cortex::pool;
using std::chrono::milliseconds;

namespace {

template <class F>
std::string invalid_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(PoolConfig, DefaultsFollowSeed002AndValidate) {
  const PoolConfig c;
  EXPECT_EQ(c.min_connections, 5u);
  EXPECT_EQ(c.max_connections, 20u);
  EXPECT_EQ(c.connection_timeout, milliseconds(30000));
  EXPECT_EQ(c.idle_timeout, milliseconds(300000));
  EXPECT_EQ(c.max_lifetime, milliseconds(1800000));
  EXPECT_EQ(c.retry_policy.max_attempts, 3u);
  EXPECT_EQ(c.retry_policy.initial_backoff, milliseconds(100));
  EXPECT_EQ(c.retry_policy.max_backoff, milliseconds(10000));
  EXPECT_DOUBLE_EQ(c.retry_policy.multiplier, 2.0);
  EXPECT_TRUE(c.warm_connections);
  EXPECT_NO_THROW(c.validate());
}

TEST(PoolConfig, InvalidValuesNameTheField) {
  PoolConfig c;
  c.min_connections = 30;
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("PoolConfig::min_connections"), std::string::npos);
  c = PoolConfig{};
  c.max_connections = 0;
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("PoolConfig::max_connections"), std::string::npos);
  c = PoolConfig{};
  c.connection_timeout = milliseconds(0);
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("PoolConfig::connection_timeout"), std::string::npos);
  c = PoolConfig{};
  c.retry_policy.multiplier = 0.5;
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("RetryPolicy::multiplier"), std::string::npos);
  c = PoolConfig{};
  c.retry_policy.max_attempts = 0;
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("RetryPolicy::max_attempts"), std::string::npos);
  c = PoolConfig{};
  c.retry_policy.max_backoff = milliseconds(1);
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("RetryPolicy::max_backoff"), std::string::npos);
  c = PoolConfig{};
  c.retry_policy.jitter = 1.5;
  EXPECT_NE(invalid_message([&] { c.validate(); }).find("RetryPolicy::jitter"), std::string::npos);
}

TEST(RetryPolicy, ExponentialCappedAndJittered) {
  const RetryPolicy p;  // 100 ms × 2^n, cap 10 s, jitter 0.2
  EXPECT_EQ(p.backoff(0, 0.0), milliseconds(0));
  EXPECT_EQ(p.backoff(1, 0.0), milliseconds(100));
  EXPECT_EQ(p.backoff(2, 0.0), milliseconds(200));
  EXPECT_EQ(p.backoff(3, 0.0), milliseconds(400));
  EXPECT_EQ(p.backoff(8, 0.0), milliseconds(10000));   // 12.8 s capped
  EXPECT_EQ(p.backoff(200, 0.0), milliseconds(10000)); // no overflow far out
  EXPECT_EQ(p.backoff(1, 1.0), milliseconds(80));      // at most 20 % shorter
  for (double u : {0.0, 0.25, 0.5, 0.99}) {
    const auto b = p.backoff(4, u);
    EXPECT_GE(b, milliseconds(640));
    EXPECT_LE(b, milliseconds(800));
  }
}
