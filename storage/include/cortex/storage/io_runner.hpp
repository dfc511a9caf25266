#pragma once
// IoRunner: an Asio io_context with its own threads, for callers that do not run one themselves.
// Destroying it stops the context and joins the threads; destroy every connection using it first.
#include <memory>
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
  /// Stops the context and joins its threads (idempotent; the destructor calls it).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cortex::storage
