#pragma once
// FairQueue: admission across agents. At most `capacity` operations run at once. When more wait,
// the next to start is taken round-robin over the agents that have work waiting — one operation
// per agent per turn — so an agent with thousands queued cannot starve one with a single call:
// each waiting agent starts an operation at least once every (number of waiting agents) starts.
// Sans-I/O and not thread-safe: its owner locks (AgentScheduler); tests drive it directly.
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace cortex::sessions {

template <class Task>
class FairQueue {
 public:
  explicit FairQueue(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

  /// The task back when it may start now (capacity left and nobody waiting), else queued.
  std::optional<Task> submit(const std::string& agent, Task task) {
    if (running_ < capacity_ && waiting_ == 0) {
      ++running_;
      return task;
    }
    auto& q = queues_[agent];
    if (q.empty()) turn_.push_back(agent);
    q.push_back(std::move(task));
    ++waiting_;
    return std::nullopt;
  }

  /// An operation finished: the next task to start (the agent whose turn it is), if any.
  std::optional<Task> done() {
    if (running_ > 0) --running_;
    if (turn_.empty()) return std::nullopt;
    const std::string agent = std::move(turn_.front());
    turn_.pop_front();
    auto it = queues_.find(agent);
    Task task = std::move(it->second.front());
    it->second.pop_front();
    --waiting_;
    if (it->second.empty()) {
      queues_.erase(it);
    } else {
      turn_.push_back(agent);  // back of the line: every other waiting agent goes first
    }
    ++running_;
    return task;
  }

  std::size_t running() const noexcept { return running_; }
  std::size_t waiting() const noexcept { return waiting_; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::size_t capacity_, running_ = 0, waiting_ = 0;
  std::map<std::string, std::deque<Task>> queues_;
  std::deque<std::string> turn_;  // agents with waiting work, in turn order
};

}  // namespace cortex::sessions
