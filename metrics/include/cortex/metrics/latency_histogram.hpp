#pragma once
// LatencyHistogram: lock-free recording of durations into log-spaced buckets (≈9 % wide, from 1 µs
// to about an hour), read as percentiles. record() is a couple of relaxed atomic adds: safe and cheap from
// any thread. Percentiles are bucket upper bounds, so they over-state by at most one bucket width.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace cortex::metrics {

struct LatencySummary {
  std::uint64_t count = 0;
  std::chrono::nanoseconds p50{0}, p95{0}, p99{0}, max{0};
  std::chrono::nanoseconds mean{0};
};

class LatencyHistogram {
 public:
  static constexpr std::size_t kBuckets = 256;

  void record(std::chrono::nanoseconds d) noexcept;
  LatencySummary summary() const noexcept;
  /// The upper bound of bucket `i` (exposed for tests and exposition).
  static std::chrono::nanoseconds bucket_upper_bound(std::size_t i) noexcept;
  static std::size_t bucket_of(std::chrono::nanoseconds d) noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::int64_t> max_ns_{0};
};

}  // namespace cortex::metrics
