// Metrics people can scrape, against the real engine: every request counts once whatever path it
// took (shared, lease, session), per-endpoint series show a dead endpoint, the Prometheus text
// passes `promtool check metrics`, and MetricsServer serves /metrics and /health.
#include <gtest/gtest.h>

#include <poll.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/metrics_server.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "latch.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::sessions::AgentSession;

namespace {

DatabaseConfig config_for(std::vector<std::string> urls) {
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  if (urls.size() == 1) {
    c.connection_mode.mode = ConnectionMode::Local{urls[0]};
  } else {
    c.connection_mode.mode = ConnectionMode::Remote{urls, LoadBalancingStrategy::RoundRobin};
  }
  c.pool_config.min_connections = 0;
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(10);
  c.health_check_interval = std::chrono::milliseconds(0);  // no background pings between readings
  c.namespace_ = cortex::test::unique_name("metrics");
  return c;
}

/// A port nothing listens on (bound, then closed).
std::uint16_t dead_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// `promtool check metrics` on `text`: its exit status and what it printed ("" when clean).
std::pair<int, std::string> promtool(const std::string& text) {
  const std::string file = testing::TempDir() + cortex::test::unique_name("metrics") + ".prom";
  std::ofstream(file) << text;
  const std::string cmd = std::string(CORTEX_PROMTOOL) + " check metrics < " + file + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  std::remove(file.c_str());
  return {WEXITSTATUS(status), out};
}

/// One HTTP/1.1 request to 127.0.0.1:port; the whole response (the server closes after it).
std::string http(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(request));
  std::string out;
  std::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);  // to EOF
  return out;
}

std::string body_of(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }

}  // namespace

// Before: successes/errors counted only execute_with_retry, and request_time left out leases.
TEST(MetricsExposition, EveryRequestCountsOnceWhateverItsPath) {
  ConnectionManager m(config_for({cortex::test::engine_url()}));
  auto session = AgentSession::create("counter", m, cortex::test::unique_name("agent"));
  session->query("RETURN 0").throw_if_error();  // binds the session (its set-up requests count too)
  ASSERT_TRUE(m.wait_idle(std::chrono::seconds(30)));
  auto delta = [&](const cortex::metrics::MetricsSnapshot& a) {
    const auto b = m.metrics().snapshot();
    return std::array<std::uint64_t, 3>{b.successes - a.successes, b.errors - a.errors, b.request_time.count - a.request_time.count};
  };
  using Counts = std::array<std::uint64_t, 3>;  // successes, errors, timed

  auto s0 = m.metrics().snapshot();
  m.query("RETURN 1").throw_if_error();  // shared path
  EXPECT_EQ(delta(s0), (Counts{1, 0, 1}));

  s0 = m.metrics().snapshot();
  EXPECT_THROW(m.query("SELEC nonsense FROM"), cortex::Error);  // a parse error is a server error
  EXPECT_EQ(delta(s0), (Counts{0, 1, 1}));

  {
    auto lease = m.acquire();
    s0 = m.metrics().snapshot();
    lease->query("RETURN 2").throw_if_error();  // an exclusive lease's own call
    EXPECT_EQ(delta(s0), (Counts{1, 0, 1}));
  }
  ASSERT_TRUE(m.wait_idle(std::chrono::seconds(30)));  // the lease's restore, if any, is counted

  s0 = m.metrics().snapshot();
  session->query("RETURN 3").throw_if_error();  // an agent session's call
  EXPECT_EQ(delta(s0), (Counts{1, 0, 1}));

  // The request execute_with_retry's function makes is counted once (its operation counts apart).
  s0 = m.metrics().snapshot();
  m.execute_with_retry([&] { return m.query("RETURN 4"); });
  EXPECT_EQ(delta(s0), (Counts{1, 0, 1}));
}

// Before: promtool exit 3 with 30 problems; no per-endpoint or breaker series; one label set per agent.
TEST(MetricsExposition, PromtoolAcceptsAManagersMetricsWithEndpointsAndAgents) {
  const std::string dead = "ws://127.0.0.1:" + std::to_string(dead_port());
  auto c = config_for({cortex::test::engine_url(), dead});
  c.pool_config.min_connections = 1;  // each pool warms a connection: the dead one fails
  cortex::test::Completions dead_seen;
  c.on_event = [dead, seen = dead_seen.handler()](const cortex::metrics::PoolEvent& e) {
    if (e.kind == cortex::metrics::PoolEventKind::connect_failed && e.endpoint.rfind(dead, 0) == 0) seen({}, Value());
  };
  ConnectionManager m(c);
  ASSERT_TRUE(dead_seen.wait_for(1, std::chrono::seconds(60)));
  const std::string dead_url = m.endpoint_urls()[1];  // as configured, with the /rpc path
  constexpr int kAgents = 8;
  std::vector<std::shared_ptr<AgentSession>> agents;
  for (int a = 0; a < kAgents; ++a) {
    agents.push_back(AgentSession::create("agent \"" + std::to_string(a) + "\"\n", m, cortex::test::unique_name("agent")));
    for (int i = 0; i <= a; ++i) agents.back()->query("RETURN $i", {{"i", Value(std::int64_t{i})}}).throw_if_error();
  }
  const auto snap = m.metrics().snapshot();
  ASSERT_EQ(snap.endpoints.size(), 2u);
  EXPECT_EQ(snap.endpoints[1].url, dead_url);
  EXPECT_GE(snap.endpoints[1].connect_failures, 1u);
  EXPECT_FALSE(snap.endpoints[1].up);
  EXPECT_TRUE(snap.endpoints[0].up);
  EXPECT_GE(snap.endpoints[0].requests, 1u);

  cortex::metrics::PrometheusOptions o;
  o.max_agents = 3;
  const auto text = snap.to_prometheus(o);
  const auto [status, problems] = promtool(text);
  EXPECT_EQ(status, 0) << problems << "\n" << text;
  EXPECT_EQ(problems, "") << text;
  EXPECT_NE(text.find("cortex_pool_endpoint_up{endpoint=\"" + dead_url + "\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("cortex_pool_endpoint_breaker_state{endpoint=\"" + dead_url + "\",state="), std::string::npos);
  // The first three agents seen (not the busiest: a series, once given, stays, so that "other"
  // never goes down), then the other five summed: operations are conserved.
  EXPECT_NE(text.find("cortex_pool_agent_operations_total{agent=\"agent \\\"0\\\"\\n\"}"), std::string::npos) << text;
  EXPECT_EQ(text.find("agent=\"agent \\\"7\\\"\\n\""), std::string::npos) << text;
  std::uint64_t all_ops = 0;
  for (const auto& a : snap.agents) all_ops += a.operations;
  std::uint64_t rendered = 0;
  for (std::size_t at = 0; (at = text.find("cortex_pool_agent_operations_total{", at)) != std::string::npos; ++at) {
    rendered += std::stoull(text.substr(text.find("} ", at) + 2));
  }
  EXPECT_EQ(rendered, all_ops);
  EXPECT_NE(text.find("agent=\"other\""), std::string::npos);
}

TEST(MetricsExposition, MetricsServerServesMetricsAndHealthAndRefusesTheRest) {
  ConnectionManager m(config_for({cortex::test::engine_url()}));
  m.query("RETURN 1").throw_if_error();
  MetricsServer server(m);
  ASSERT_NE(server.port(), 0);

  const auto metrics = http(server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const auto [status, problems] = promtool(body_of(metrics));
  EXPECT_EQ(status, 0) << problems;

  const auto health = http(server.port(), "GET /health?verbose=1 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << health;
  EXPECT_NE(body_of(health).find("\"healthy\":true"), std::string::npos) << health;

  EXPECT_EQ(http(server.port(), "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http(server.port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  const auto head = http(server.port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(body_of(head), "");
  // A request head over the limit is dropped without an answer.
  EXPECT_EQ(http(server.port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"), "");

  server.close();
  server.close();  // idempotent
  MetricsServerOptions bad;
  bad.address = "not-an-address";
  EXPECT_EQ(cortex::test::error_of([&] { MetricsServer s(m, bad); }), cortex::make_error_code(cortex::Errc::invalid_argument));
}

TEST(MetricsExposition, MetricsServerRefusesAPortInUse) {
  ConnectionManager m(config_for({cortex::test::engine_url()}));
  MetricsServer first(m);
  MetricsServerOptions o;
  o.port = first.port();
  // Linux refuses a second listener on a bound port even with SO_REUSEADDR.
  EXPECT_EQ(cortex::test::error_of([&] { MetricsServer second(m, o); }), cortex::make_error_code(cortex::Errc::server_start_failed));
}

namespace {

/// Whether the server closed `s` (end of stream or reset) within `limit`: a hang guard, not a timing
/// check (the server's own deadline decides when).
bool closed_by_server(asio::ip::tcp::socket& s, std::chrono::milliseconds limit) {
  pollfd p{s.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  char c = 0;
  std::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  return static_cast<bool>(ec);
}

}  // namespace

// Before: the server's handlers ran on whichever io thread was free, so with io_threads > 1 the
// accept handler added to the socket set while a finished exchange removed from it, and a timer
// closed a socket a read was using: ThreadSanitizer reports those races (the suite runs under it);
// a normal build could corrupt the set. Now they all run on one strand. Idle clients time out while
// scrapes run on several threads, and the server is stopped with clients connected.
TEST(MetricsExposition, MetricsServerOnSeveralIoThreadsScrapesTimesOutAndStops) {
  ConnectionManager m(config_for({cortex::test::engine_url()}), 4);
  m.query("RETURN 1").throw_if_error();
  MetricsServerOptions o;
  o.max_connections = 64;
  o.request_timeout = std::chrono::milliseconds(2000);
  auto server = std::make_unique<MetricsServer>(m, o);
  const asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), server->port());
  asio::io_context io;
  const auto connect = [&] {
    asio::ip::tcp::socket s(io);
    s.connect(at);
    return s;
  };

  std::vector<asio::ip::tcp::socket> idle;  // never send a byte: their deadline closes them
  for (int i = 0; i < 16; ++i) idle.push_back(connect());
  std::atomic<bool> idle_closed{false};
  std::atomic<int> scrapes{0}, answered{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 6; ++t) {
    scrapers.emplace_back([&, t] {
      // Until the idle clients are closed, so that the timers fire while exchanges run (at least one round each).
      do {
        const auto r = http(server->port(), t % 2 ? "GET /metrics HTTP/1.1\r\n\r\n" : "GET /health HTTP/1.1\r\n\r\n");
        ++scrapes;
        if (r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0) ++answered;
      } while (!idle_closed);
    });
  }
  for (auto& s : idle) EXPECT_TRUE(closed_by_server(s, std::chrono::seconds(60)));
  idle_closed = true;
  for (auto& t : scrapers) t.join();
  EXPECT_GE(scrapes.load(), 6);
  EXPECT_EQ(answered.load(), scrapes.load());

  // Stopped while clients are connected, one of them half-way through its request: each is closed.
  std::vector<asio::ip::tcp::socket> connected;
  for (int i = 0; i < 8; ++i) connected.push_back(connect());
  asio::write(connected.front(), asio::buffer(std::string("GET /metr")));
  server.reset();  // close() and destroy
  for (auto& s : connected) EXPECT_TRUE(closed_by_server(s, std::chrono::seconds(60)));
  EXPECT_EQ(m.query("RETURN 1").at(0), Value(1));  // the manager and its io threads are unharmed
}
