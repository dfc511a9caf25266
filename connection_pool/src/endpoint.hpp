#pragma once
// Endpoint: everything the manager keeps per endpoint — the embedded engine for mem:// and
// surrealkv:// / rocksdb:// URLs, the lease pool, the shared path, and the circuit breaker and health score
// that routing reads. Internal to the manager.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/circuit_breaker.hpp"
#include "cortex/pool/connection_pool.hpp"
#include "cortex/pool/database_config.hpp"
#include "cortex/pool/load_balancer.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "shared_path.hpp"

namespace cortex::pool {


class Endpoint {
 public:
  using Clock = std::chrono::steady_clock;
  /// Starts the embedded engine for a local URL (throws cortex::Error(server_start_failed)), then
  /// the pool (warming it per the config) and the shared path.
  Endpoint(const std::string& configured_url, const DatabaseConfig& config, std::shared_ptr<storage::IoRunner> io,
           std::shared_ptr<metrics::PoolMetrics> metrics);
  ~Endpoint();

  const std::string& url() const noexcept { return url_; }  ///< the ws:// URL
  ConnectionPool& pool() noexcept { return *pool_; }
  SharedPath& shared() noexcept { return *shared_; }
  storage::LocalServer* local_server() noexcept { return local_.get(); }

  /// Routing view: breaker lets calls through; activity and health score only when asked for.
  EndpointView view(bool with_active, bool with_score);
  /// Takes a breaker place for one call (a probe when half-open). False: the breaker is open.
  bool admit();
  /// A call admitted with admit() ended: `ec` (empty = success, server errors count as success).
  void record(std::error_code ec, std::chrono::nanoseconds latency);
  /// An admitted call that never ran.
  void unadmit();
  /// Calls and connects recorded as failures of the endpoint, and shared connections it dropped,
  /// so far (Hybrid's cache gate reads it).
  std::uint64_t failures();
  BreakerState breaker_state();
  /// Why the last call recorded failed, while no call has succeeded since ("" = none).
  std::string last_failure();
  /// The endpoint's figures now. Reports nothing (no event, no log): safe in a metrics source.
  metrics::EndpointStats stats();

 private:
  std::string url_;
  std::shared_ptr<storage::LocalServer> local_;  // shared with other endpoints naming the same engine
  std::shared_ptr<ConnectionPool> pool_;
  std::shared_ptr<SharedPath> shared_;
  std::shared_ptr<metrics::PoolMetrics> metrics_;
  /// Counts and describes breaker state changes since the last call (some happen lazily, when
  /// time passes), as of `now`. Under mu_; the caller logs the message outside the lock.
  std::string settle_locked(Clock::time_point now);
  void report(const std::string& change, std::error_code cause = {});

  std::mutex mu_;  // breaker, score and what was reported
  CircuitBreaker<> breaker_;
  HealthScore score_;
  std::uint64_t reported_transitions_ = 0;
  std::uint64_t requests_ = 0;  // calls recorded, under mu_
  // Of those, failures: written under mu_, read without it (failures(), on every Hybrid routing).
  std::atomic<std::uint64_t> request_failures_{0};
  /// The latest outcome of a call or a connect: set by failures, cleared by successes. Shared with
  /// the pool's and shared path's connect callbacks, which may outlive this object.
  struct LastFailure {
    std::mutex mu;
    std::string text;
    std::atomic<std::uint64_t> connect_failures{0};
    std::atomic<std::uint64_t> connections_lost{0};  // shared connections the server dropped
    std::atomic<bool> has_text{false};  // text is not empty: a success need not take the lock
    void set(std::string t) {
      std::lock_guard<std::mutex> lock(mu);
      text = std::move(t);
      has_text.store(!text.empty(), std::memory_order_relaxed);
    }
  };
  std::shared_ptr<LastFailure> last_failure_ = std::make_shared<LastFailure>();
  BreakerState reported_state_ = BreakerState::Closed;
};

}  // namespace cortex::pool
