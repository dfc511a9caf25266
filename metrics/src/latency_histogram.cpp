#include "cortex/metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <new>

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

std::chrono::nanoseconds LatencyHistogram::classic_bound(std::size_t i) noexcept {
  using std::chrono::microseconds, std::chrono::milliseconds, std::chrono::seconds, std::chrono::nanoseconds;
  static const nanoseconds kTargets[kClassicBuckets] = {
      microseconds(10), microseconds(25), microseconds(50), microseconds(100), microseconds(250), microseconds(500),
      milliseconds(1),  milliseconds(2) + microseconds(500), milliseconds(5), milliseconds(10), milliseconds(25),
      milliseconds(50), milliseconds(100), milliseconds(250), milliseconds(500), seconds(1),
      milliseconds(2500), seconds(5), seconds(10), seconds(30)};
  return bucket_upper_bound(bucket_of(kTargets[i < kClassicBuckets ? i : kClassicBuckets - 1]));
}

void LatencySummary::merge_counts(const LatencySummary& o) noexcept {
  count += o.count;
  sum += o.sum;
  max = std::max(max, o.max);
  for (std::size_t i = 0; i < le.size(); ++i) le[i] += o.le[i];
  mean = count ? std::chrono::nanoseconds(sum.count() / static_cast<std::int64_t>(count)) : std::chrono::nanoseconds(0);
}

LatencyHistogram::~LatencyHistogram() {
  for (auto& p : powers_) delete p.load(std::memory_order_relaxed);
  delete immediate_.load(std::memory_order_relaxed);
}

// Get or create: the first thread to land in a power of two installs its buckets; a thread that
// loses the race frees its own and uses the winner's.
template <class T>
static T* get_or_create(std::atomic<T*>& slot) noexcept {
  T* p = slot.load(std::memory_order_acquire);
  if (p) return p;
  T* fresh = new (std::nothrow) T();
  if (!fresh) return nullptr;
  if (slot.compare_exchange_strong(p, fresh, std::memory_order_acq_rel, std::memory_order_acquire)) return fresh;
  delete fresh;
  return p;
}

LatencyHistogram::Power* LatencyHistogram::power(std::size_t i) noexcept { return get_or_create(powers_[i / kPerPower]); }

void LatencyHistogram::record_immediate() noexcept {
  if (Counter* c = get_or_create(immediate_)) c->fetch_add(1);
}

std::uint64_t LatencyHistogram::immediate_count() const noexcept {
  const Counter* c = immediate_.load(std::memory_order_acquire);
  return c ? c->load() : 0;
}

std::size_t LatencyHistogram::memory_bytes() const noexcept {
  std::size_t n = sizeof(*this);
  for (const auto& p : powers_) n += p.load(std::memory_order_acquire) ? sizeof(Power) : 0;
  return n + (immediate_.load(std::memory_order_acquire) ? sizeof(Counter) : 0);
}

void LatencyHistogram::record(std::chrono::nanoseconds d) noexcept {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  const std::size_t i = bucket_of(d);
  Power* p = power(i);
  if (!p) return;  // out of memory: the sample is not counted anywhere (count stays consistent)
  p->buckets[i % kPerPower].fetch_add(1, std::memory_order_relaxed);
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
  for (std::size_t i = 0; i < kBuckets; i += kPerPower) {
    const Power* p = powers_[i / kPerPower].load(std::memory_order_acquire);
    if (!p) continue;
    for (std::size_t j = 0; j < kPerPower; ++j) total += b[i + j] = p->buckets[j].load(std::memory_order_relaxed);
  }
  const std::uint64_t immediate = immediate_count();
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
  const auto sum = sum_ns_.load(std::memory_order_relaxed);
  s.sum = std::chrono::nanoseconds(static_cast<std::int64_t>(sum));
  s.mean = std::chrono::nanoseconds(static_cast<std::int64_t>(sum / total));
  // Cumulative classic buckets: every log-linear bucket up to the one each bound ends.
  std::uint64_t below = 0;
  std::size_t next = 0;
  for (std::size_t c = 0; c < kClassicBuckets; ++c) {
    const std::size_t last = bucket_of(classic_bound(c));
    for (; next <= last; ++next) below += b[next];
    s.le[c] = below;
  }
  return s;
}

}  // namespace cortex::metrics
