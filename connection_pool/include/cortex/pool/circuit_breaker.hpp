#pragma once
// CircuitBreaker: one endpoint's breaker, a sans-I/O state machine with an injectable clock.
//   Closed   — calls pass; failures are counted in a rolling window (not over the process lifetime);
//              `failure_threshold` of them within `window` open the breaker.
//   Open     — calls are rejected at once for `open_timeout`, then the breaker half-opens.
//   HalfOpen — up to `half_open_probes` calls pass as probes; a success closes the breaker, a
//              failure opens it again for another `open_timeout`.
// Not thread-safe: its owner serialises calls (the manager keeps one per endpoint under a mutex).
#include <chrono>
#include <system_error>
#include <cstdint>
#include <deque>

namespace cortex::pool {

enum class BreakerState { Closed, Open, HalfOpen };
const char* to_string(BreakerState s) noexcept;

struct CircuitBreakerConfig {
  /// Failures within `window` that open the breaker (>= 1). Default 5.
  std::uint32_t failure_threshold = 5;
  /// The rolling window failures are counted in (> 0). Default 10 s.
  std::chrono::milliseconds window{10000};
  /// How long an open breaker rejects before letting probes through (> 0). Default 30 s.
  std::chrono::milliseconds open_timeout{30000};
  /// Calls let through at once while half-open (>= 1). Default 1.
  std::uint32_t half_open_probes = 1;

  void validate() const;  ///< std::invalid_argument naming the field
};

template <class Clock = std::chrono::steady_clock>
class CircuitBreaker {
 public:
  using TimePoint = typename Clock::time_point;

  explicit CircuitBreaker(CircuitBreakerConfig config = {}) : config_(config) {}

  /// May a call go to this endpoint now? In HalfOpen this takes one of the probe places: report its
  /// outcome with on_success / on_failure (or release_probe if it never ran).
  bool allow(TimePoint now) {
    advance(now);
    if (state_ == BreakerState::Closed) return true;
    if (state_ == BreakerState::Open) return false;
    if (probes_ >= config_.half_open_probes) return false;
    ++probes_;
    return true;
  }

  /// Whether allow() would pass, without taking a probe place (for choosing among endpoints).
  bool would_allow(TimePoint now) {
    advance(now);
    return state_ == BreakerState::Closed || (state_ == BreakerState::HalfOpen && probes_ < config_.half_open_probes);
  }

  void on_success(TimePoint now) {
    advance(now);
    if (state_ == BreakerState::HalfOpen) {
      failures_.clear();
      to(BreakerState::Closed);
    }
  }

  void on_failure(TimePoint now) {
    advance(now);
    if (state_ == BreakerState::HalfOpen) return open(now);
    if (state_ == BreakerState::Open) return;
    failures_.push_back(now);
    forget_old(now);
    if (failures_.size() >= config_.failure_threshold) open(now);
  }

  /// A probe place taken by allow() whose call never ran (e.g. chosen, then not sent).
  void release_probe() {
    if (state_ == BreakerState::HalfOpen && probes_ > 0) --probes_;
  }

  BreakerState state(TimePoint now) {
    advance(now);
    return state_;
  }
  /// State changes so far (each Closed→Open, Open→HalfOpen, HalfOpen→Closed/Open counts one).
  std::uint64_t transitions() const noexcept { return transitions_; }
  /// When an open breaker half-opens.
  TimePoint reopens_at() const noexcept { return opened_at_ + config_.open_timeout; }

 private:
  void advance(TimePoint now) {
    if (state_ == BreakerState::Open && now >= opened_at_ + config_.open_timeout) to(BreakerState::HalfOpen);
  }
  void open(TimePoint now) {
    opened_at_ = now;
    failures_.clear();
    to(BreakerState::Open);
  }
  void to(BreakerState s) {
    if (s == state_) return;
    state_ = s;
    probes_ = 0;
    ++transitions_;
  }
  void forget_old(TimePoint now) {
    while (!failures_.empty() && now - failures_.front() >= config_.window) failures_.pop_front();
  }

  CircuitBreakerConfig config_;
  BreakerState state_ = BreakerState::Closed;
  std::deque<TimePoint> failures_;  // at most failure_threshold entries
  TimePoint opened_at_{};
  std::uint32_t probes_ = 0;
  std::uint64_t transitions_ = 0;
};

/// True for failures that say the endpoint (not the request) is unwell: connect and handshake
/// failures, lost connections (keepalive deaths included), undecodable replies, the server's own
/// Connection errors. They count against its breaker and health score. Server-side errors (bad
/// SurrealQL, permissions) and request timeouts do not.
bool is_endpoint_failure(std::error_code ec) noexcept;

}  // namespace cortex::pool
