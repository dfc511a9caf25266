#pragma once
// AgentGate: the FairQueue every session of one manager shares, made thread-safe. Tasks start the
// operation they carry (asynchronously); its completion calls done(), which starts the next task in
// fair order on the completing thread.
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/fair_queue.hpp"

namespace cortex::sessions {

class AgentGate {
 public:
  /// The gate of `manager`, created with `capacity` by the first session that asks.
  static std::shared_ptr<AgentGate> for_manager(pool::ConnectionManager& manager, std::size_t capacity);
  explicit AgentGate(std::size_t capacity) : queue_(capacity) {}

  /// Runs `task` now (on this thread) when there is room and nobody waits, else queues it.
  void submit(const std::string& agent, std::function<void()> task);
  /// An admitted task's operation finished: starts the next, if any.
  void done();

 private:
  std::mutex mu_;
  FairQueue<std::function<void()>> queue_;
};

}  // namespace cortex::sessions
