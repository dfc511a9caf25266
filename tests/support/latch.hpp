#pragma once
// Collects async completions and lets a test wait for a count of them: an event to await, not a sleep.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <vector>

#include "cortex/storage/value.hpp"

namespace cortex::test {

struct Completion {
  std::error_code ec;
  storage::Value value;
  int tag = 0;
};

class Completions {
 public:
  /// A handler for async_call that records (ec, value, tag).
  auto handler(int tag = 0) {
    return [this, tag](std::error_code ec, storage::Value v) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back({ec, std::move(v), tag});
      cv_.notify_all();
    };
  }
  /// Waits up to `timeout` for `n` completions: for retry loops that must re-check a condition
  /// (the event may depend on something the test cannot observe). True when they arrived.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_.size() >= n; });
  }
  /// Blocks until `n` completions arrived; returns them in arrival order.
  std::vector<Completion> wait_for(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_.size() >= n; });
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Completion> done_;
};

}  // namespace cortex::test
