#include "cortex/metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace cortex::metrics {
std::size_t LatencyHistogram::bucket_of(std::chrono::nanoseconds d) noexcept {
  const auto ns = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
  constexpr std::uint64_t kSub = 1u << kSubBits;
  if (ns < kSub) return static_cast<std::size_t>(ns);  // exact below 16 ns
  const unsigned e = 63u - static_cast<unsigned>(__builtin_clzll(ns));  // ns in [2^e, 2^(e+1))
  const auto m = static_cast<std::size_t>((ns >> (e - kSubBits)) & (kSub - 1));
  return ((e - kSubBits + 1) << kSubBits) + m;
}

std::chrono::nanoseconds LatencyHistogram::bucket_upper_bound(std::size_t i) noexcept {
  constexpr std::size_t kSub = std::size_t{1} << kSubBits;
  if (i < kSub) return std::chrono::nanoseconds(static_cast<std::int64_t>(i));
  const std::size_t e = (i >> kSubBits) + kSubBits - 1, m = i & (kSub - 1);
  const long double upper = static_cast<long double>(kSub + m + 1) * static_cast<long double>(std::uint64_t{1} << (e - kSubBits)) - 1;
  return std::chrono::nanoseconds(upper > static_cast<long double>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(upper));
}

void LatencyHistogram::record(std::chrono::nanoseconds d) noexcept {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  buckets_[bucket_of(d)].fetch_add(1, std::memory_order_relaxed);  // bucket_of clamps negatives
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
  const std::uint64_t immediate = immediate_.load();
  b[0] += immediate;
  total += immediate;
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
