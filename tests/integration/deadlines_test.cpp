// Deadlines that hold: an acquire, a shared call and shutdown end by their own deadline (plus a
// slack for scheduling) whatever runs beneath them — checks of dead idle connections, a connect
// that hangs, a sync blocked on a black-holed remote. The slacks are generous (seconds) and far
// below what each took before it was fixed (one ping per bad connection, the connect timeout, the
// sync's request timeout): they tell a deadline that holds from one that does not, not speed.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <thread>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "fault_proxy.hpp"
#include "within.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {
milliseconds since(Clock::time_point t) { return std::chrono::duration_cast<milliseconds>(Clock::now() - t); }
}  // namespace

// Eight idle connections whose server stopped answering: each check fails, but all the checks
// together stay within the one acquire deadline (before: one full ping timeout per connection).
TEST(Deadlines, AcquireChecksOfDeadIdleConnectionsShareTheAcquireDeadline) {
  LocalServer server(cortex::test::private_engine_options());
  ConnectionPoolParams p;
  p.url = server.url();
  p.defaults.ns = cortex::test::unique_name("deadline");
  p.defaults.db = "main";
  p.defaults.credentials = cortex::test::root_credentials();
  p.config.min_connections = 8;
  p.config.max_connections = 8;
  p.config.connection_timeout = milliseconds(300);  // the acquire deadline; connects keep their own
  p.validate_after_idle = milliseconds(1);
  p.health_check_interval = milliseconds(0);
  auto warm = ConnectionPool::create(cortex::test::io(), p);
  ASSERT_TRUE(warm->wait_quiet(std::chrono::seconds(60)));  // all eight opened
  ASSERT_EQ(warm->status().idle, 8u);
  server.pause();  // every idle connection is now half-open
  // Idle for longer than validate_after_idle (a duration to pass, not an event to await).
  std::this_thread::sleep_for(milliseconds(50));
  const auto t0 = Clock::now();
  const auto ec = cortex::test::error_of([&] { warm->acquire(); });
  const auto took = since(t0);
  server.resume();
  EXPECT_EQ(ec, make_error_code(Errc::pool_timeout));
  EXPECT_LT(took, milliseconds(300 + 1500)) << took.count() << " ms";  // before: 8 × 300 ms
}

// A shared call queued behind a connect that hangs ends by its own deadline, as never sent.
TEST(Deadlines, ASharedCallWaitingForAConnectionEndsByItsOwnDeadline) {
  LocalServer server(cortex::test::private_engine_options());
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  c.connection_mode.mode = ConnectionMode::Local{server.url()};
  c.pool_config.min_connections = 0;
  c.pool_config.connection_timeout = std::chrono::seconds(20);  // the connect's own timeout
  ConnectionManager m(c);
  server.pause();  // the kernel accepts the TCP connection; the upgrade is never answered
  RequestOptions quick;
  quick.timeout = milliseconds(200);
  const auto t0 = Clock::now();
  const auto ec = cortex::test::error_of([&] { m.query("RETURN 1", {}, quick); });
  const auto took = since(t0);
  server.resume();
  EXPECT_EQ(ec, make_error_code(Errc::pool_timeout));  // never sent: safe to retry
  EXPECT_TRUE(cortex::is_safe_to_retry(ec));
  EXPECT_LT(took, milliseconds(200 + 3000)) << took.count() << " ms";  // before: the 20 s connect
}

// shutdown(0) with the Hybrid sync blocked on a black-holed remote: the sync's calls are aborted.
TEST(Deadlines, ShutdownWithASyncBlockedOnABlackHoledRemoteEndsPromptly) {
  LocalServer local(cortex::test::private_engine_options());
  LocalServer remote(cortex::test::private_engine_options());
  cortex::test::FaultProxy proxy(remote.url());
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  ConnectionMode::Hybrid h;
  h.local_cache = local.url();
  h.remote_sync = {proxy.url()};
  h.sync_interval = std::chrono::hours(1);
  h.tables = {"note"};
  c.connection_mode.mode = h;
  c.pool_config.min_connections = 0;
  c.pool_config.connection_timeout = std::chrono::seconds(20);
  c.namespace_ = cortex::test::unique_name("hybrid_deadline");
  auto m = std::make_unique<ConnectionManager>(c);
  ASSERT_TRUE(m->sync_now(std::chrono::seconds(60)));
  m->query("CREATE note SET n = 1").throw_if_error();
  proxy.black_hole();
  EXPECT_FALSE(m->sync_now(milliseconds(300)));  // the pass is now stuck on the remote
  const auto t0 = Clock::now();
  m->shutdown(milliseconds(0));
  m.reset();
  const auto took = since(t0);
  EXPECT_LT(took, milliseconds(3000)) << took.count() << " ms";  // before: the sync's 30 s request timeout
  proxy.heal();
}

// A shared call over three silent endpoints (their connects hang): one deadline for the whole call,
// not a fresh one per endpoint (before: 2 s took 6 s, one timeout per endpoint). The endpoint tried
// is not healthy afterwards: no connection opened there within the deadline is no success (before:
// pool_timeout was recorded as one, so every endpoint read healthy with an empty last_error).
TEST(Deadlines, FailoverKeepsTheCallsOneDeadlineAcrossSilentEndpoints) {
  std::array<std::unique_ptr<cortex::test::FaultProxy>, 3> proxies;
  for (auto& p : proxies) {
    p = std::make_unique<cortex::test::FaultProxy>(cortex::test::engine_url());
    p->black_hole();
  }
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  c.connection_mode.mode = ConnectionMode::Remote{{proxies[0]->url(), proxies[1]->url(), proxies[2]->url()},
                                                  LoadBalancingStrategy::RoundRobin};
  c.pool_config.min_connections = 0;
  c.pool_config.connection_timeout = std::chrono::seconds(20);  // the connects' own timeout
  c.namespace_ = cortex::test::unique_name("deadline");
  ConnectionManager m(c);
  const auto timeout = milliseconds(2000);
  const auto t0 = Clock::now();
  const auto [ec, why] = cortex::test::failure_of([&] { m.query("RETURN 1", {}, cortex::test::within(timeout)); });
  const auto took = since(t0);
  EXPECT_EQ(ec, make_error_code(Errc::pool_timeout)) << why;
  // The deadline was spent on the first endpoint: no other was tried.
  int named = 0;
  for (const auto& p : proxies) named += why.find(p->url()) != std::string::npos;
  EXPECT_LE(named, 1) << why;
  EXPECT_LT(took, timeout + milliseconds(1500)) << took.count() << " ms";  // before: 3 × 2 s
  const auto health = m.health_status();
  int unhealthy = 0;
  for (const auto& e : health.endpoints) {
    if (!e.healthy) {
      ++unhealthy;
      EXPECT_FALSE(e.last_error.empty()) << e.url;
    }
  }
  EXPECT_EQ(unhealthy, 1);  // the one tried: it opened nothing within the deadline
  for (auto& p : proxies) p->heal();
}
