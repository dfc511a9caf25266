// Metrics: histogram percentiles, counters and gauges (up and down, with peaks), exposition, and
// concurrent updates that must all be counted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"

using namespace cortex::metrics;
using std::chrono::microseconds;
using std::chrono::nanoseconds;

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
}
