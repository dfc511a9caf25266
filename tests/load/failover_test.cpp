// kill -9 of one of three endpoints (surrealkv stores) under a write load where every write is
// recorded as acknowledged or failed: after the restart every acknowledged write is present on
// some endpoint (zero loss), and every call either succeeded or failed with a typed error.
#include <gtest/gtest.h>

#include <array>
#include <condition_variable>
#include <filesystem>
#include <set>
#include <thread>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
namespace fs = std::filesystem;

TEST(Failover, KillNineOfOneEndpointUnderWritesLosesNoAcknowledgedWrite) {
  std::array<fs::path, 3> dirs;
  std::array<std::unique_ptr<LocalServer>, 3> servers;
  for (std::size_t i = 0; i < 3; ++i) {
    dirs[i] = fs::temp_directory_path() / cortex::test::unique_name("cortex_failover");
    auto o = cortex::test::private_engine_options();
    o.store = "surrealkv://" + dirs[i].string();
    servers[i] = std::make_unique<LocalServer>(o);
  }
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  c.connection_mode.mode = ConnectionMode::Remote{{servers[0]->url(), servers[1]->url(), servers[2]->url()},
                                                  LoadBalancingStrategy::RoundRobin};
  c.pool_config.min_connections = 0;
  c.pool_config.max_connections = 4;
  c.pool_config.connection_timeout = std::chrono::seconds(5);
  c.circuit_breaker.failure_threshold = 3;
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(200);
  c.namespace_ = cortex::test::unique_name("failover");
  ConnectionManager m(c);

  constexpr int kWriters = 4, kWrites = 150;
  std::mutex mu;
  std::condition_variable progress;
  std::set<std::int64_t> acked;
  int failed = 0, untyped = 0;
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      RequestOptions o;
      o.timeout = std::chrono::seconds(5);
      for (int i = 0; i < kWrites; ++i) {
        const std::int64_t id = t * 1000 + i;
        bool ok = false, typed = true;
        try {
          m.query("CREATE $rid SET n = $n", {{"rid", Value(RecordId{"item", Box<Value>(Value(id))})}, {"n", Value(id)}}, o)
              .throw_if_error();
          ok = true;
        } catch (const cortex::Error&) {
        } catch (...) {
          typed = false;
        }
        std::lock_guard<std::mutex> lock(mu);
        if (ok) acked.insert(id);
        failed += !ok && typed;
        untyped += !typed;
        progress.notify_all();
      }
    });
  }
  auto wait_done = [&](std::size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    progress.wait(lock, [&] { return acked.size() + static_cast<std::size_t>(failed + untyped) >= n; });
  };
  wait_done(100);
  servers[1]->kill();  // kill -9 in the middle of the load
  wait_done(350);
  servers[1]->restart();
  for (auto& w : writers) w.join();

  EXPECT_EQ(static_cast<int>(acked.size()) + failed + untyped, kWriters * kWrites);
  EXPECT_EQ(untyped, 0);
  EXPECT_GT(acked.size(), 0u);
  // Every acknowledged write is on some endpoint (the killed one's came back from its store).
  std::set<std::int64_t> present;
  for (auto& s : servers) {
    auto conn = cortex::test::connect_signed_in(cortex::test::io(), s->url());
    conn->call(rpc::use(c.namespace_, c.database));
    const auto rows = conn->query("SELECT VALUE n FROM item").at(0);
    for (const auto& v : rows.get<Array>()) present.insert(v.get<std::int64_t>());
  }
  std::size_t missing = 0;
  for (auto id : acked) missing += present.count(id) == 0;
  EXPECT_EQ(missing, 0u);
  const auto s = m.metrics().snapshot();
  EXPECT_GE(s.breaker_transitions, 1u);  // the dead endpoint's breaker opened
  servers = {};
  for (auto& d : dirs) fs::remove_all(d);
}
