// Metrics: histogram percentiles, counters and gauges (up and down, with peaks), exposition, and
// concurrent updates that must all be counted.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"

using namespace cortex::metrics;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(LatencyHistogram, PercentilesWithinOneBucket) {
  LatencyHistogram h;
  for (int i = 1; i <= 100; ++i) h.record(microseconds(i * 10));  // 10 µs … 1000 µs
  const auto s = h.summary();
  EXPECT_EQ(s.count, 100u);
  auto within = [](nanoseconds got, nanoseconds want) {
    EXPECT_GE(got, want);
    EXPECT_LE(got.count(), static_cast<long long>(static_cast<double>(want.count()) * 1.0625)) << got.count();
  };
  within(s.p50, microseconds(500));
  within(s.p95, microseconds(950));
  within(s.p99, microseconds(990));
  EXPECT_EQ(s.max, microseconds(1000));
  EXPECT_EQ(s.mean, microseconds(505));
}

TEST(LatencyHistogram, EmptyAndExtremes) {
  LatencyHistogram h;
  EXPECT_EQ(h.summary().count, 0u);
  h.record(nanoseconds(-5));                 // clock went backwards: counted as zero
  h.record(std::chrono::hours(24 * 365));    // beyond the last bucket: clamped, max still exact
  const auto s = h.summary();
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.max, std::chrono::hours(24 * 365));
  EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(0)), 0u);
  EXPECT_LT(LatencyHistogram::bucket_of(std::chrono::hours(24 * 365 * 100)), LatencyHistogram::kBuckets);
  EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(INT64_MAX)), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, MemoryGrowsOnlyWithThePowersOfTwoItsSamplesSpan) {
  LatencyHistogram h;
  const auto empty = h.memory_bytes();
  EXPECT_LT(empty, 1024u);  // the 960 buckets are not allocated up front
  for (int i = 0; i < 1000; ++i) h.record(milliseconds(2) + microseconds(100 + i % 800));  // 2.1-2.9 ms: one power (2^21 ns)
  const auto one = h.memory_bytes();
  EXPECT_GT(one, empty);
  for (int i = 0; i < 1000; ++i) h.record(milliseconds(2) + microseconds(100 + i % 800));
  EXPECT_EQ(h.memory_bytes(), one);  // the same power again: nothing more
  h.record(seconds(3));
  EXPECT_EQ(h.memory_bytes() - one, one - empty);  // one more power, one more block
  h.record_immediate();
  EXPECT_EQ(h.summary().count, 2002u);
  EXPECT_EQ(h.immediate_count(), 1u);
}

TEST(LatencyHistogram, ThreadsLandingInANewPowerAtOnceLoseNoSample) {
  LatencyHistogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 20000; ++i) h.record(nanoseconds(std::int64_t{1} << (4 + (i + t) % 30)));
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(h.summary().count, 80000u);
  EXPECT_EQ(h.summary().le.back(), 80000u);  // every sample is in a bucket (all below 30 s)
}

TEST(LatencyHistogram, BucketsAreContiguousAndNarrow) {
  // Every value lands in a bucket whose upper bound is >= it and at most 6.25 % above.
  for (std::int64_t ns : {1LL, 15LL, 16LL, 17LL, 31LL, 32LL, 1000LL, 123456LL, 999999999LL, 86400000000000LL}) {
    const auto b = LatencyHistogram::bucket_of(nanoseconds(ns));
    const auto upper = LatencyHistogram::bucket_upper_bound(b).count();
    EXPECT_GE(upper, ns) << ns;
    EXPECT_LE(static_cast<double>(upper), static_cast<double>(ns) * 1.0625 + 1) << ns;
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::bucket_upper_bound(b - 1).count(), ns) << ns;
    }
  }
}

TEST(PoolMetrics, GaugesGoDownAsWellAsUpAndKeepPeaks) {
  PoolMetrics m;
  m.add_in_use(+1);
  m.add_in_use(+1);
  m.add_in_use(-1);
  m.add_waiters(+3);
  m.add_waiters(-3);
  m.closed(CloseReason::idle);
  m.closed(CloseReason::broken);
  m.closed(CloseReason::broken);
  m.acquisitions += 5;
  const auto s = m.snapshot();
  EXPECT_EQ(s.in_use, 1);
  EXPECT_EQ(s.peak_in_use, 2);
  EXPECT_EQ(s.waiters, 0);
  EXPECT_EQ(s.peak_waiters, 3);
  EXPECT_EQ(s.closed[static_cast<std::size_t>(CloseReason::broken)], 2u);
  EXPECT_EQ(s.acquisitions, 5u);
}

TEST(PoolMetrics, ConcurrentUpdatesAreAllCounted) {
  PoolMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        m.acquisitions.fetch_add(1, std::memory_order_relaxed);
        m.add_in_use(+1);
        m.acquire_wait.record(microseconds(i % 100));
        m.add_in_use(-1);
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto s = m.snapshot();
  EXPECT_EQ(s.acquisitions, 80000u);
  EXPECT_EQ(s.acquire_wait.count, 80000u);
  EXPECT_EQ(s.in_use, 0);
  EXPECT_GE(s.peak_in_use, 1);
  EXPECT_LE(s.peak_in_use, 8);
}

TEST(MetricsSnapshot, JsonAndPrometheusExposition) {
  PoolMetrics m;
  m.connections_created += 3;
  m.add_size(3);
  m.closed(CloseReason::lifetime);
  m.request_time.record(microseconds(250));
  const auto s = m.snapshot();
  const auto j = nlohmann::json::parse(s.to_json());
  EXPECT_EQ(j["connections_created"], 3);
  EXPECT_EQ(j["size"], 3);
  EXPECT_EQ(j["connections_closed"]["lifetime"], 1);
  EXPECT_EQ(j["request_time"]["count"], 1);
  const std::string p = s.to_prometheus("cortex_pool");
  EXPECT_NE(p.find("cortex_pool_connections_created_total 3\n"), std::string::npos) << p;
  EXPECT_NE(p.find("cortex_pool_connections_closed_total{reason=\"lifetime\"} 1\n"), std::string::npos);
  EXPECT_NE(p.find("# TYPE cortex_pool_size gauge\ncortex_pool_size 3\n"), std::string::npos);
  EXPECT_NE(p.find("cortex_pool_request_time_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(p.find("cortex_pool_request_time_seconds_sum 0.00025\n"), std::string::npos) << p;  // exact
}

// Before: no # HELP, quantile-labelled gauges, `_ms` names, -1 for "never", _sum = mean × count.
TEST(MetricsSnapshot, PrometheusFamiliesHaveHelpTypeAndBaseUnits) {
  PoolMetrics m;
  m.acquire_wait.record(microseconds(7));
  AgentStats a;
  a.name = "x";
  a.operations = 1;
  m.add_agent("x", [a] { return a; });
  const auto p = m.snapshot().to_prometheus();
  std::istringstream in(p);
  std::string line, last_help;
  int families = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) last_help = line.substr(7, line.find(' ', 7) - 7);
    if (line.rfind("# TYPE ", 0) == 0) {
      ++families;
      EXPECT_EQ(line.substr(7, line.find(' ', 7) - 7), last_help) << line;  // HELP right before TYPE
    }
    EXPECT_EQ(line.find("quantile"), std::string::npos) << line;
    EXPECT_EQ(line.find("_ms"), std::string::npos) << line;
    EXPECT_EQ(line.find(" -1"), std::string::npos) << line;
  }
  EXPECT_GT(families, 20);
  EXPECT_EQ(p.find("sync_lag"), std::string::npos);  // no pass yet: no series (not -1)
  m.sync_completed();
  EXPECT_NE(m.snapshot().to_prometheus().find("cortex_pool_sync_lag_seconds "), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(PoolMetrics().snapshot().to_json())["sync_lag_ms"], nullptr);
}

TEST(MetricsSnapshot, ClassicBucketsAreExactAndCumulative) {
  PoolMetrics m;
  const auto one_ms_bound = LatencyHistogram::classic_bound(6);  // the bound near 1 ms
  EXPECT_GE(one_ms_bound, milliseconds(1));
  EXPECT_LT(one_ms_bound, microseconds(1063));  // at most one log-linear bucket (6.25 %) above
  m.request_time.record(one_ms_bound);                            // at the bound: counted in it
  m.request_time.record(one_ms_bound + nanoseconds(1));           // just above: the next one
  m.request_time.record(seconds(100));                            // beyond every bound: +Inf only
  const auto s = m.snapshot().request_time;
  EXPECT_EQ(s.le[5], 0u);
  EXPECT_EQ(s.le[6], 1u);
  EXPECT_EQ(s.le[7], 2u);
  EXPECT_EQ(s.le[kClassicBuckets - 1], 2u);
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.sum, one_ms_bound * 2 + nanoseconds(1) + seconds(100));
  const auto p = m.snapshot().to_prometheus();
  EXPECT_NE(p.find("cortex_pool_request_time_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << p;
  for (std::size_t i = 1; i < kClassicBuckets; ++i) EXPECT_GT(LatencyHistogram::classic_bound(i), LatencyHistogram::classic_bound(i - 1));
}

// Before: one label set per agent, forever. The first agents of the snapshot keep their series (not
// the busiest: see AgentCountersNeverGoDown…).
TEST(MetricsSnapshot, AgentSeriesAreCappedWithTheRestAsOther) {
  std::vector<AgentStats> agents;
  for (int i = 0; i < 30; ++i) {
    AgentStats a;
    a.name = "a" + std::to_string(i);
    a.operations = static_cast<std::uint64_t>(i + 1);
    a.latency.count = a.operations;
    agents.push_back(a);
  }
  agents.push_back(agents[29]);  // a second session of the busiest agent: one series, summed
  MetricsSnapshot s;
  s.agents = agents;
  PrometheusOptions o;
  o.max_agents = 5;
  const auto p = s.to_prometheus(o);
  int series = 0;
  for (std::size_t at = 0; (at = p.find("cortex_pool_agent_operations_total{", at)) != std::string::npos; ++at) ++series;
  EXPECT_EQ(series, 6);  // five agents and "other"
  EXPECT_NE(p.find("cortex_pool_agent_operations_total{agent=\"a0\"} 1\n"), std::string::npos) << p;
  EXPECT_NE(p.find("cortex_pool_agent_operations_total{agent=\"a4\"} 5\n"), std::string::npos) << p;
  EXPECT_EQ(p.find("agent=\"a29\""), std::string::npos) << p;
  // 6 + … + 30, and a29's second session's 30.
  EXPECT_NE(p.find("cortex_pool_agent_operations_total{agent=\"other\"} 480\n"), std::string::npos) << p;
  EXPECT_NE(p.find("cortex_pool_agent_operation_seconds_count{agent=\"other\"} 480\n"), std::string::npos);
}

namespace {

/// The value of `family{agent="name"}` in `text`, or -1 when there is no such series.
long long agent_sample(const std::string& text, const std::string& family, const std::string& name) {
  const std::string key = "cortex_pool_" + family + "{agent=\"" + name + "\"} ";
  const auto at = text.find(key);
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + key.size()));
}

/// A session's live figures, changed by the test between snapshots.
struct FakeSession {
  std::uint64_t operations = 0, errors = 0;
  std::function<AgentStats()> figures() {
    return [this] {
      AgentStats a;
      a.name = "ignored: the metrics name it by the id it was added with";
      a.operations = operations;
      a.errors = errors;
      a.latency.count = operations;
      return a;
    };
  }
};

}  // namespace

// Before: a closed session's figures left the snapshot with it, so its agent's counters (and
// "other") went down: a scraper reads that as a counter reset.
TEST(MetricsSnapshot, AgentCountersNeverGoDownWhenSessionsClose) {
  PoolMetrics m;
  FakeSession first{5, 1}, second{2, 0};
  const auto t1 = m.add_agent("a", first.figures());
  const auto t2 = m.add_agent("a", second.figures());
  auto text = m.snapshot().to_prometheus();
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "a"), 7);
  m.remove_agent(t1);
  first.operations = 0;  // gone: never read again
  text = m.snapshot().to_prometheus();
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "a"), 7) << text;
  EXPECT_EQ(agent_sample(text, "agent_errors_total", "a"), 1);
  EXPECT_EQ(agent_sample(text, "agent_operation_seconds_count", "a"), 7);
  m.remove_agent(t2);
  const auto s = m.snapshot();
  EXPECT_EQ(agent_sample(s.to_prometheus(), "agent_operations_total", "a"), 7);
  ASSERT_EQ(s.agents.size(), 1u);  // one entry: the agent's closed sessions, summed
  EXPECT_TRUE(s.agents[0].closed);
  EXPECT_EQ(s.agents[0].name, "a");
  EXPECT_EQ(s.agents[0].operations, 7u);
  EXPECT_EQ(nlohmann::json::parse(s.to_json())["agents"][0]["closed"], true);
  FakeSession again{1, 0};
  const auto t3 = m.add_agent("a", again.figures());  // the agent comes back: its count goes on
  EXPECT_EQ(agent_sample(m.snapshot().to_prometheus(), "agent_operations_total", "a"), 8);
  m.remove_agent(t3);
  m.remove_agent(t3);  // a second removal is a no-op
  EXPECT_EQ(agent_sample(m.snapshot().to_prometheus(), "agent_operations_total", "a"), 8);
}

// Before: the busiest agents got the series, so "other" went down whenever an agent inside it
// overtook one outside (or a named agent's session closed and another took its place).
TEST(MetricsSnapshot, AgentSeriesStayWithTheFirstAgentsSoOtherNeverGoesDown) {
  PoolMetrics m;
  PrometheusOptions o;
  o.max_agents = 1;
  FakeSession a{1, 0}, b{10, 0}, c{100, 0};
  m.add_agent("a", a.figures());
  m.add_agent("b", b.figures());
  const auto tc = m.add_agent("c", c.figures());
  auto text = m.snapshot().to_prometheus(o);
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "a"), 1) << text;
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "other"), 110);
  m.remove_agent(tc);
  b.operations = 50;  // now far busier than a: a keeps the series all the same
  text = m.snapshot().to_prometheus(o);
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "a"), 1) << text;
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "b"), -1);
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "other"), 150);
}

// Agent ids beyond PoolMetrics::kTrackedAgents: their closed sessions are summed as "other", and
// none of them gets a series of its own, whatever max_agents asks (its series would end, then
// restart lower, when its session closes).
TEST(MetricsSnapshot, AgentsBeyondTheTrackedOnesAreOtherForGood) {
  PoolMetrics m;
  for (std::size_t i = 0; i < PoolMetrics::kTrackedAgents; ++i) {
    FakeSession one{1, 0};
    m.remove_agent(m.add_agent("a" + std::to_string(i), one.figures()));
  }
  PrometheusOptions o;
  o.max_agents = PoolMetrics::kTrackedAgents + 10;
  FakeSession late{7, 0};
  const auto t = m.add_agent("late", late.figures());
  auto text = m.snapshot().to_prometheus(o);
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "late"), -1);
  EXPECT_EQ(agent_sample(text, "agent_operations_total", "other"), 7);
  m.remove_agent(t);
  const auto s = m.snapshot();
  EXPECT_EQ(agent_sample(s.to_prometheus(o), "agent_operations_total", "other"), 7);
  EXPECT_EQ(s.agents.size(), PoolMetrics::kTrackedAgents + 1);
  EXPECT_EQ(s.agents.back().name, "other");
  EXPECT_TRUE(s.agents.back().closed);
}
