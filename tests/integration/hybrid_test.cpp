// Hybrid mode: calls go to the local cache; inserts, updates and deletes reach every remote through
// the changefeed sync; a manager stopped with changes unshipped and started again ships exactly
// what is missing; with the local cache down, calls go to the remotes. Both ways: writes made on a
// remote while the cache was down are in the cache before it serves again; concurrent edits of one
// record end with the newer everywhere; either side restarting (kill -9) loses nothing.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using namespace cortex::storage;

namespace {

// An engine's options with a store: "mem://", or a fresh surrealkv directory (survives kill -9).
LocalServerOptions engine(bool persistent) {
  auto o = cortex::test::private_engine_options();
  if (persistent) {
    o.store = "surrealkv://" + (std::filesystem::temp_directory_path() / cortex::test::unique_name("cortex_hybrid")).string();
  }
  return o;
}

LocalServerOptions engine2x() {
  auto o = cortex::test::private_engine_options();
  o.engine = 2;
  return o;
}

// Hybrid over `cache` and `remotes`, signed in, in namespace `ns`; passes run at start and when a
// test asks (sync_now).
DatabaseConfig hybrid_config(const std::string& cache, std::vector<std::string> remotes, const std::string& ns) {
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  ConnectionMode::Hybrid h;
  h.local_cache = cache;
  h.remote_sync = std::move(remotes);
  h.sync_interval = std::chrono::hours(1);
  h.tables = {"note"};
  c.connection_mode.mode = h;
  c.pool_config.min_connections = 0;
  c.namespace_ = ns;
  return c;
}

struct Sites {
  explicit Sites(bool persistent_cache = false, bool persistent_remote = false)
      : local(engine(persistent_cache)),
        remotes{std::make_unique<LocalServer>(engine(persistent_remote)),
                std::make_unique<LocalServer>(engine(persistent_remote))} {}
  LocalServer local;
  std::array<std::unique_ptr<LocalServer>, 2> remotes;
  std::string ns = cortex::test::unique_name("hybrid");

  DatabaseConfig config() const {
    DatabaseConfig c = hybrid_config(local.url(), {remotes[0]->url(), remotes[1]->url()}, ns);
    c.pool_config.connection_timeout = std::chrono::seconds(5);
    c.circuit_breaker.failure_threshold = 1;
    return c;
  }

  std::shared_ptr<RpcConnection> site(const std::string& url) const {
    auto conn = cortex::test::connect_signed_in(cortex::test::io(), url);
    conn->call(rpc::use(ns, "main"));
    return conn;
  }
  Value notes(const std::string& url) const { return site(url)->query("SELECT * FROM note ORDER BY id").at(0); }
  Value text(const std::string& url, const std::string& key) const {
    return site(url)->query("SELECT VALUE text FROM ONLY $id", {{"id", Value(RecordId{"note", Box<Value>(Value(key))})}}).at(0);
  }
  /// Edits a record directly on one site (a client other than the manager).
  void edit(const std::string& url, const std::string& key, const std::string& text) const {
    site(url)->query("UPSERT $id SET text = $t", {{"id", Value(RecordId{"note", Box<Value>(Value(key))})}, {"t", Value(text)}})
        .throw_if_error();
  }
  void expect_all_equal() const {
    const auto cache = notes(local.url());
    for (auto& r : remotes) EXPECT_EQ(notes(r->url()), cache) << r->url();
  }
};

// Versionstamps are milliseconds and a counter: two servers' writes in the same millisecond have
// no meaningful order. Waits (by asking, not sleeping) until `later`'s clock is past `earlier`'s
// now, so that a write on `later` from here on is newer than every write on `earlier` so far.
void after_the_clock_moves(const Sites& s, const std::string& earlier, const std::string& later) {
  const auto now_ms = [&](const std::string& url) {
    return s.site(url)->query("RETURN time::millis(time::now())").at(0).get<std::int64_t>();
  };
  const auto t = now_ms(earlier);
  while (now_ms(later) <= t) {
  }
}

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
  EXPECT_EQ(s.text(s.remotes[0]->url(), "second"), Value("remote"));
  const auto h = m.health_status();
  EXPECT_TRUE(h.healthy);
  // The cache's lost connections said it was gone before any call had to fail on it.
  EXPECT_FALSE(h.endpoints[0].healthy);
  EXPECT_FALSE(h.endpoints[0].last_error.empty());
  EXPECT_FALSE(h.sync->cache_serving);
}

// The conflict rule reads versionstamps as times; a 2.x server's are counters, so its changes
// would lose to every change of the cache. A 2.x remote is left out of the sync, which says why,
// while the cache and the manager keep working.
TEST(Hybrid, A2xRemoteIsNotSyncedAndTheSyncSaysWhy) {
  LocalServer cache(engine(false));
  LocalServer v2(engine2x());
  ConnectionManager m(hybrid_config(cache.url(), {v2.url()}, cortex::test::unique_name("hybrid2x")));
  m.query("CREATE note:one SET text = 'cache'").throw_if_error();
  EXPECT_FALSE(m.sync_now(std::chrono::seconds(30)));
  const auto health = m.health_status();
  ASSERT_TRUE(health.sync);
  EXPECT_NE(health.sync->last_error.find("needs SurrealDB 3.x"), std::string::npos) << health.sync->last_error;
  EXPECT_NE(health.sync->last_error.find(v2.url()), std::string::npos) << health.sync->last_error;
  EXPECT_EQ(health.sync->shipped_changes, 0u);
  EXPECT_TRUE(health.sync->cache_serving);  // the cache has nothing to catch up from
  EXPECT_EQ(m.query("SELECT VALUE text FROM ONLY note:one").at(0), Value("cache"));
}

// A 2.x cache is never synced, so it never serves: the remote takes the calls.
TEST(Hybrid, A2xCacheNeverServesAndTheRemoteTakesTheCalls) {
  LocalServer v2(engine2x());
  LocalServer remote(engine(false));
  const auto c = hybrid_config(v2.url(), {remote.url()}, cortex::test::unique_name("hybrid2x"));
  ConnectionManager m(c);
  EXPECT_FALSE(m.sync_now(std::chrono::seconds(30)));
  const auto health = m.health_status();
  ASSERT_TRUE(health.sync);
  EXPECT_NE(health.sync->last_error.find("needs SurrealDB 3.x"), std::string::npos) << health.sync->last_error;
  EXPECT_FALSE(health.sync->cache_serving);
  m.query("CREATE note:one SET text = 'remote'").throw_if_error();
  auto direct = cortex::test::connect_signed_in(cortex::test::io(), remote.url());
  direct->call(rpc::use(c.namespace_, c.database));
  EXPECT_EQ(direct->query("SELECT VALUE text FROM ONLY note:one").at(0), Value("remote"));
}

// -- both ways ------------------------------------------------------------------------------

TEST(HybridBothWays, WritesMadeWhileTheCacheIsDownAreInItBeforeItServesAgain) {
  Sites s(/*persistent_cache=*/true);
  auto c = s.config();
  // The cache's breaker lets calls in again almost at once: only the catch-up gate keeps them out.
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(20);
  ConnectionManager m(c);
  m.query("CREATE note:a SET text = 'before'; CREATE note:gone SET text = 'before'").throw_if_error();
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  ASSERT_TRUE(m.health_status().sync->cache_serving);
  s.local.kill();
  // Found down (a read on the wire when it died is retried), then calls go to a remote.
  const auto read = [&](const char* key) {
    return m.execute_with_retry([&] { return m.query("SELECT VALUE text FROM ONLY type::record('note', $k)", {{"k", Value(key)}}); },
                                RetryOptions{true}).at(0);
  };
  EXPECT_EQ(read("a"), Value("before"));
  EXPECT_FALSE(m.health_status().sync->cache_serving);
  m.query("CREATE note:b SET text = 'during'").throw_if_error();
  m.query("UPDATE note:a SET text = 'changed during'").throw_if_error();
  m.query("DELETE note:gone").throw_if_error();
  s.local.restart();
  // From now on every read finds the outage's writes, whether a remote or the caught-up cache
  // serves it: the cache (its breaker already letting calls through) never answers from before.
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(read("b"), Value("during")) << "read " << i;
    ASSERT_EQ(read("a"), Value("changed during")) << "read " << i;
  }
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  const auto h = m.health_status();
  EXPECT_TRUE(h.sync->cache_serving);
  EXPECT_GE(h.sync->pulled_changes, 3u);
  EXPECT_EQ(m.metrics().snapshot().sync_pulled_changes, h.sync->pulled_changes);
  EXPECT_EQ(s.text(s.local.url(), "b"), Value("during"));
  EXPECT_EQ(s.text(s.local.url(), "a"), Value("changed during"));
  EXPECT_TRUE(s.text(s.local.url(), "gone").is_none());
  s.expect_all_equal();  // and the sync to the remotes resumed: the other remote has them too
}

TEST(HybridBothWays, ConcurrentEditsOfOneRecordEndWithTheNewerEverywhere) {
  Sites s;
  ConnectionManager m(s.config());
  const auto& cache = s.local.url();
  const auto r0 = s.remotes[0]->url(), r1 = s.remotes[1]->url();
  m.query("CREATE note:x SET text = 'v0'; CREATE note:y SET text = 'v0'; CREATE note:z SET text = 'v0'").throw_if_error();
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  // note:x: a remote edits it, then the cache (later): the cache's edit wins.
  s.edit(r0, "x", "remote");
  after_the_clock_moves(s, r0, cache);
  m.query("UPDATE note:x SET text = 'cache'").throw_if_error();
  // note:y: the cache edits it, then a remote (later): the remote's edit wins.
  m.query("UPDATE note:y SET text = 'cache'").throw_if_error();
  after_the_clock_moves(s, cache, r1);
  s.edit(r1, "y", "remote");
  // note:z: both remotes edit it, the second later: its edit wins, and reaches the first remote
  // through the cache.
  s.edit(r0, "z", "first");
  after_the_clock_moves(s, r0, r1);
  s.edit(r1, "z", "second");
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  for (const auto& url : {cache, r0, r1}) {
    EXPECT_EQ(s.text(url, "x"), Value("cache")) << url;
    EXPECT_EQ(s.text(url, "y"), Value("remote")) << url;
    EXPECT_EQ(s.text(url, "z"), Value("second")) << url;
  }
  // Settled: another pass moves nothing back and forth.
  const auto before = m.health_status().sync;
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  const auto after = m.health_status().sync;
  EXPECT_EQ(after->pulled_changes, before->pulled_changes);
  EXPECT_EQ(after->shipped_changes, before->shipped_changes);
  s.expect_all_equal();
}

TEST(HybridBothWays, ARemoteKilledAndRestartedGetsWhatItMissedAndItsOwnWritesComeBack) {
  Sites s(/*persistent_cache=*/false, /*persistent_remote=*/true);
  ConnectionManager m(s.config());
  write(m, 0, 20);
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  s.remotes[1]->kill();
  write(m, 20, 40);
  EXPECT_FALSE(m.sync_now(std::chrono::seconds(30)));  // one remote is down: said, not hidden
  EXPECT_NE(m.health_status().sync->last_error.find(s.remotes[1]->url()), std::string::npos);
  EXPECT_EQ(s.notes(s.remotes[0]->url()), s.notes(s.local.url()));  // the other got its share
  s.remotes[1]->restart();
  s.edit(s.remotes[1]->url(), "own", "written on the restarted remote");
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  EXPECT_EQ(s.text(s.local.url(), "own"), Value("written on the restarted remote"));
  s.expect_all_equal();
}

TEST(HybridBothWays, ACacheRestartedEmptyIsSeededFromTheRemotesBeforeItServes) {
  Sites s;  // an in-memory cache: a restart loses everything
  auto c = s.config();
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(20);
  ConnectionManager m(c);
  write(m, 0, 30);
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  const auto all = s.notes(s.remotes[0]->url());
  ASSERT_EQ(all, s.notes(s.local.url()));
  // Killed and back empty before any call noticed: the lost connections close the gate.
  s.local.kill();
  s.local.restart();
  for (int i = 0; i < 20; ++i) {
    const auto r = m.execute_with_retry([&] { return m.query("SELECT * FROM note ORDER BY id"); }, RetryOptions{true});
    ASSERT_EQ(r.at(0), all) << "read " << i;
  }
  ASSERT_TRUE(m.sync_now(std::chrono::seconds(30)));
  EXPECT_TRUE(m.health_status().sync->cache_serving);
  EXPECT_EQ(s.notes(s.local.url()), all);
  // And a new manager over a new empty cache is seeded before its constructor returns.
  LocalServer fresh(cortex::test::private_engine_options());
  auto c2 = s.config();
  std::get<ConnectionMode::Hybrid>(c2.connection_mode.mode).local_cache = fresh.url();
  ConnectionManager m2(c2);
  EXPECT_TRUE(m2.health_status().sync->cache_serving);
  EXPECT_EQ(s.notes(fresh.url()), all);
  EXPECT_EQ(m2.query("SELECT * FROM note ORDER BY id").at(0), all);
}

// Two caches on one remote, both with the default configuration (before: both used the sync name
// "cortex-hybrid", each dropped the other's shipments as its own echoes, and B's writes never
// reached the remote nor A, while every pass said it succeeded).
TEST(HybridBothWays, TwoCachesOnOneRemoteWithDefaultSettingsEachGetTheOthersWrites) {
  LocalServer cache_a(engine(false)), cache_b(engine(false)), remote(engine(false));
  const std::string ns = cortex::test::unique_name("two_caches");
  ConnectionManager a(hybrid_config(cache_a.url(), {remote.url()}, ns));
  ConnectionManager b(hybrid_config(cache_b.url(), {remote.url()}, ns));
  a.query("CREATE note:a SET text = 'from a'").throw_if_error();
  b.query("CREATE note:b SET text = 'from b'").throw_if_error();
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(a.sync_now(std::chrono::seconds(30)));
    ASSERT_TRUE(b.sync_now(std::chrono::seconds(30)));
  }
  const auto texts = [&](const std::string& url) {
    auto c = cortex::test::connect_signed_in(cortex::test::io(), url);
    c->call(rpc::use(ns, "main"));
    return c->query("SELECT VALUE text FROM note ORDER BY text").at(0);
  };
  const Value both(Array{Value("from a"), Value("from b")});
  EXPECT_EQ(texts(remote.url()), both);
  EXPECT_EQ(texts(cache_a.url()), both);
  EXPECT_EQ(texts(cache_b.url()), both);
  EXPECT_GT(b.health_status().sync->shipped_changes, 0u);
  EXPECT_GT(b.health_status().sync->pulled_changes, 0u);
}
