#include "agent_scheduler.hpp"

#include <map>

namespace cortex::sessions {

std::shared_ptr<AgentScheduler> AgentScheduler::for_manager(const pool::ConnectionManager::WeakRef& manager, std::size_t capacity) {
  // Keyed by the manager's metrics, not its address: every session of a manager keeps them (and
  // so the gate's key) alive, so a later manager built where a destroyed one was, while sessions
  // of the old one live on, is never handed their gate.
  static std::mutex registry_mu;
  static std::map<const metrics::PoolMetrics*, std::weak_ptr<AgentScheduler>> registry;
  std::lock_guard<std::mutex> lock(registry_mu);
  for (auto it = registry.begin(); it != registry.end();) {  // forget gates whose sessions are all gone
    it = it->second.expired() ? registry.erase(it) : std::next(it);
  }
  auto& slot = registry[manager.metrics().get()];
  auto gate = slot.lock();
  if (!gate) {
    gate = std::make_shared<AgentScheduler>(capacity);
    slot = gate;
  }
  return gate;
}

void AgentScheduler::submit(const std::string& agent, std::function<void()> task) {
  std::optional<std::function<void()>> now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now = queue_.submit(agent, std::move(task));
  }
  if (now) (*now)();
}

void AgentScheduler::done() {
  std::optional<std::function<void()>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = queue_.done();
  }
  if (next) (*next)();
}

}  // namespace cortex::sessions
