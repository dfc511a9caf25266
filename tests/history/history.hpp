#pragma once
// The checker's common parts: seeds (a fixed set in CI, one to replay, a range for long runs), the
// seeded random source, the ledger that checks every call ends exactly once and by its deadline,
// and the watch that checks counters never go down. See docs/invariants.md.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"

namespace cortex::history {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// CORTEX_HISTORY_SEED=N replays one history; CORTEX_HISTORY_SEEDS=A-B runs seeds A..B (the long
/// run, tools/histories.sh); otherwise `fixed` (CI).
inline std::vector<std::uint64_t> seeds(std::vector<std::uint64_t> fixed) {
  if (const char* one = std::getenv("CORTEX_HISTORY_SEED"); one && *one) return {std::strtoull(one, nullptr, 10)};
  if (const char* range = std::getenv("CORTEX_HISTORY_SEEDS"); range && *range) {
    char* end = nullptr;
    const auto a = std::strtoull(range, &end, 10);
    const auto b = (end && *end == '-') ? std::strtoull(end + 1, nullptr, 10) : a;
    std::vector<std::uint64_t> out;
    for (auto s = a; s <= b; ++s) out.push_back(s);
    return out;
  }
  return fixed;
}

/// The slack a call may take past its deadline: scheduling on a loaded machine. Sanitizers slow
/// every step several times over, so their builds get more (the normal build's, below a call's
/// deadline, is the one that tells a deadline granted twice from one that held).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr milliseconds kSlack{4000};
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr milliseconds kSlack{4000};
#else
constexpr milliseconds kSlack{1500};
#endif
#else
constexpr milliseconds kSlack{1500};
#endif

/// A history's test name: its seed.
inline std::string seed_name(const ::testing::TestParamInfo<std::uint64_t>& p) { return "seed" + std::to_string(p.param); }

/// What one history did, printed at its end (and summed by tools/histories.sh).
struct Tally {
  std::uint64_t calls = 0, faults = 0, violations = 0;
};

inline std::string replay_hint(const char* suite, std::uint64_t seed) {
  return std::string("replay: CORTEX_HISTORY_SEED=") + std::to_string(seed) + " ./tests/cortex_history_tests --gtest_filter='*" +
         suite + "*'";
}

/// The seeded source of every random choice of a history.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(gen_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0.0, 1.0)(gen_) < p; }
  milliseconds between(int lo_ms, int hi_ms) { return milliseconds(lo_ms + below(hi_ms - lo_ms + 1)); }

 private:
  std::mt19937_64 gen_;
};

/// One async call's outcome: how many times its handler ran, and when the first did.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  int times = 0;
  std::error_code ec;
  Clock::time_point started = Clock::now(), ended;

  void complete(std::error_code e) {
    std::lock_guard<std::mutex> lock(mu);
    if (times++ == 0) {
      ec = e;
      ended = Clock::now();
    }
    cv.notify_all();
  }
  /// Waits for the first completion, at most `limit` (a call that never completes is a violation,
  /// not a hung test).
  bool wait(milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return times > 0; });
  }
};

/// Every call of a history: each must end exactly once, by its deadline plus `tolerance`.
class Ledger {
 public:
  explicit Ledger(milliseconds tolerance) : tolerance_(tolerance) {}
  std::shared_ptr<Completion> start() {
    auto c = std::make_shared<Completion>();
    all_.push_back(c);
    return c;
  }
  /// Waits for `c` and checks it ended by `deadline` (its own, from when it started).
  void settle(const std::shared_ptr<Completion>& c, milliseconds deadline, const std::string& what) {
    if (!c->wait(deadline + tolerance_ + milliseconds(30000))) {
      ADD_FAILURE() << what << ": never completed";
      return;
    }
    const auto took = std::chrono::duration_cast<milliseconds>(c->ended - c->started);
    EXPECT_LE(took, deadline + tolerance_) << what << " ended " << took.count() << " ms after it started; its deadline was "
                                           << deadline.count() << " ms (+" << tolerance_.count() << " ms tolerance)";
  }
  /// Checks a blocking step's duration the same way.
  void timed(Clock::time_point started, milliseconds deadline, const std::string& what) const {
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    EXPECT_LE(took, deadline + tolerance_) << what << " took " << took.count() << " ms; its deadline was " << deadline.count()
                                           << " ms (+" << tolerance_.count() << " ms tolerance)";
  }
  /// At the end: no handler ran twice (nor stayed silent).
  void expect_each_completed_once() const {
    for (std::size_t i = 0; i < all_.size(); ++i) {
      std::lock_guard<std::mutex> lock(all_[i]->mu);
      EXPECT_EQ(all_[i]->times, 1) << "call #" << i << " completed " << all_[i]->times << " times";
    }
  }
  std::size_t size() const { return all_.size(); }

 private:
  milliseconds tolerance_;
  std::vector<std::shared_ptr<Completion>> all_;
};

/// Counters never decrease: every cumulative counter of a snapshot, per endpoint too.
class CounterWatch {
 public:
  void check(const metrics::MetricsSnapshot& s, const std::string& when) {
    std::vector<std::uint64_t> now{s.connections_created, s.connections_reused, s.acquisitions, s.acquisition_timeouts,
                                   s.retries, s.successes, s.errors, s.health_checks_passed, s.health_checks_failed,
                                   s.leaks_detected, s.lease_restores, s.setup_requests, s.password_signins,
                                   s.breaker_transitions, s.failovers, s.sync_shipped_changes, s.sync_pulled_changes,
                                   s.request_time.count, s.acquire_wait.count};
    for (auto c : s.closed) now.push_back(c);
    for (const auto& e : s.endpoints) {
      now.push_back(e.requests);
      now.push_back(e.request_failures);
      now.push_back(e.connect_failures);
    }
    if (now.size() == last_.size()) {
      for (std::size_t i = 0; i < now.size(); ++i) EXPECT_GE(now[i], last_[i]) << "counter #" << i << " went down " << when;
    }
    last_ = std::move(now);
  }

 private:
  std::vector<std::uint64_t> last_;
};

}  // namespace cortex::history
