#include "cortex/metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace cortex::metrics {
namespace {

constexpr double kFirstNs = 1000.0;  // bucket 0 holds everything up to 1 µs
constexpr double kGrowth = 1.09;     // each bucket ≈9 % wider than the one before

}  // namespace

std::size_t LatencyHistogram::bucket_of(std::chrono::nanoseconds d) noexcept {
  const double ns = static_cast<double>(d.count());
  if (ns <= kFirstNs) return 0;
  const auto i = static_cast<std::size_t>(std::ceil(std::log(ns / kFirstNs) / std::log(kGrowth)));
  return i < kBuckets ? i : kBuckets - 1;
}

std::chrono::nanoseconds LatencyHistogram::bucket_upper_bound(std::size_t i) noexcept {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(kFirstNs * std::pow(kGrowth, static_cast<double>(i))));
}

void LatencyHistogram::record(std::chrono::nanoseconds d) noexcept {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  buckets_[bucket_of(d)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  auto seen = max_ns_.load(std::memory_order_relaxed);
  while (d.count() > seen && !max_ns_.compare_exchange_weak(seen, d.count(), std::memory_order_relaxed)) {
  }
}

LatencySummary LatencyHistogram::summary() const noexcept {
  // Read the buckets once; concurrent records may land during the read, which only makes the
  // summary a moment-in-between view — never an invalid one.
  std::array<std::uint64_t, kBuckets> b{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) total += b[i] = buckets_[i].load(std::memory_order_relaxed);
  LatencySummary s;
  s.count = total;
  if (total == 0) return s;
  const auto max = std::chrono::nanoseconds(max_ns_.load(std::memory_order_relaxed));
  auto at = [&](double q) {
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += b[i];
      if (seen >= rank) return std::min(bucket_upper_bound(i), max);
    }
    return max;
  };
  s.p50 = at(0.50);
  s.p95 = at(0.95);
  s.p99 = at(0.99);
  s.max = max;
  s.mean = std::chrono::nanoseconds(static_cast<std::int64_t>(sum_ns_.load(std::memory_order_relaxed) / total));
  return s;
}

}  // namespace cortex::metrics
