#pragma once
// IoRunner: an Asio io_context with its own threads, for callers that do not run one themselves.
// Destroying it stops the context and joins the threads (from one of its own threads, a helper
// thread joins them); destroy every connection using it first.
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio {
class io_context;
}

namespace cortex::storage {

class IoRunner {
 public:
  /// Starts `threads` threads (at least 1) running the context.
  explicit IoRunner(unsigned threads = 1);
  ~IoRunner();
  IoRunner(const IoRunner&) = delete;
  IoRunner& operator=(const IoRunner&) = delete;

  asio::io_context& context() noexcept;
  /// Stops the context and joins its threads (idempotent; the destructor calls it). Called on one
  /// of its own threads, it stops without joining.
  void stop();
  /// True on one of this runner's threads.
  bool runs_here() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Throws cortex::Error(invalid_argument) when called on one of `io`'s threads: a blocking call
/// there would wait for the very thread it blocks. `what` names the call in the message.
void refuse_on_io_thread(asio::io_context& io, const std::string& what);

}  // namespace cortex::storage
