// ConnectionManager in Local mode: the embedded engine from a mem:// URL, shared and exclusive
// paths, execute_with_retry's idempotency rule, health status, shutdown.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cortex/pool/connection_manager.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

namespace {

DatabaseConfig local_config(const std::string& endpoint) {
  DatabaseConfig c;
  c.connection_mode.mode = ConnectionMode::Local{endpoint};
  c.pool_config.min_connections = 1;
  c.pool_config.max_connections = 4;
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(1);
  c.namespace_ = cortex::test::unique_name("mgr");
  return c;
}

}  // namespace

TEST(Manager, MemUrlStartsTheEmbeddedEngineAndBothPathsWork) {
  ConnectionManager m(local_config("mem://"));
  EXPECT_EQ(m.endpoint_url().rfind("ws://127.0.0.1:", 0), 0u);
  m.query("CREATE memory:one SET text = $t", {{"t", Value("shared path")}}).throw_if_error();
  {
    auto lease = m.acquire();
    EXPECT_EQ(lease->call(rpc::select(record("memory", Value("one"))))["text"], Value("shared path"));
  }
  const auto h = m.health_status();
  EXPECT_TRUE(h.healthy);
  EXPECT_GE(h.pool_size, 1u);
  const auto j = nlohmann::json::parse(h.to_json());
  EXPECT_EQ(j["circuit_breaker_state"], "Closed");
  EXPECT_EQ(j["endpoints"].size(), 1u);
  const auto s = m.metrics().snapshot();
  EXPECT_GE(s.acquisitions, 1u);
  EXPECT_GE(s.request_time.count, 1u);
}

TEST(Manager, ExecuteWithRetryRetriesOnlyWhatIsSafe) {
  ConnectionManager m(local_config(cortex::test::engine_url()));
  int calls = 0;
  // A failure that surely never reached the server is retried until success.
  const int v = m.execute_with_retry([&] {
    if (++calls < 3) throw cortex::Error(make_error_code(Errc::connect_failed), "refused");
    return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(m.metrics().snapshot().retries, 2u);
  // A timeout may have run on the server: not replayed unless the caller says it is idempotent.
  calls = 0;
  EXPECT_THROW(m.execute_with_retry([&] {
    ++calls;
    throw cortex::Error(make_error_code(Errc::timeout), "slow");
  }),
               cortex::Error);
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_THROW(m.execute_with_retry(
                   [&] {
                     ++calls;
                     throw cortex::Error(make_error_code(Errc::timeout), "slow");
                   },
                   RetryOptions{true}),
               cortex::Error);
  EXPECT_EQ(calls, 3);  // max_attempts
  // Server errors (invalid SurrealQL) are never retried.
  calls = 0;
  EXPECT_THROW(m.execute_with_retry([&] {
    ++calls;
    return m.query("SELEKT * FROM nowhere").statements.size();
  }),
               cortex::Error);
  EXPECT_EQ(calls, 1);
}

TEST(Manager, ShutdownRefusesNewWorkTyped) {
  ConnectionManager m(local_config(cortex::test::engine_url()));
  EXPECT_TRUE(m.query("RETURN 1").ok());
  m.shutdown(std::chrono::milliseconds(100));
  try {
    m.query("RETURN 1");
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::pool_closed));
  }
  try {
    m.acquire();
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::pool_closed));
  }
  EXPECT_FALSE(m.health_status().healthy);
}

TEST(Manager, BadConfigurationIsRejectedAtConstruction) {
  auto c = local_config("ftp://nowhere");
  try {
    ConnectionManager m(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ConnectionMode::Local::endpoint"), std::string::npos) << e.what();
  }
  c = local_config("mem://");
  c.pool_config.max_connections = 0;
  EXPECT_THROW(ConnectionManager{c}, std::invalid_argument);
  c = local_config("mem://");
  c.shared_connections = 0;
  try {
    ConnectionManager m(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("shared_connections"), std::string::npos) << e.what();
  }
}
