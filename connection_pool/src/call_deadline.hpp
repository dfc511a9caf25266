#pragma once
// One call's race between being sent and its deadline, while it waits for something before it can
// be sent (a shared connection to open, an agent's fair-queue turn, a binding): whichever settles
// first decides. A call the deadline catches unsent is answered pool_timeout (never sent, safe to
// retry) and is then never sent; a call sent in time leaves the deadline to the request itself.
// The state is sans-I/O (tests/unit/call_deadline_test.cpp); arm_deadline() adds the timer. Used
// by the shared path's queued calls and by agent sessions' calls.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

namespace cortex::pool::detail {

struct CallDeadline {
  std::chrono::steady_clock::time_point at;
  std::mutex mu;
  bool sent = false, expired = false;
  std::atomic<bool> answered{false};
  std::function<void()> cancel_timer;  // frees the deadline's timer once the call is on its way

  /// The call may go now: false when the deadline already caught it (it was answered then).
  bool try_send() {
    std::function<void()> cancel;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (expired) return false;
      sent = true;
      cancel = std::move(cancel_timer);
    }
    if (cancel) cancel();  // the request's own deadline takes over
    return true;
  }
  /// It was not sent after all (the connection had just closed): it waits again.
  void unsend() {
    std::lock_guard<std::mutex> lock(mu);
    sent = false;
  }
  /// The deadline: true when it caught the call unsent (the caller answers pool_timeout).
  bool try_expire() {
    std::lock_guard<std::mutex> lock(mu);
    if (sent) return false;
    expired = true;
    return true;
  }
  /// The first of several possible answers (the outcome, the deadline) claims the caller.
  bool claim_answer() { return !answered.exchange(true); }
};

/// A timer on `io` for `d->at`: `on_expire()` runs there when the deadline catches the call
/// unsent (try_expire won); try_send() cancels it.
inline void arm_deadline(asio::io_context& io, const std::shared_ptr<CallDeadline>& d, std::function<void()> on_expire) {
  auto timer = std::make_shared<asio::steady_timer>(io, d->at);
  {
    std::lock_guard<std::mutex> lock(d->mu);
    if (d->sent) return;  // already on its way: its own deadline holds
    d->cancel_timer = [timer] { timer->cancel(); };
  }
  timer->async_wait([d, timer, on_expire = std::move(on_expire)](const std::error_code& ec) {
    if (ec != asio::error::operation_aborted && d->try_expire()) on_expire();
  });
}

}  // namespace cortex::pool::detail
