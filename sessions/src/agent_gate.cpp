#include "agent_gate.hpp"

#include <map>

namespace cortex::sessions {

std::shared_ptr<AgentGate> AgentGate::for_manager(pool::ConnectionManager& manager, std::size_t capacity) {
  static std::mutex registry_mu;
  static std::map<const pool::ConnectionManager*, std::weak_ptr<AgentGate>> registry;
  std::lock_guard<std::mutex> lock(registry_mu);
  for (auto it = registry.begin(); it != registry.end();) {  // forget gates whose sessions are all gone
    it = it->second.expired() ? registry.erase(it) : std::next(it);
  }
  auto& slot = registry[&manager];
  auto gate = slot.lock();
  if (!gate) {
    gate = std::make_shared<AgentGate>(manager, capacity);
    slot = gate;
  }
  return gate;
}

AgentGate::AgentGate(pool::ConnectionManager& manager, std::size_t capacity) : manager_(manager), queue_(capacity) {
  // A raw pointer: the destructor removes the source before the gate goes.
  manager_.metrics().set_agents_source([this] {
    std::vector<metrics::AgentStats> out;
    std::lock_guard<std::mutex> lock(agents_mu_);
    for (auto& [token, stats] : agents_) {
      auto a = stats();
      if (!a.name.empty()) out.push_back(std::move(a));  // empty: the session is being destroyed
    }
    return out;
  });
}

AgentGate::~AgentGate() { manager_.metrics().set_agents_source(nullptr); }

std::uint64_t AgentGate::add_agent(std::function<metrics::AgentStats()> stats) {
  std::lock_guard<std::mutex> lock(agents_mu_);
  agents_.emplace(next_token_, std::move(stats));
  return next_token_++;
}

void AgentGate::remove_agent(std::uint64_t token) {
  std::lock_guard<std::mutex> lock(agents_mu_);
  agents_.erase(token);
}

void AgentGate::submit(const std::string& agent, std::function<void()> task) {
  std::optional<std::function<void()>> now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now = queue_.submit(agent, std::move(task));
  }
  if (now) (*now)();
}

void AgentGate::done() {
  std::optional<std::function<void()>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = queue_.done();
  }
  if (next) (*next)();
}

}  // namespace cortex::sessions
