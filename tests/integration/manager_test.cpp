// ConnectionManager in Local mode: the embedded engine from a mem:// URL, shared and exclusive
// paths, execute_with_retry's idempotency rule, health status, shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/manager_registry.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/value_json.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "latch.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

namespace {

DatabaseConfig local_config(const std::string& endpoint) {
  DatabaseConfig c = cortex::test::local_config(endpoint, "mgr");
  c.pool_config.min_connections = 1;
  c.pool_config.max_connections = 4;
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(1);
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

// A cold burst of leases under root auth: the new connections' setups sign in with the password
// once, the others authenticate with that signin's token (before: one ~100 ms signin each, 19 of
// 50 in bench_burst).
TEST(Manager, AColdBurstOfLeasesSignsInWithThePasswordOnce) {
  auto c = local_config(cortex::test::engine_url());
  c.pool_config.min_connections = 0;
  c.pool_config.max_connections = 8;
  ConnectionManager m(c);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<PooledConnection> leases;
  std::vector<std::error_code> failures;
  for (int i = 0; i < 8; ++i) {  // all at once: each needs a new connection
    m.async_acquire([&](std::error_code ec, PooledConnection lease) {
      std::lock_guard<std::mutex> lock(mu);
      if (ec) failures.push_back(ec);
      else leases.push_back(std::move(lease));
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return leases.size() + failures.size() == 8; }));
  }
  EXPECT_TRUE(failures.empty()) << failures.front().message();
  for (auto& l : leases) EXPECT_EQ(l->query("RETURN 1").at(0), Value(std::int64_t{1}));
  EXPECT_EQ(m.metrics().snapshot().password_signins, 1u);
  leases.clear();
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

// Local mode's only breaker must not open because callers were in a hurry on a healthy server.
TEST(Manager, CallerDeadlinesOnAHealthyServerDoNotOpenTheBreaker) {
  auto c = local_config(cortex::test::engine_url());
  c.circuit_breaker.failure_threshold = 3;
  ConnectionManager m(c);
  m.query("RETURN 1");  // the shared connection is open: the hurried calls below reach the server
  RequestOptions hurried;
  hurried.timeout = std::chrono::milliseconds(50);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(cortex::test::error_of([&] { m.query("SLEEP 500ms", {}, hurried); }), make_error_code(Errc::timeout));
  }
  const auto h = m.health_status();
  EXPECT_EQ(h.circuit_breaker_state, "Closed");
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(m.query("RETURN 7").at(0), Value(std::int64_t{7}));
  auto lease = m.acquire();
  EXPECT_TRUE(lease->call(rpc::ping()).is_none());
}

// health_status reports the present: once the endpoint answers again, it is healthy, no old error.
TEST(Manager, HealthIsHealthyAgainAfterARecoveredOutage) {
  LocalServer server(cortex::test::private_engine_options());
  auto c = local_config(server.url());
  c.pool_config.min_connections = 0;
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(50);
  ConnectionManager m(c);
  EXPECT_EQ(m.query("RETURN 1").at(0), Value(std::int64_t{1}));
  server.kill();
  EXPECT_TRUE(cortex::pool::is_endpoint_failure(cortex::test::error_of([&] { m.query("RETURN 1"); })));
  EXPECT_FALSE(m.health_status().endpoints[0].healthy);
  EXPECT_FALSE(m.health_status().endpoints[0].last_error.empty());
  server.restart();
  bool answered = false;
  for (int i = 0; i < 1000 && !answered; ++i) answered = !cortex::test::error_of([&] { m.query("RETURN 1"); });
  ASSERT_TRUE(answered);
  const auto h = m.health_status();
  EXPECT_TRUE(h.healthy);
  EXPECT_TRUE(h.endpoints[0].healthy);
  EXPECT_EQ(h.endpoints[0].last_error, "");
}

// The shared path's sessions belong to every caller: methods that change one are refused, typed,
// before anything is sent; a lease takes them.
TEST(Manager, SessionChangingMethodsAreRefusedOnTheSharedPath) {
  ConnectionManager m(local_config(cortex::test::engine_url()));
  const auto refused = make_error_code(Errc::session_state_on_shared_path);
  for (auto req : {rpc::use("elsewhere", "db"), rpc::let("x", Value(1)), rpc::unset("x"),
                   rpc::signin(cortex::test::root_credentials()), rpc::authenticate("t"), rpc::invalidate(), rpc::reset(),
                   rpc::begin()}) {
    try {
      m.call(req);
      ADD_FAILURE() << req.method << " was sent on the shared path";
    } catch (const cortex::Error& e) {
      EXPECT_EQ(e.code(), refused) << req.method;
      EXPECT_NE(std::string(e.what()).find("AgentSession"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(m.query("RETURN session::ns()").at(0), Value(m.config().namespace_));  // nobody moved it
  auto lease = m.acquire();
  lease->call(rpc::use("elsewhere", "db"));
  EXPECT_EQ(lease->query("RETURN session::ns()").at(0), Value("elsewhere"));
}

// execute_with_retry judges the whole attempt: once a call of it may have run (here a write that
// succeeded), a later "never sent" failure does not make the attempt safe to run again.
TEST(Manager, ExecuteWithRetryNeverReplaysAWrite) {
  ConnectionManager m(local_config(cortex::test::engine_url()));
  const auto table = cortex::test::unique_name("once");
  int runs = 0;
  EXPECT_EQ(cortex::test::error_of([&] {
              m.execute_with_retry([&] {
                ++runs;
                m.query("CREATE type::table($t) SET n = 1", {{"t", Value(table)}}).throw_if_error();
                throw cortex::Error(make_error_code(Errc::connect_failed), "the next step could not connect");
              });
            }),
            make_error_code(Errc::connect_failed));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(m.query("SELECT VALUE n FROM type::table($t)", {{"t", Value(table)}}).at(0).get<Array>().size(), 1u);
  // A refusal before anything ran is still retried.
  runs = 0;
  EXPECT_EQ(m.execute_with_retry([&] {
              if (++runs == 1) throw cortex::Error(make_error_code(Errc::circuit_open), "open");
              return m.query("RETURN 5").at(0);
            }),
            Value(std::int64_t{5}));
  EXPECT_EQ(runs, 2);
}

TEST(Manager, AsyncExecuteWithRetryBacksOffOnATimerAndStopsAtWhatMayHaveRun) {
  auto c = local_config(cortex::test::engine_url());
  c.pool_config.retry_policy.max_attempts = 4;
  ConnectionManager m(c);
  std::atomic<int> runs{0};
  cortex::test::Completions done;
  m.async_execute_with_retry(
      [&](Handler h) {
        if (++runs < 3) return h(make_error_code(Errc::connect_failed), Value("refused"));
        m.async_call(rpc::query("RETURN 9"), {}, std::move(h));
      },
      done.handler(1));
  const auto ok = done.wait_for(1)[0];
  ASSERT_FALSE(ok.ec) << ok.ec.message();
  EXPECT_EQ(QueryResult::parse(ok.value).at(0), Value(std::int64_t{9}));
  EXPECT_EQ(runs.load(), 3);
  runs = 0;
  cortex::test::Completions failed;
  m.async_execute_with_retry(
      [&](Handler h) {
        ++runs;
        h(make_error_code(Errc::timeout), Value("slow"));
      },
      failed.handler(2));
  EXPECT_EQ(failed.wait_for(1)[0].ec, make_error_code(Errc::timeout));
  EXPECT_EQ(runs.load(), 1);  // may have run: not replayed
}

// The original crate's check of execute_with_retry's counts: 50 tasks, every third fails once with
// a transient error — 50 operations succeed, 17 attempts fail. The closures make no request, so
// the request counters stay put (before: nothing counted these operations at all).
TEST(Manager, ExecuteWithRetryCountsItsOperationsAndFailedAttempts) {
  auto c = local_config(cortex::test::engine_url());
  c.pool_config.min_connections = 0;
  ConnectionManager m(c);
  const auto before = m.metrics().snapshot();
  std::atomic<int> right{0};
  std::vector<std::thread> tasks;
  for (int i = 0; i < 50; ++i) {
    tasks.emplace_back([&m, &right, i] {
      bool failed_once = false;
      const int v = m.execute_with_retry([&] {
        if (i % 3 == 0 && !failed_once) {
          failed_once = true;
          throw cortex::Error(make_error_code(Errc::connect_failed), "transient");
        }
        return i;
      });
      if (v == i) right.fetch_add(1);
    });
  }
  for (auto& t : tasks) t.join();
  EXPECT_EQ(right.load(), 50);
  const auto s = m.metrics().snapshot();
  EXPECT_EQ(s.operations_succeeded - before.operations_succeeded, 50u);
  EXPECT_EQ(s.operation_attempts_failed - before.operation_attempts_failed, 17u);
  EXPECT_EQ(s.retries - before.retries, 17u);
  EXPECT_EQ(s.successes - before.successes, 0u);  // no request was made
  EXPECT_EQ(s.errors - before.errors, 0u);
  const auto j = nlohmann::json::parse(s.to_json());
  EXPECT_EQ(j["operations_succeeded"], s.operations_succeeded);
  EXPECT_EQ(j["operation_attempts_failed"], s.operation_attempts_failed);
  const auto p = s.to_prometheus();
  EXPECT_NE(p.find("cortex_pool_operations_succeeded_total " + std::to_string(s.operations_succeeded) + "\n"), std::string::npos) << p;
  EXPECT_NE(p.find("cortex_pool_operation_attempts_failed_total " + std::to_string(s.operation_attempts_failed) + "\n"),
            std::string::npos);

  // The async form counts the same way: a failed attempt, then a success; a final failure.
  cortex::test::Completions done;
  int runs = 0;  // the attempts run one after another (the retry follows the failure)
  m.async_execute_with_retry(
      [&](Handler h) {
        if (++runs == 1) return h(make_error_code(Errc::connect_failed), Value("refused"));
        h({}, Value(std::int64_t{7}));
      },
      done.handler(1));
  ASSERT_FALSE(done.wait_for(1)[0].ec);
  m.async_execute_with_retry([](Handler h) { h(make_error_code(Errc::timeout), Value("slow")); }, done.handler(2));
  EXPECT_EQ(done.wait_for(2)[1].ec, make_error_code(Errc::timeout));
  const auto after = m.metrics().snapshot();
  EXPECT_EQ(after.operations_succeeded - s.operations_succeeded, 1u);
  EXPECT_EQ(after.operation_attempts_failed - s.operation_attempts_failed, 2u);
}

// Before: replies over the client's own decode budget failed with decode_error, which the breaker
// counts as a failure of the endpoint: five of them opened the only endpoint's breaker while the
// server was fine, then RETURN 1 failed with circuit_open and health read unhealthy. Now each
// fails its own call only, as reply_too_large.
TEST(Manager, RepliesOverTheClientsOwnLimitFailOnlyThemselves) {
  auto c = local_config(cortex::test::engine_url());
  c.pool_config.min_connections = 0;
  c.circuit_breaker.failure_threshold = 2;
  c.circuit_breaker.window = std::chrono::minutes(10);  // a slow machine spreads the calls out: all count
  ConnectionManager m(c);
  // A million 1-byte integers: ~1 MB on the wire, ~72 MB of Values, over the default budget
  // (the larger of 64 MiB and 64 times the frame).
  const std::string huge = "RETURN array::flatten(array::repeat(array::repeat(1, 1000), 1000))";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cortex::test::error_of([&] { m.query(huge); }), make_error_code(Errc::reply_too_large)) << "call " << i;
  }
  EXPECT_EQ(m.query("RETURN 1").at(0), Value(std::int64_t{1}));
  const auto h = m.health_status();
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(h.circuit_breaker_state, "Closed");
  ASSERT_EQ(h.endpoints.size(), 1u);
  EXPECT_EQ(h.endpoints[0].request_failures, 0u);
  EXPECT_EQ(m.metrics().snapshot().breaker_transitions, 0u);
}

// One setup routine: the schema runs on every new connection, the shared path's included (before,
// only pooled connections ran it, so a manager used only through query() never had its schema).
TEST(Manager, TheSchemaRunsOnSharedConnectionsToo) {
  auto c = local_config(cortex::test::engine_url());
  c.pool_config.min_connections = 0;  // no pooled connection is ever opened below
  c.namespace_ = cortex::test::unique_name("schema");
  c.schema = "DEFINE TABLE IF NOT EXISTS typed SCHEMAFULL; DEFINE FIELD IF NOT EXISTS n ON typed TYPE int;";
  ConnectionManager m(c);
  EXPECT_FALSE(m.query("CREATE typed SET n = 'not a number'").ok());  // the schema is in force
  m.query("CREATE typed SET n = 1").throw_if_error();
  EXPECT_EQ(m.health_status().pool_size, 0u);
}

// Seed 001's named and default connections: managers by name, a default, closed together.
TEST(Manager, RegistryNamesManagersWithADefaultAndClosesThemTogether) {
  ManagerRegistry reg;
  auto memory_cfg = local_config(cortex::test::engine_url());
  auto audit_cfg = local_config(cortex::test::engine_url());
  audit_cfg.namespace_ = cortex::test::unique_name("audit");
  auto memory = reg.add("memory", memory_cfg);
  auto audit = reg.add("audit", audit_cfg);
  EXPECT_EQ(reg.default_manager(), memory);  // the first added
  EXPECT_EQ(reg.get("audit")->query("RETURN session::ns()").at(0), Value(audit_cfg.namespace_));
  EXPECT_THROW(reg.add("audit", audit_cfg), std::invalid_argument);
  try {
    reg.get("nope");
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_NE(std::string(e.what()).find("audit, memory"), std::string::npos) << e.what();
  }
  reg.set_default("audit");
  EXPECT_EQ(reg.default_manager(), audit);
  EXPECT_TRUE(reg.remove("memory"));
  EXPECT_FALSE(reg.remove("memory"));
  EXPECT_EQ(reg.names(), std::vector<std::string>{"audit"});
  EXPECT_EQ(cortex::test::error_of([&] { memory->query("RETURN 1"); }), make_error_code(Errc::pool_closed));
  reg.shutdown_all();
  EXPECT_TRUE(reg.names().empty());
  EXPECT_EQ(cortex::test::error_of([&] { audit->query("RETURN 1"); }), make_error_code(Errc::pool_closed));
  EXPECT_THROW(reg.default_manager(), cortex::Error);
}

namespace {
// Records the events a manager reports, and lets a test wait for one kind.
struct EventLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<cortex::metrics::PoolEventKind> kinds;
  std::vector<std::string> details;
  std::vector<cortex::metrics::CloseReason> closes;
  cortex::metrics::PoolEventHandler handler() {
    return [this](const cortex::metrics::PoolEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      kinds.push_back(e.kind);
      details.emplace_back(e.detail);
      if (e.kind == cortex::metrics::PoolEventKind::closed) closes.push_back(e.reason);
      cv.notify_all();
    };
  }
  std::size_t count(cortex::metrics::PoolEventKind k) {
    std::lock_guard<std::mutex> lock(mu);
    return static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), k));
  }
  bool wait_for(cortex::metrics::PoolEventKind k, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return std::count(kinds.begin(), kinds.end(), k) > 0; });
  }
};
}  // namespace

// The event hook sees a manager's lifecycle: connections created, leases acquired and released,
// a leak, a retry, and the closes at shutdown with their reason.
TEST(Manager, EventHookSeesTheLifecycle) {
  using K = cortex::metrics::PoolEventKind;
  EventLog log;
  auto c = local_config(cortex::test::engine_url());
  c.on_event = log.handler();
  c.leak_threshold = std::chrono::milliseconds(50);
  ConnectionManager m(c);
  {
    auto lease = m.acquire();
    EXPECT_TRUE(log.wait_for(K::leak, std::chrono::seconds(30)));  // held past leak_threshold
  }
  int calls = 0;
  const int r = m.execute_with_retry([&] {
    if (++calls == 1) throw cortex::Error(make_error_code(Errc::connect_failed), "first attempt never sent");
    return 7;
  });
  EXPECT_EQ(r, 7);
  m.shutdown(std::chrono::milliseconds(1000));
  EXPECT_GE(log.count(K::created), 1u);
  EXPECT_EQ(log.count(K::acquired), 1u);
  EXPECT_EQ(log.count(K::released), 1u);
  EXPECT_EQ(log.count(K::retry), 1u);
  EXPECT_GE(log.count(K::closed), 1u);
  std::lock_guard<std::mutex> lock(log.mu);
  EXPECT_NE(std::find(log.closes.begin(), log.closes.end(), cortex::metrics::CloseReason::shutdown), log.closes.end());
  const auto leak = std::find(log.kinds.begin(), log.kinds.end(), K::leak) - log.kinds.begin();
  EXPECT_NE(log.details[static_cast<std::size_t>(leak)].find("manager_test.cpp"), std::string::npos);
}
