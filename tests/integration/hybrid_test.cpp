// Hybrid mode: calls go to the local cache; inserts, updates and deletes reach every remote through
// the changefeed sync; a manager stopped with changes unshipped and started again ships exactly
// what is missing; with the local cache down, calls go to the remotes.
#include <gtest/gtest.h>

#include <array>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using namespace cortex::storage;

namespace {

struct Sites {
  LocalServer local{cortex::test::private_engine_options()};
  std::array<std::unique_ptr<LocalServer>, 2> remotes{std::make_unique<LocalServer>(cortex::test::private_engine_options()),
                                                      std::make_unique<LocalServer>(cortex::test::private_engine_options())};
  std::string ns = cortex::test::unique_name("hybrid");

  DatabaseConfig config() const {
    DatabaseConfig c;
    c.credentials = cortex::test::root_credentials();
    ConnectionMode::Hybrid h;
    h.local_cache = local.url();
    h.remote_sync = {remotes[0]->url(), remotes[1]->url()};
    h.sync_interval = std::chrono::hours(1);  // passes run when the test asks (sync_now) and at start
    h.tables = {"note"};
    c.connection_mode.mode = h;
    c.pool_config.min_connections = 0;
    c.pool_config.connection_timeout = std::chrono::seconds(5);
    c.circuit_breaker.failure_threshold = 1;
    c.namespace_ = ns;
    return c;
  }

  Value notes(const std::string& url) const {
    auto conn = cortex::test::connect_signed_in(cortex::test::io(), url);
    conn->call(rpc::use(ns, "main"));
    return conn->query("SELECT * FROM note ORDER BY id").at(0);
  }
};

void write(ConnectionManager& m, int from, int to) {
  for (int i = from; i < to; ++i) {
    m.query("CREATE $id SET n = $n, text = $t",
            {{"id", Value(RecordId{"note", Box<Value>(Value(std::int64_t{i}))})}, {"n", Value(std::int64_t{i})},
             {"t", Value("note " + std::to_string(i))}})
        .throw_if_error();
  }
  // Updates and deletes too, in an order that matters (update then delete, delete then re-create).
  m.query("UPDATE note SET text = 'edited' WHERE n % 3 = 0").throw_if_error();
  m.query("DELETE note WHERE n % 5 = 0").throw_if_error();
  m.query("CREATE $id SET n = -1, text = 'recreated'", {{"id", Value(RecordId{"note", Box<Value>(Value(std::int64_t{from}))})}})
      .throw_if_error();
}

}  // namespace

TEST(Hybrid, ChangesReachEveryRemoteAndAResumedSyncShipsTheRest) {
  Sites s;
  {
    ConnectionManager m(s.config());
    write(m, 0, 40);
    ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
    const auto local = s.notes(s.local.url());
    ASSERT_EQ(local.get<Array>().size(), 40u - 8u + 1u);  // 8 multiples of 5 in [0, 40), 0 recreated
    for (auto& r : s.remotes) EXPECT_EQ(s.notes(r->url()), local);
    const auto h = m.health_status();
    ASSERT_TRUE(h.sync);
    EXPECT_GT(h.sync->shipped_changes, 0u);
    EXPECT_GE(h.sync->lag_ms, 0);
    const auto snap = m.metrics().snapshot();
    EXPECT_GE(snap.sync_lag_ms, 0);
    EXPECT_EQ(snap.sync_shipped_changes, h.sync->shipped_changes);
    write(m, 40, 80);  // not shipped: the manager stops before its next pass
  }
  EXPECT_NE(s.notes(s.remotes[0]->url()), s.notes(s.local.url()));
  {
    ConnectionManager m(s.config());  // resumes from the position each remote kept
    ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
    const auto local = s.notes(s.local.url());
    for (auto& r : s.remotes) EXPECT_EQ(s.notes(r->url()), local);
  }
}

TEST(Hybrid, WithTheLocalCacheDownCallsGoToTheRemotes) {
  Sites s;
  ConnectionManager m(s.config());
  m.query("CREATE note:first SET text = 'local'").throw_if_error();
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  s.local.kill();
  // A read is idempotent: if it was on the wire when the local cache died (connection_lost) it is
  // run again; one that finds the cache gone before it is written is sent on to a remote.
  const auto r = m.execute_with_retry([&] { return m.query("SELECT VALUE text FROM ONLY note:first"); }, RetryOptions{true});
  EXPECT_EQ(r.at(0), Value("local"));  // served by a remote, which has the synced record
  m.query("CREATE note:second SET text = 'remote'").throw_if_error();
  const auto h = m.health_status();
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(h.endpoints[0].circuit_breaker_state, "Open");
  EXPECT_GE(m.metrics().snapshot().breaker_transitions, 1u);  // the local cache's breaker opened
}
