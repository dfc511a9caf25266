// Saturation and recovery, the server killed and restarted under load, and lifetime rotation under
// traffic: every call ends succeeded or with a typed error, and the pool recovers by itself.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cortex/pool/connection_manager.hpp"
#include "engine.hpp"
#include "latch.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

namespace {

DatabaseConfig config(const std::string& url, std::size_t max) {
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  c.connection_mode.mode = ConnectionMode::Local{url};
  c.pool_config.min_connections = 1;
  c.pool_config.max_connections = max;
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(10);
  c.pool_config.retry_policy.max_backoff = std::chrono::milliseconds(100);
  // The breaker fails calls fast while the server is down; probe again soon after a restart.
  c.circuit_breaker.open_timeout = std::chrono::milliseconds(100);
  c.namespace_ = cortex::test::unique_name("recovery");
  return c;
}

}  // namespace

TEST(Recovery, SaturationTimesOutTypedThenRecovers) {
  auto c = config(cortex::test::engine_url(), 4);
  c.pool_config.connection_timeout = std::chrono::milliseconds(50);
  ConnectionManager m(c);
  constexpr int kCallers = 300;  // 300 × 20 ms of work on 4 connections ≫ a 50 ms acquire timeout
  std::atomic<int> ok{0}, timed_out{0}, other{0};
  cortex::test::Completions done;
  for (int i = 0; i < kCallers; ++i) {
    m.async_acquire([&, h = done.handler(i)](std::error_code ec, PooledConnection lease) mutable {
      if (ec) {
        (ec == make_error_code(Errc::pool_timeout) ? timed_out : other)++;
        return h(ec, Value());
      }
      auto held = std::make_shared<PooledConnection>(std::move(lease));
      (*held)->async_call(rpc::query("SLEEP 20ms"), {}, [&, held, h](std::error_code qec, Value) mutable {
        (qec ? other : ok)++;
        held->release();
        h(qec, Value());
      });
    });
  }
  done.wait_for(kCallers);
  EXPECT_EQ(ok.load() + timed_out.load(), kCallers);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(timed_out.load(), 0);  // it really was saturated
  EXPECT_EQ(m.metrics().snapshot().acquisition_timeouts, static_cast<std::uint64_t>(timed_out.load()));
  ASSERT_TRUE(m.wait_idle(std::chrono::seconds(30)));
  auto lease = m.acquire();  // recovered
  EXPECT_TRUE(lease->call(rpc::ping()).is_none());
}

TEST(Recovery, ServerKilledAndRestartedUnderLoadHeals) {
  LocalServer server(cortex::test::private_engine_options());
  ConnectionManager m(config(server.url(), 4));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, typed_errors{0}, untyped{0};
  std::vector<std::thread> workers;
  cortex::test::Completions first_success;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t, h = first_success.handler(t)]() mutable {
      bool signalled = false;
      while (!stop.load()) {
        try {
          if (t % 2) {
            m.query("RETURN 1").throw_if_error();
          } else {
            auto lease = m.acquire();
            lease->call(rpc::ping());
          }
          ++ok;
          if (!signalled) { signalled = true; h({}, Value()); }
        } catch (const cortex::Error&) {
          ++typed_errors;  // connection_lost, not_connected, connect_failed, pool_timeout…
        } catch (...) {
          ++untyped;
        }
      }
    });
  }
  first_success.wait_for(4);
  server.kill();
  server.restart();
  // After the restart, every worker must succeed again (bounded: the pool heals on its own).
  const int before = ok.load();
  // Bounded by a deadline, not a count: calls fail at once while the pool backs off reconnecting.
  bool healed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!healed && std::chrono::steady_clock::now() < deadline) {
    try {
      m.execute_with_retry([&] {
        m.query("RETURN 1").throw_if_error();
        auto lease = m.acquire();
        lease->call(rpc::ping());
      });
      healed = true;
    } catch (const cortex::Error&) {
    }
  }
  stop = true;
  for (auto& w : workers) w.join();
  EXPECT_TRUE(healed);
  EXPECT_GE(ok.load(), before);
  EXPECT_EQ(untyped.load(), 0);
}

TEST(Recovery, ConnectionsRotateByLifetimeUnderTraffic) {
  auto c = config(cortex::test::engine_url(), 2);
  c.pool_config.max_lifetime = std::chrono::milliseconds(100);
  ConnectionManager m(c);
  // Keep leasing until a connection has been retired for age (bounded; each cycle is a round trip).
  for (int i = 0; i < 100000; ++i) {
    auto lease = m.acquire();
    lease->call(rpc::ping());
    lease.release();
    if (m.metrics().snapshot().closed[static_cast<std::size_t>(cortex::metrics::CloseReason::lifetime)] > 0) break;
  }
  const auto s = m.metrics().snapshot();
  EXPECT_GE(s.closed[static_cast<std::size_t>(cortex::metrics::CloseReason::lifetime)], 1u);
  auto lease = m.acquire();
  EXPECT_TRUE(lease->call(rpc::ping()).is_none());
  EXPECT_GE(m.metrics().snapshot().connections_created, 2u);  // the retired one was replaced
}

TEST(Recovery, RetryUnderLoadCarriesIdempotentCallsAcrossARestart) {
  LocalServer server(cortex::test::private_engine_options());
  auto c = config(server.url(), 4);
  c.pool_config.retry_policy.max_attempts = 60;  // covers a restart: up to ~60 × 200 ms
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(20);
  c.pool_config.retry_policy.max_backoff = std::chrono::milliseconds(200);
  ConnectionManager m(c);
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> gate{false};
  cortex::test::Completions warmed;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, h = warmed.handler(t)]() mutable {
      for (int i = 0; i < 50; ++i) {
        try {
          // A read: running it twice is harmless, so it may be replayed after a lost connection.
          m.execute_with_retry([&] { return m.query("RETURN 1").at(0); }, RetryOptions{true});
          ++ok;
        } catch (const cortex::Error&) {
          ++failed;
        }
        if (i == 0) {
          h({}, Value());
          while (!gate.load()) std::this_thread::yield();  // hold until the server is down
        }
      }
    });
  }
  warmed.wait_for(4);
  server.kill();
  gate = true;
  // Restart only once the outage has really been met by a retry (an event, not a delay).
  while (m.metrics().snapshot().retries == 0) std::this_thread::yield();
  server.restart();
  for (auto& w : workers) w.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(m.metrics().snapshot().retries, 0u);
}

TEST(Recovery, SustainedMixedLoadLeavesThePoolTidy) {
  ConnectionManager m(config(cortex::test::engine_url(), 6));
  m.query("DEFINE TABLE event").throw_if_error();  // reads may run before the first write
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 6; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        try {
          if ((i + t) % 3 == 0) {
            auto lease = m.acquire();
            lease->query("CREATE event SET n = $n", {{"n", Value(i)}}).throw_if_error();
          } else {
            m.query("SELECT count() FROM event GROUP ALL").throw_if_error();
          }
          ++ok;
        } catch (const cortex::Error& e) {
          ADD_FAILURE() << e.what();
          ++failed;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(ok.load(), 1800);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_TRUE(m.wait_idle(std::chrono::seconds(30)));
  const auto s = m.metrics().snapshot();
  EXPECT_LE(s.peak_in_use, 6);
  EXPECT_EQ(s.acquisition_timeouts, 0u);
  EXPECT_EQ(s.leaks_detected, 0u);
}
