#pragma once
// ConnectionNode: the lifecycle of one connection, sans-I/O (after Boost.MySQL's
// sansio_connection_node) — connecting → setting_up → idle ⇄ (validating →) leased (→ restoring)
// → retired. Each event returns the next action for the driver to perform; the node never does
// I/O, reads no clock and takes no lock. The pool (ConnectionPool) and the shared path
// (SharedPath, whose connections stay "idle" while they multiplex calls) drive it.
//
// retire_reason() is the one predicate that says a connection must go: broken, past its lifetime
// (jittered max_lifetime, or the expiry of the token it is signed in with), used up (max_uses), or
// idle too long while above the minimum. Each place that lets a connection go asks it.
//
// ConnectBackoff: the one reconnect schedule for a series of failed connection attempts
// (RetryPolicy's backoff, jitter drawn by the caller).
#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/pool_config.hpp"

namespace cortex::pool {

enum class NodeState : std::uint8_t { connecting, setting_up, idle, validating, leased, restoring, retired };

/// What the driver must do after an event.
enum class NodeAction : std::uint8_t {
  none,      ///< nothing (wait for the next event)
  setup,     ///< run the setup steps (signin/authenticate, use, schema, hook)
  park,      ///< the connection is idle: offer it to a waiter or keep it
  validate,  ///< ping it before handing it out
  hand_out,  ///< give it to the caller
  restore,   ///< put its session back (reset, authenticate, use)
  close,     ///< close it; close_reason() says why
};

/// When the retire predicate is asked: what may be held against the connection differs.
enum class RetireCheck : std::uint8_t {
  before_lending,  ///< broken or past its lifetime (the lease about to start is one of its uses)
  on_return,       ///< also: it has served max_uses leases
  while_idle,      ///< also: idle for idle_timeout while the pool is above its minimum
};

struct RetireRules {
  std::chrono::milliseconds idle_timeout{0};  ///< 0 = never
  std::uint64_t max_uses = 0;                 ///< 0 = no limit
};

template <class Clock>
class ConnectionNode {
 public:
  using TimePoint = typename Clock::time_point;

  NodeState state() const noexcept { return state_; }
  TimePoint created() const noexcept { return created_; }
  TimePoint last_used() const noexcept { return last_used_; }  ///< when it last became idle
  TimePoint retire_at() const noexcept { return retire_at_; }
  std::uint64_t uses() const noexcept { return uses_; }            ///< leases begun
  metrics::CloseReason close_reason() const noexcept { return reason_; }

  // -- events ---------------------------------------------------------------------------------

  /// The transport connected (or failed to).
  NodeAction connected(std::error_code ec) {
    if (ec) return retire(metrics::CloseReason::broken);
    state_ = NodeState::setting_up;
    return NodeAction::setup;
  }

  /// The setup steps finished. `retire_at`: the earlier of its jittered lifetime and the renewal
  /// point of the token it signed in with (max() = never).
  NodeAction set_up(std::error_code ec, TimePoint now, TimePoint retire_at) {
    if (ec) return retire(metrics::CloseReason::broken);
    created_ = last_used_ = now;
    retire_at_ = retire_at;
    state_ = NodeState::idle;
    return NodeAction::park;
  }

  /// The pool lent it (from the idle set or straight to a waiter): one more use.
  void lent() noexcept {
    ++uses_;
    state_ = NodeState::leased;
  }

  /// A hand-off to a waiter was offered but nobody took it: undo lent().
  void unlend() noexcept {
    --uses_;
    state_ = NodeState::idle;
  }

  /// Before a lent connection reaches its caller: still good? `validate_after`: ping it first
  /// when it sat idle longer than this (0 = never validate).
  NodeAction check_out(bool open, TimePoint now, std::chrono::milliseconds validate_after) {
    if (auto why = retire_reason(open, now, RetireCheck::before_lending, {}, false)) return retire(*why);
    if (validate_after.count() > 0 && now - last_used_ > validate_after) {
      state_ = NodeState::validating;
      return NodeAction::validate;
    }
    state_ = NodeState::leased;
    return NodeAction::hand_out;
  }

  /// The validation ping answered (or not).
  NodeAction validated(std::error_code ec) {
    if (ec) return retire(metrics::CloseReason::broken);
    state_ = NodeState::leased;
    return NodeAction::hand_out;
  }

  /// The lease ended. `session_changed`: the holder changed namespace, auth or variables.
  NodeAction returned(bool reusable, bool session_changed, TimePoint now, const RetireRules& rules) {
    last_used_ = now;
    if (auto why = retire_reason(reusable, now, RetireCheck::on_return, rules, false)) return retire(*why);
    if (session_changed) {
      state_ = NodeState::restoring;
      return NodeAction::restore;
    }
    state_ = NodeState::idle;
    return NodeAction::park;
  }

  /// The session restore finished.
  NodeAction restored(std::error_code ec, TimePoint now, const RetireRules& rules) {
    if (ec) return retire(metrics::CloseReason::broken);
    return returned(true, false, now, rules);
  }

  /// The pool's timer: must this idle connection go? `surplus`: the pool is above its minimum.
  NodeAction idle_check(bool open, TimePoint now, const RetireRules& rules, bool surplus) {
    if (auto why = retire_reason(open, now, RetireCheck::while_idle, rules, surplus)) return retire(*why);
    return NodeAction::none;
  }

  /// Its socket closed, or the pool is shutting down: retire it whatever its state.
  NodeAction retire(metrics::CloseReason why) {
    if (state_ != NodeState::retired) reason_ = why;
    state_ = NodeState::retired;
    return NodeAction::close;
  }

  // -- the one retire predicate ----------------------------------------------------------------

  std::optional<metrics::CloseReason> retire_reason(bool open, TimePoint now, RetireCheck check, const RetireRules& rules,
                                                    bool surplus) const {
    if (!open) return metrics::CloseReason::broken;
    if (now >= retire_at_) return metrics::CloseReason::lifetime;
    if (check == RetireCheck::before_lending) return std::nullopt;
    if (rules.max_uses && uses_ >= rules.max_uses) return metrics::CloseReason::max_uses;
    if (check == RetireCheck::on_return) return std::nullopt;
    if (surplus && rules.idle_timeout.count() > 0 && now - last_used_ >= rules.idle_timeout) return metrics::CloseReason::idle;
    return std::nullopt;
  }

  /// When the while_idle check next changes its answer (lifetime or idle expiry).
  TimePoint next_idle_deadline(const RetireRules& rules, bool surplus) const {
    TimePoint t = retire_at_;
    if (surplus && rules.idle_timeout.count() > 0 && last_used_ + rules.idle_timeout < t) t = last_used_ + rules.idle_timeout;
    return t;
  }

 private:
  NodeState state_ = NodeState::connecting;
  TimePoint created_{};
  TimePoint last_used_{};
  TimePoint retire_at_ = TimePoint::max();
  std::uint64_t uses_ = 0;
  metrics::CloseReason reason_ = metrics::CloseReason::broken;
};

/// The reconnect schedule of one endpoint: after n failed attempts in a row, the next waits
/// RetryPolicy::backoff(n). Used by the pool and the shared path alike.
template <class Clock>
class ConnectBackoff {
 public:
  using TimePoint = typename Clock::time_point;

  /// An attempt failed at `now`; `u` is a uniform draw in [0, 1) for the jitter.
  void failed(TimePoint now, const RetryPolicy& policy, double u) {
    if (failures_ < 64) ++failures_;  // the backoff is capped long before; keeps the count bounded
    retry_at_ = now + std::chrono::duration_cast<typename Clock::duration>(policy.backoff(failures_, u));
  }
  void succeeded() noexcept {
    failures_ = 0;
    retry_at_.reset();
  }
  /// May a new attempt start at `now`? Clears the wait once it has passed.
  bool may_attempt(TimePoint now) {
    if (retry_at_ && now >= *retry_at_) retry_at_.reset();
    return !retry_at_;
  }
  void cancel() noexcept { retry_at_.reset(); }
  std::optional<TimePoint> retry_at() const noexcept { return retry_at_; }
  std::uint32_t failures() const noexcept { return failures_; }

 private:
  std::uint32_t failures_ = 0;
  std::optional<TimePoint> retry_at_;
};

}  // namespace cortex::pool
