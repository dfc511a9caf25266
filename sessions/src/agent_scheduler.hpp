#pragma once
// AgentScheduler: what every session of one manager shares — the FairQueue, made thread-safe (tasks
// start the operation they carry, asynchronously; its completion calls done(), which starts the next
// task in fair order on the completing thread), and the registry behind the agents section of the
// manager's metrics snapshot. Sessions must not outlive their manager; the gate may (see for_manager).
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
  static std::shared_ptr<AgentScheduler> for_manager(pool::ConnectionManager& manager, std::size_t capacity);
  explicit AgentScheduler(std::size_t capacity) : queue_(capacity) {}

  /// A session's figures for the snapshot; the token removes them.
  std::uint64_t add_agent(std::function<metrics::AgentStats()> stats);
  void remove_agent(std::uint64_t token);
  /// Every registered session's figures (the manager's snapshot reads them through a weak source).
  std::vector<metrics::AgentStats> agent_stats();

  /// Runs `task` now (on this thread) when there is room and nobody waits, else queues it.
  void submit(const std::string& agent, std::function<void()> task);
  /// An admitted task's operation finished: starts the next, if any.
  void done();

 private:
  std::mutex mu_;
  FairQueue<std::function<void()>> queue_;
  std::mutex agents_mu_;
  std::map<std::uint64_t, std::function<metrics::AgentStats()>> agents_;
  std::uint64_t next_token_ = 1;
};

}  // namespace cortex::sessions
