// Remote mode on three real engines: each strategy's distribution, HealthBased moving traffic off
// a slow endpoint and back, breakers opening on a black-holed endpoint and closing after heal,
// circuit_open at once when every endpoint is down.
#include <gtest/gtest.h>

#include <array>
#include <map>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "fault_proxy.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::error_of;
using cortex::test::FaultProxy;

namespace {

// Three engines, each with a database parameter $node naming it, so a call's answer says which
// endpoint served it.
struct Cluster {
  std::array<std::unique_ptr<LocalServer>, 3> servers;
  std::array<std::unique_ptr<FaultProxy>, 3> proxies;
  std::string ns = cortex::test::unique_name("cluster");

  Cluster() {
    for (int i = 0; i < 3; ++i) {
      servers[i] = std::make_unique<LocalServer>(cortex::test::private_engine_options());
      proxies[i] = std::make_unique<FaultProxy>(servers[i]->url());
      auto c = cortex::test::connect_signed_in(cortex::test::io(), servers[i]->url());
      c->call(rpc::use(ns, "main"));
      c->query("DEFINE PARAM $node VALUE $name", {{"name", Value(static_cast<std::int64_t>(i))}}).throw_if_error();
    }
  }

  DatabaseConfig config(LoadBalancingStrategy s) const {
    DatabaseConfig c;
    c.credentials = cortex::test::root_credentials();
    c.connection_mode.mode = ConnectionMode::Remote{{proxies[0]->url(), proxies[1]->url(), proxies[2]->url()}, s};
    c.pool_config.min_connections = 0;
    c.pool_config.max_connections = 4;
    c.pool_config.connection_timeout = std::chrono::milliseconds(2000);
    c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(10);
    c.pool_config.retry_policy.max_backoff = std::chrono::milliseconds(50);
    c.shared_connections = 1;
    c.namespace_ = ns;
    return c;
  }
};

int node_of(ConnectionManager& m, RequestOptions o = {}) {
  return static_cast<int>(m.query("RETURN $node", {}, o).at(0).get<std::int64_t>());
}

std::array<int, 3> distribute(ConnectionManager& m, int calls) {
  std::array<int, 3> n{};
  for (int i = 0; i < calls; ++i) ++n[static_cast<std::size_t>(node_of(m))];
  return n;
}

}  // namespace

TEST(Endpoints, EachStrategyDistributesAsDefined) {
  Cluster cl;
  {
    ConnectionManager m(cl.config(LoadBalancingStrategy::RoundRobin));
    EXPECT_EQ(distribute(m, 300), (std::array<int, 3>{100, 100, 100}));
  }
  {
    // One call at a time: every endpoint has the same (zero) activity, so ties rotate.
    ConnectionManager m(cl.config(LoadBalancingStrategy::LeastConnections));
    EXPECT_EQ(distribute(m, 300), (std::array<int, 3>{100, 100, 100}));
    // A lease held on one endpoint makes it the busiest: the next calls go elsewhere.
    auto lease = m.acquire();
    const int busy = static_cast<int>(lease->query("RETURN $node").at(0).get<std::int64_t>());
    const auto n = distribute(m, 60);
    EXPECT_EQ(n[static_cast<std::size_t>(busy)], 0);
  }
  {
    ConnectionManager m(cl.config(LoadBalancingStrategy::Random));
    for (int c : distribute(m, 600)) EXPECT_NEAR(c, 200, 70);  // binomial sd ≈ 11.5: 6 sd
  }
}

TEST(Endpoints, HealthBasedMovesTrafficOffASlowEndpointAndBack) {
  Cluster cl;
  ConnectionManager m(cl.config(LoadBalancingStrategy::HealthBased));
  distribute(m, 60);  // every endpoint has a record of being fast
  cl.proxies[2]->latency(std::chrono::milliseconds(50));
  const auto slow = distribute(m, 600);
  EXPECT_LT(slow[2] * 3, slow[0]) << slow[0] << "/" << slow[1] << "/" << slow[2];
  EXPECT_LT(slow[2] * 3, slow[1]);
  cl.proxies[2]->heal();
  // Recovered: its share comes back as fast answers replace its slow record (bounded).
  bool back = false;
  for (int round = 0; round < 200 && !back; ++round) {
    const auto n = distribute(m, 300);
    back = n[2] >= 60;  // a fair share is 100
  }
  EXPECT_TRUE(back);
}

TEST(Endpoints, BlackHoledEndpointOpensItsBreakerTrafficMovesAndItClosesAfterHeal) {
  Cluster cl;
  auto c = cl.config(LoadBalancingStrategy::RoundRobin);
  c.circuit_breaker.failure_threshold = 3;
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(300);
  ConnectionManager m(c);
  distribute(m, 30);  // shared connections open on every endpoint
  cl.proxies[1]->black_hole();
  RequestOptions quick;
  quick.timeout = std::chrono::milliseconds(300);
  // Timeouts alone do not open a breaker (the caller may just be in a hurry); each makes the
  // connection probe its peer, which finds it silent (keepalive death: connection_lost), and the
  // reconnects through the black hole time out: those are endpoint failures. Callers see the
  // timeouts, and may see an endpoint failure of a call in flight — or not, when the failover
  // carried their unsent calls elsewhere: the endpoint's health names what opened its breaker.
  int timeouts = 0, untyped = 0;
  for (int i = 0; i < 2000 && m.health_status().endpoints[1].circuit_breaker_state != "Open"; ++i) {
    try {
      node_of(m, quick);
    } catch (const cortex::Error& e) {
      // pool_timeout: the call's one deadline passed while a connection to the black hole was
      // opening (failover gives the next endpoint only what is left of it, never a fresh one).
      if (e.code() == make_error_code(Errc::timeout) || e.code() == make_error_code(Errc::pool_timeout)) ++timeouts;
      else if (!cortex::pool::is_endpoint_failure(e.code())) ADD_FAILURE() << e.what();
    } catch (...) {
      ++untyped;
    }
  }
  const auto opened = m.health_status().endpoints[1];
  EXPECT_EQ(opened.circuit_breaker_state, "Open");
  EXPECT_GT(timeouts, 0);
  EXPECT_EQ(untyped, 0);
  EXPECT_FALSE(opened.healthy);
  EXPECT_FALSE(opened.last_error.empty());
  // While it is open every call goes to the others, and succeeds.
  const auto moved = distribute(m, 100);
  EXPECT_EQ(moved[1], 0);
  EXPECT_EQ(moved[0] + moved[2], 100);
  cl.proxies[1]->heal();
  // After open_timeout a probe goes through; its success closes the breaker (bounded).
  bool closed = false;
  for (int i = 0; i < 100000 && !closed; ++i) {
    node_of(m, quick);
    closed = m.health_status().endpoints[1].circuit_breaker_state == "Closed";
  }
  EXPECT_TRUE(closed);
  EXPECT_GT(distribute(m, 30)[1], 0);
  EXPECT_GE(m.metrics().snapshot().breaker_transitions, 3u);
}

TEST(Endpoints, EveryEndpointDownFailsWithCircuitOpenAtOnce) {
  Cluster cl;
  auto c = cl.config(LoadBalancingStrategy::RoundRobin);
  c.circuit_breaker.failure_threshold = 2;
  c.circuit_breaker.open_timeout = std::chrono::seconds(60);
  c.pool_config.connection_timeout = std::chrono::seconds(30);  // never waited out below
  ConnectionManager m(c);
  for (auto& p : cl.proxies) p->refuse();
  // Connect failures fail over across all three and count against each breaker.
  std::vector<std::error_code> seen;
  for (int i = 0; i < 10 && m.health_status().circuit_breaker_state != "Open"; ++i) {
    seen.push_back(error_of([&] { m.query("RETURN 1"); }));
  }
  ASSERT_EQ(m.health_status().circuit_breaker_state, "Open");
  for (const auto& ec : seen) EXPECT_EQ(ec, make_error_code(Errc::connect_failed));
  EXPECT_EQ(error_of([&] { m.query("RETURN 1"); }), make_error_code(Errc::circuit_open));
  EXPECT_EQ(error_of([&] { m.acquire(); }), make_error_code(Errc::circuit_open));
  EXPECT_FALSE(m.health_status().healthy);
}

// One failover loop for calls, leases and session connections: when every endpoint fails, the
// error names each one tried and why.
TEST(Endpoints, WhenEveryEndpointFailsTheErrorNamesEachAndWhy) {
  Cluster cl;
  auto c = cl.config(LoadBalancingStrategy::RoundRobin);
  c.circuit_breaker.failure_threshold = 100;  // keep the breakers out of it
  ConnectionManager m(c);
  for (auto& p : cl.proxies) p->refuse();
  auto expect_all_named = [&](const std::function<void()>& work) {
    try {
      work();
      ADD_FAILURE() << "succeeded with every endpoint refusing";
    } catch (const cortex::Error& e) {
      EXPECT_EQ(e.code(), make_error_code(Errc::connect_failed)) << e.what();
      for (auto& p : cl.proxies) EXPECT_NE(std::string(e.what()).find(p->url()), std::string::npos) << e.what();
    }
  };
  expect_all_named([&] { m.query("RETURN 1"); });
  expect_all_named([&] { m.acquire(); });
  expect_all_named([&] { m.shared_connection(); });
  EXPECT_GE(m.metrics().snapshot().failovers, 6u);
  for (auto& p : cl.proxies) p->heal();
}
