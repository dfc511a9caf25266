#pragma once
// AgentScheduler: what every session of one manager shares — the FairQueue, made thread-safe (tasks
// start the operation they carry, asynchronously; its completion calls done(), which starts the next
// task in fair order on the completing thread). The gate may outlive the manager, as its sessions
// may (a gate can die late, on an io thread, in the last completion handler of its last session):
// nothing in it touches the manager.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cortex/pool/connection_manager.hpp"
#include "fair_queue.hpp"

namespace cortex::sessions {

class AgentScheduler {
 public:
  /// The gate of `manager`, created with `capacity` by the first session that asks.
  static std::shared_ptr<AgentScheduler> for_manager(const pool::ConnectionManager::WeakRef& manager, std::size_t capacity);
  explicit AgentScheduler(std::size_t capacity) : queue_(capacity) {}

  /// Runs `task` now (on this thread) when there is room and nobody waits, else queues it.
  void submit(const std::string& agent, std::function<void()> task);
  /// An admitted task's operation finished: starts the next, if any.
  void done();

 private:
  std::mutex mu_;
  FairQueue<std::function<void()>> queue_;
};

}  // namespace cortex::sessions
