#pragma once
// KeepaliveMonitor: decides, without I/O, when an open socket needs a keepalive ping and when it is
// dead. RpcConnection feeds it the clock, the last time anything arrived (a whole frame, or TCP
// data still mid-frame) and how much of our own output the socket still buffers; it answers with
// the next action and when to ask again.
//
// Why each rule: a busy peer answers late but still sends, so any inbound data is proof of life;
// a ping queued behind a large send is not written yet, so while that output drains the ping's
// deadline restarts; only silence in both directions for a whole timeout after a ping is death.
// Thread-safety: none; the owner serialises calls (RpcConnection holds its mutex).
#include <chrono>
#include <cstddef>
#include <optional>

namespace cortex::storage::detail {

class KeepaliveMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Action { none, send_ping, declare_dead };

  KeepaliveMonitor(std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
      : interval_(interval), timeout_(timeout) {}

  /// The timer fired (or the owner polls). `last_inbound`: the latest moment data arrived.
  /// `send_buffered`: bytes of ours the socket holds that the peer has not acknowledged yet.
  Action on_tick(Clock::time_point now, std::optional<Clock::time_point> last_inbound, std::size_t send_buffered) {
    if (ping_sent_) {
      if (now - *ping_sent_ < timeout_) return Action::none;
      if (last_inbound && *last_inbound > *ping_sent_) {  // the peer spoke after our ping
        ping_sent_.reset();
        return Action::none;
      }
      if (send_buffered > 0 && send_buffered != buffered_at_ping_) {  // our output is still draining
        ping_sent_ = now;
        buffered_at_ping_ = send_buffered;
        return Action::none;
      }
      return Action::declare_dead;
    }
    if (last_inbound && now - *last_inbound < interval_) return Action::none;  // recent traffic
    return start_ping(now, send_buffered);
  }

  /// A request outran its deadline. That alone says the caller was in a hurry, not that the peer
  /// is gone; but it is reason to check now rather than at the next interval: send_ping unless a
  /// ping is already out.
  Action on_request_timeout(Clock::time_point now, std::size_t send_buffered) {
    if (ping_sent_) return Action::none;
    return start_ping(now, send_buffered);
  }

  /// The ping was answered, or failed with anything but a timeout (the socket is then judged by
  /// the next tick like any other): either way no ping is outstanding any more.
  void on_ping_done() { ping_sent_.reset(); }

  /// When on_tick wants to be called next.
  Clock::time_point next_tick(Clock::time_point now) const {
    return ping_sent_ ? *ping_sent_ + timeout_ : now + interval_;
  }

  bool ping_outstanding() const { return ping_sent_.has_value(); }

 private:
  Action start_ping(Clock::time_point now, std::size_t send_buffered) {
    ping_sent_ = now;
    buffered_at_ping_ = send_buffered;
    return Action::send_ping;
  }

  std::chrono::milliseconds interval_, timeout_;
  std::optional<Clock::time_point> ping_sent_;
  std::size_t buffered_at_ping_ = 0;
};

}  // namespace cortex::storage::detail
