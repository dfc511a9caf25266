#include "agent_scheduler.hpp"

#include <map>

namespace cortex::sessions {

std::shared_ptr<AgentScheduler> AgentScheduler::for_manager(pool::ConnectionManager& manager, std::size_t capacity) {
  static std::mutex registry_mu;
  static std::map<const pool::ConnectionManager*, std::weak_ptr<AgentScheduler>> registry;
  std::lock_guard<std::mutex> lock(registry_mu);
  for (auto it = registry.begin(); it != registry.end();) {  // forget gates whose sessions are all gone
    it = it->second.expired() ? registry.erase(it) : std::next(it);
  }
  auto& slot = registry[&manager];
  auto gate = slot.lock();
  if (!gate) {
    gate = std::make_shared<AgentScheduler>(capacity);
    slot = gate;
    // Holds the gate weakly: a gate can die late, on an io thread, in the last completion handler
    // of its last session, when its manager may be gone — so nothing in it touches the manager then.
    manager.metrics().set_agents_source([weak = std::weak_ptr<AgentScheduler>(gate)] {
      auto g = weak.lock();
      return g ? g->agent_stats() : std::vector<metrics::AgentStats>{};
    });
  }
  return gate;
}

std::vector<metrics::AgentStats> AgentScheduler::agent_stats() {
  std::vector<metrics::AgentStats> out;
  std::lock_guard<std::mutex> lock(agents_mu_);
  for (auto& [token, stats] : agents_) {
    auto a = stats();
    if (!a.name.empty()) out.push_back(std::move(a));  // empty: the session is being destroyed
  }
  return out;
}

std::uint64_t AgentScheduler::add_agent(std::function<metrics::AgentStats()> stats) {
  std::lock_guard<std::mutex> lock(agents_mu_);
  agents_.emplace(next_token_, std::move(stats));
  return next_token_++;
}

void AgentScheduler::remove_agent(std::uint64_t token) {
  std::lock_guard<std::mutex> lock(agents_mu_);
  agents_.erase(token);
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
