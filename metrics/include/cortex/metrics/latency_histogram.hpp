#pragma once
// LatencyHistogram: lock-free recording of durations (nanoseconds) into log-linear buckets — each
// power of two split into 16 — so a bucket is at most 6.25 % wide over the whole range. record() is
// a few relaxed atomic adds and bit arithmetic (no log()): safe and cheap from any thread, even on a
// pool's fast path. Percentiles are bucket upper bounds: they over-state by at most one bucket.
// The buckets of one power of two are allocated when a sample first lands there: a histogram whose
// samples span a few powers (an agent session's) takes about 1 KiB instead of 8.5 KiB.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "cortex/metrics/counter.hpp"

namespace cortex::metrics {

/// The fixed bounds of the classic (Prometheus) histogram: each is the upper end of the log-linear
/// bucket holding 10 µs, 25 µs, 50 µs, 100 µs … 10 s, 30 s — so that every count below is exact,
/// not an estimate (a bound sits at most 6.25 % above its round number).
inline constexpr std::size_t kClassicBuckets = 20;

struct LatencySummary {
  std::uint64_t count = 0;
  std::chrono::nanoseconds p50{0}, p95{0}, p99{0}, max{0};
  std::chrono::nanoseconds mean{0};
  std::chrono::nanoseconds sum{0};  ///< exact sum of every sample
  /// Cumulative: le[i] samples took at most LatencyHistogram::classic_bound(i) (count: +Inf).
  std::array<std::uint64_t, kClassicBuckets> le{};

  /// Adds another summary's count, sum and buckets (max too); the quantiles are left as they are
  /// (they cannot be added). For aggregates such as the "other" agents of an exposition.
  void merge_counts(const LatencySummary& o) noexcept;
};

class LatencyHistogram {
 public:
  static constexpr std::size_t kSubBits = 4;  // 16 sub-buckets per power of two
  // Durations are int64 nanoseconds: the top power of two is 2^62.
  static constexpr std::size_t kBuckets = (64 - kSubBits) << kSubBits;

  LatencyHistogram() = default;
  ~LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  void record(std::chrono::nanoseconds d) noexcept;
  /// Records a zero duration on a striped counter: for a path too short to time (a pool's
  /// uncontended fast acquire), where many threads would otherwise share bucket 0's cache line.
  void record_immediate() noexcept;
  std::uint64_t immediate_count() const noexcept;
  LatencySummary summary() const noexcept;
  /// The memory this histogram holds now (itself and what it allocated), in bytes.
  std::size_t memory_bytes() const noexcept;
  /// The upper bound of bucket `i` (exposed for tests and exposition).
  static std::chrono::nanoseconds bucket_upper_bound(std::size_t i) noexcept;
  static std::size_t bucket_of(std::chrono::nanoseconds d) noexcept;
  /// The i-th classic bound (see kClassicBuckets), i < kClassicBuckets.
  static std::chrono::nanoseconds classic_bound(std::size_t i) noexcept;

 private:
  static constexpr std::size_t kPerPower = std::size_t{1} << kSubBits;
  struct Power {
    std::array<std::atomic<std::uint64_t>, kPerPower> buckets{};
  };
  /// The power of two holding bucket `i`, allocated on first use (nullptr: no sample could be
  /// counted, out of memory).
  Power* power(std::size_t i) noexcept;

  std::array<std::atomic<Power*>, kBuckets / kPerPower> powers_{};  // nullptr until a sample lands
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::int64_t> max_ns_{0};
  std::atomic<Counter*> immediate_{nullptr};  // zero-duration samples, folded into bucket 0 by summary()
};

}  // namespace cortex::metrics
