// Seeded random histories against the manager's whole composition — three endpoints (fault
// proxies in front of one real engine) with pools, the shared path, failover, breakers, leases and
// agent sessions — under seeded random faults (connect refused, silent, slow, dropped mid-request,
// server stopped with SIGSTOP, killed and restarted with or without its data). Checked on every
// history (docs/invariants.md):
//  - every call ends exactly once, by its deadline plus kTolerance;
//  - no acknowledged write is lost (unless the server restarted without its data);
//  - no call runs under another caller's identity, namespace, database or variables: the shared
//    path refuses every method that would change its session (the method table), and each probe
//    sees the shared session, the lease's or the agent's own;
//  - at the end nothing leaks (leases, waiters, calls in flight) and no counter ever went down.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "cortex/storage/value_json.hpp"
#include "engine.hpp"
#include "fault_proxy.hpp"
#include "within.hpp"
#include "history.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using namespace cortex::history;
using cortex::Errc;
using cortex::make_error_code;

namespace {

constexpr milliseconds kCallTimeout{2000};    // each shared call's own deadline
constexpr milliseconds kAcquireTimeout{2000}; // connection_timeout: an acquire's deadline
constexpr milliseconds kTolerance = kSlack;  // < kCallTimeout in the normal build: a deadline granted twice shows
constexpr int kSteps = 50;

struct World {
  explicit World(Rng& rng) : persistent(rng.chance(0.7)) {
    auto o = cortex::test::private_engine_options();
    if (persistent) o.store = "surrealkv://" + (std::filesystem::temp_directory_path() / cortex::test::unique_name("history")).string();
    engine = std::make_unique<LocalServer>(o);
    for (auto& p : proxies) p = std::make_unique<cortex::test::FaultProxy>(engine->url());
    DatabaseConfig c;
    c.credentials = cortex::test::root_credentials();
    const LoadBalancingStrategy strategies[] = {LoadBalancingStrategy::RoundRobin, LoadBalancingStrategy::LeastConnections,
                                                LoadBalancingStrategy::Random, LoadBalancingStrategy::HealthBased};
    c.connection_mode.mode =
        ConnectionMode::Remote{{proxies[0]->url(), proxies[1]->url(), proxies[2]->url()}, strategies[rng.below(4)]};
    c.pool_config.min_connections = 0;
    c.pool_config.max_connections = 3;
    c.pool_config.connection_timeout = kAcquireTimeout;
    c.pool_config.retry_policy.initial_backoff = milliseconds(10);
    c.pool_config.retry_policy.max_backoff = milliseconds(100);
    c.shared_connections = 1;
    c.circuit_breaker.failure_threshold = 2 + rng.below(3);
    c.circuit_breaker.open_timeout = rng.between(50, 400);
    c.health_check_interval = milliseconds(200);
    c.namespace_ = cortex::test::unique_name("history");
    c.database = "main";
    config = c;
    manager = std::make_unique<ConnectionManager>(c, 1 + rng.below(2));
    define_record_access();
  }

  // A record user with refresh tokens: the pair a history tries to slip onto the shared path.
  void define_record_access() {
    auto admin = direct();
    admin->query("DEFINE TABLE IF NOT EXISTS item SCHEMALESS;"
                 "DEFINE TABLE user SCHEMAFULL PERMISSIONS FOR select WHERE id = $auth.id;"
                 "DEFINE FIELD email ON user TYPE string; DEFINE FIELD pass ON user TYPE string;"
                 "DEFINE ACCESS account ON DATABASE TYPE RECORD "
                 "SIGNUP (CREATE user SET email = $email, pass = crypto::argon2::generate($pass)) "
                 "SIGNIN (SELECT * FROM user WHERE email = $email AND crypto::argon2::compare(pass, $pass)) "
                 "WITH REFRESH DURATION FOR GRANT 1d")
        .throw_if_error();
    auto user = RpcConnection::connect(cortex::test::io(), engine->url());
    pair = rpc::token_pair(user->call(rpc::signup(cortex::test::record_credentials(
        config.namespace_, config.database, "account", {{"email", Value("eve@example.com")}, {"pass", Value("pw")}}))));
    if (!pair) throw std::runtime_error("signup answered no token pair");
  }

  // A signed-in connection straight to the engine (no proxy), in the manager's namespace.
  std::shared_ptr<RpcConnection> direct() {
    auto c = cortex::test::connect_signed_in(cortex::test::io(), engine->url());
    c->call(rpc::use(config.namespace_, config.database));
    return c;
  }

  bool persistent;
  std::unique_ptr<LocalServer> engine;
  std::array<std::unique_ptr<cortex::test::FaultProxy>, 3> proxies;
  DatabaseConfig config;
  std::unique_ptr<ConnectionManager> manager;
  std::optional<TokenPair> pair;
};

// The methods a shared call must never run: every one that changes who the session is, where it
// is or what it holds.
std::vector<Request> identity_changers(const TokenPair& pair) {
  std::vector<Request> out;
  for (const auto& f : rpc::known_methods()) {
    if (f.changes_identity()) out.push_back(Request{std::string(f.name), {}});
  }
  out.push_back(rpc::refresh(pair));  // with a real pair: it would sign the session in as the record user
  out.push_back(rpc::use("elsewhere", "other"));
  out.push_back(rpc::let("marker", Value("leaked")));
  return out;
}

class SharedHistory : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(SharedHistory, InvariantsHoldUnderRandomFaults) {
  const auto seed = GetParam();
  SCOPED_TRACE(replay_hint("SharedHistory", seed));
  Rng rng(seed);
  World w(rng);
  auto& m = *w.manager;
  Ledger ledger(kTolerance);
  CounterWatch counters;
  Tally tally;
  std::set<std::int64_t> acked;  // writes the manager acknowledged
  std::int64_t next_write = 0;
  const auto changers = identity_changers(*w.pair);
  std::map<int, std::shared_ptr<cortex::sessions::AgentSession>> agents;
  bool paused = false;  // the engine stopped (SIGSTOP) until step resume_at
  int resume_at = -1;
  std::array<int, 3> heals{-1, -1, -1};  // the step each proxy's fault heals at

  const auto shared_call = [&](Request r, const std::string& what) {
    auto done = ledger.start();
    auto slot = std::make_shared<Value>();
    m.async_call(std::move(r), cortex::test::within(kCallTimeout), [done, slot](std::error_code ec, Value v) {
      *slot = std::move(v);
      done->complete(ec);
    });
    ledger.settle(done, kCallTimeout, what);
    ++tally.calls;
    std::lock_guard<std::mutex> lock(done->mu);
    return std::make_pair(done->ec, *slot);
  };

  for (int step = 0; step < kSteps; ++step) {
    const std::string at = "seed " + std::to_string(seed) + " step " + std::to_string(step);
    const int op = rng.below(100);
    if (op < 22) {  // an acknowledged write
      const auto n = next_write++;
      auto [ec, v] = shared_call(rpc::query("CREATE $id SET n = $n", {{"id", Value(RecordId{"item", Box<Value>(Value(n))})}, {"n", Value(n)}}),
                                 at + " write");
      if (!ec && QueryResult::parse(v).ok()) acked.insert(n);
    } else if (op < 36) {  // the shared session is the manager's, whoever ran before
      auto [ec, v] = shared_call(rpc::query("RETURN [session::ns(), session::db(), session::ac(), $marker]"), at + " probe");
      if (!ec) {
        const auto who = QueryResult::parse(v);
        if (who.ok()) {
          const auto& row = who.at(0);
          EXPECT_EQ(row[std::size_t{0}], Value(w.config.namespace_)) << at << ": " << to_json_text(row);
          EXPECT_EQ(row[1], Value(w.config.database)) << at << ": " << to_json_text(row);
          EXPECT_FALSE(row[2].is<std::string>()) << at << ": the shared session runs as record access " << to_json_text(row);
          EXPECT_FALSE(row[3].is<std::string>()) << at << ": a variable leaked into the shared session " << to_json_text(row);
        }
      }
    } else if (op < 46) {  // every method that would change the shared session, in a random order:
                           // refused before anything is sent, whatever the faults (so cheap: all of them)
      auto order = changers;
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<std::size_t>(rng.below(static_cast<int>(i)))]);
      for (const auto& r : order) {
        auto [ec, v] = shared_call(r, at + " " + r.method);
        EXPECT_EQ(ec, make_error_code(Errc::session_state_on_shared_path)) << at << ": '" << r.method << "' was let onto the shared path";
      }
    } else if (op < 58) {  // a lease changes its own session; the next holder gets it restored
      const auto t0 = Clock::now();
      try {
        auto lease = m.acquire();
        ledger.timed(t0, kAcquireTimeout, at + " acquire");
        lease->call(rpc::use(w.config.namespace_ + "_lease", "l"), cortex::test::within(kCallTimeout));
        lease->call(rpc::let("marker", Value("lease")), cortex::test::within(kCallTimeout));
        const auto ns = lease->query("RETURN session::ns()", {}, cortex::test::within(kCallTimeout)).at(0);
        EXPECT_EQ(ns, Value(w.config.namespace_ + "_lease")) << at;
      } catch (const cortex::Error& e) {
        if (e.code() == make_error_code(Errc::pool_timeout)) ledger.timed(t0, kAcquireTimeout, at + " acquire");
      }
      ++tally.calls;
    } else if (op < 72) {  // an agent: its own namespace and variables, never another's
      const int id = rng.below(3);
      const std::string agent = "agent" + std::to_string(id);
      try {
        auto& s = agents[id];
        if (!s || rng.chance(0.15)) {
          s.reset();  // closed (detached) before a new one binds
          s = cortex::sessions::AgentSession::create(agent, m, w.config.namespace_ + "_" + agent);
          s->let("marker", Value(agent));
        }
        const auto row = s->query("RETURN [session::ns(), $marker]").at(0);
        EXPECT_EQ(row[std::size_t{0}], Value(w.config.namespace_ + "_" + agent)) << at << ": " << to_json_text(row);
        EXPECT_EQ(row[1], Value(agent)) << at << ": " << to_json_text(row);
      } catch (const cortex::Error&) {
        // typed: the faults may refuse it
      }
      ++tally.calls;
    } else {  // a fault (healed a few steps later: a history is faults coming and going)
      ++tally.faults;
      const auto which = static_cast<std::size_t>(rng.below(3));
      const auto& p = w.proxies[which];
      const int heal_at = step + 1 + rng.below(4);
      switch (rng.below(9)) {
        case 0:
          p->black_hole();
          heals[which] = heal_at;
          break;
        case 1: p->drop_all(); break;
        case 2:
          p->latency(rng.between(20, 300));
          heals[which] = heal_at;
          break;
        case 3:
          p->refuse();
          heals[which] = heal_at;
          break;
        case 4: p->heal(); break;
        case 5: for (auto& q : w.proxies) q->heal(); break;
        case 6:
          if (!paused) {
            w.engine->pause();
            paused = true;
            resume_at = heal_at;
          }
          break;
        case 7:
          if (paused) {
            w.engine->resume();
            paused = false;
          }
          w.engine->kill();
          w.engine->restart();
          if (!w.persistent) {  // its data went with it: what was acknowledged before is gone
            acked.clear();
            w.define_record_access();  // and the tables
          }
          break;
        default: break;  // a quiet step
      }
    }
    for (std::size_t i = 0; i < heals.size(); ++i) {
      if (heals[i] == step) w.proxies[i]->heal();
    }
    if (paused && resume_at == step) {
      w.engine->resume();
      paused = false;
    }
    counters.check(m.metrics().snapshot(), at);
  }

  // Heal everything; then the end state.
  if (paused) w.engine->resume();
  for (auto& p : w.proxies) p->heal();
  agents.clear();
  EXPECT_TRUE(m.wait_idle(std::chrono::seconds(30))) << "leases, waiters or opening connections left";
  const auto health = m.health_status();
  for (const auto& e : health.endpoints) {
    EXPECT_EQ(e.in_use, 0u) << e.url;
    EXPECT_EQ(e.waiters, 0u) << e.url;
    EXPECT_EQ(e.shared_in_flight, 0u) << e.url;
  }
  const auto stored = w.direct()->query("SELECT VALUE n FROM item").at(0);
  std::set<std::int64_t> have;
  if (stored.is<Array>()) {
    for (const auto& v : stored.get<Array>()) have.insert(v.get<std::int64_t>());
  }
  for (auto n : acked) EXPECT_TRUE(have.count(n)) << "acknowledged write item:" << n << " is lost";
  counters.check(m.metrics().snapshot(), "at the end");
  m.shutdown();
  ledger.expect_each_completed_once();
  tally.violations = ::testing::Test::HasFailure() ? 1 : 0;
  std::printf("history shared seed=%llu calls=%llu faults=%llu violations=%llu\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(tally.calls), static_cast<unsigned long long>(tally.faults),
              static_cast<unsigned long long>(tally.violations));
}

INSTANTIATE_TEST_SUITE_P(Seeds, SharedHistory, ::testing::ValuesIn(seeds({1, 2, 3})),
                         seed_name);

}  // namespace
