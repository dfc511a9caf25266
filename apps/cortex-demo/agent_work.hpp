#pragma once
// The demo's agents: each an AgentSession in its own namespace, doing a memory workload on its own
// thread until the deadline; one also watches its memories with a live query.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cortex/metrics/latency_histogram.hpp"
#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"

class Demo {
 public:
  Demo(cortex::pool::ConnectionManager& m, int agents);
  ~Demo();
  void start(std::chrono::duration<double> duration);
  /// True once every agent finished (waits up to `timeout`).
  bool wait_done(std::chrono::milliseconds timeout);
  std::uint64_t operations() const { return ops_.load(); }
  cortex::metrics::LatencySummary latency() const { return latency_.summary(); }
  /// Asks every agent to stop after its current operation (Ctrl-C).
  void stop() { stop_ = true; }
  void print_table();
  /// Per-agent figures and totals as JSON (the --report file).
  nlohmann::json report() const;
  int failed_agents() const { return failed_.load(); }

 private:
  struct Agent {
    std::string name;
    std::shared_ptr<cortex::sessions::AgentSession> session;
    std::uint64_t memories = 0, relations = 0, transactions = 0;
    std::string error;
  };
  void run(Agent& a, std::chrono::steady_clock::time_point until);
  void op(Agent& a, const std::function<void()>& f);

  std::vector<Agent> agents_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> ops_{0};
  std::atomic<int> failed_{0}, running_{0}, notified_{0};
  std::string live_refused_;  // why the server refused the live query ("" = it runs)
  std::atomic<bool> stop_{false};
  cortex::metrics::LatencyHistogram latency_;
  std::mutex mu_;
  std::condition_variable finished_;
};
