// ConnectionManager in Local mode: the embedded engine from a mem:// URL, shared and exclusive
// paths, execute_with_retry's idempotency rule, health status, shutdown.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/value_json.hpp"
#include "engine.hpp"
#include "latch.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

namespace {

DatabaseConfig local_config(const std::string& endpoint) {
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
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

TEST(Manager, ShutdownGivesSharedCallsInFlightTheirGrace) {
  ConnectionManager m(local_config(cortex::test::engine_url()));
  ASSERT_TRUE(m.query("RETURN 1").ok());  // the shared path is open
  cortex::test::Completions done;
  m.async_call(rpc::query("SLEEP 300ms; RETURN 'finished'"), {}, done.handler());
  m.shutdown(std::chrono::seconds(30));  // returns once the call drained, well within the grace
  const auto got = done.wait_for(1);
  ASSERT_FALSE(got[0].ec) << to_json_text(got[0].value);
  EXPECT_EQ(QueryResult::parse(got[0].value).at(1), Value("finished"));
}

TEST(Manager, SharedPathToADownEndpointFailsTypedWithoutBlockingTheIoThread) {
  LocalServer server(cortex::test::private_engine_options());
  auto c = local_config(server.url());
  c.pool_config.min_connections = 0;
  ConnectionManager m(c);
  server.kill();
  // From a handler on the manager's io thread: an async call must not block it (it would wait
  // for itself), and a server that is down gives a typed error.
  cortex::test::Completions outer, inner;
  m.async_call(rpc::ping(), {}, [&](std::error_code ec, Value v) {
    m.async_call(rpc::ping(), {}, inner.handler());
    outer.handler()(ec, std::move(v));
  });
  const auto first = outer.wait_for(1), second = inner.wait_for(1);
  EXPECT_EQ(first[0].ec, make_error_code(Errc::connect_failed)) << to_json_text(first[0].value);
  EXPECT_EQ(second[0].ec, make_error_code(Errc::connect_failed)) << to_json_text(second[0].value);
  try {
    m.query("RETURN 1");
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::connect_failed));
  }
}

TEST(Manager, LeasesOutlivingTheManagerStaySafe) {
  std::optional<PooledConnection> kept;
  auto on_io = std::make_shared<PooledConnection>();
  cortex::test::Completions done;
  {
    ConnectionManager m(local_config("mem://"));  // its embedded engine goes with it
    kept.emplace(m.acquire());
    *on_io = m.acquire();
    // This handler holds the last reference to a lease (and so to the pool and the manager's io
    // runner): it is dropped on the io thread when the engine dies.
    (*on_io)->async_call(rpc::query("SLEEP 5s"), {}, [lease = on_io, h = done.handler()](std::error_code ec, Value v) {
      h(ec, std::move(v));
    });
    on_io.reset();
  }
  const auto got = done.wait_for(1);
  EXPECT_TRUE(got[0].ec);  // the engine stopped under it: a typed error, no crash
  try {
    (*kept)->call(rpc::ping());
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_TRUE(e.code() == make_error_code(Errc::connection_lost) || e.code() == make_error_code(Errc::not_connected))
        << e.what();
  }
  kept.reset();  // released after its manager: closes, no crash, no leak (ASan)
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
