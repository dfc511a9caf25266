#pragma once
// ConnectionManager::Impl: the manager's endpoints (pool + shared path + breaker each), the load
// balancer and the Hybrid sync. Routing with failover is in failover.cpp; the public API, health
// and shutdown in connection_manager.cpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/io_runner.hpp"
#include "endpoint.hpp"
#include "hybrid_sync.hpp"

namespace cortex::pool {

struct ConnectionManager::Impl : std::enable_shared_from_this<ConnectionManager::Impl> {
  DatabaseConfig config;
  // Shared: pools (kept alive by leases that outlive the manager) hold it too.
  std::shared_ptr<storage::IoRunner> io;
  std::shared_ptr<metrics::PoolMetrics> metrics = std::make_shared<metrics::PoolMetrics>();
  std::vector<std::unique_ptr<Endpoint>> endpoints;  // Hybrid: [0] is the local cache
  bool primary_first = false;                        // Hybrid: the local cache while it takes calls
  std::mutex lb_mu;
  LoadBalancer lb{LoadBalancingStrategy::RoundRobin};
  std::mt19937_64 rng{std::random_device{}()};
  std::unique_ptr<HybridSync> sync;  // declared after the endpoints: stopped first
  std::atomic<bool> closed{false};

  Impl(DatabaseConfig c, unsigned threads) : config(std::move(c)), io(std::make_shared<storage::IoRunner>(threads)) {}
  ~Impl() {
    sync.reset();
    metrics->set_gauge_source(nullptr);  // before the pools it reads go
    metrics->set_endpoints_source(nullptr);
  }

  /// execute_with_retry runs its function again after `ec`: counted, and reported to the hook.
  void count_retry(std::error_code ec) {
    metrics->retries.fetch_add(1, std::memory_order_relaxed);
    metrics->emit({metrics::PoolEventKind::retry, {}, {}, {}, ec, ec.message()});
  }

  // -- routing (failover.cpp): the endpoint order and the one failover loop -------------------

  /// The endpoint for the next call among those not yet tried, or nullopt: the local cache first
  /// in Hybrid mode while it takes calls, else the strategy's pure choice over the endpoints' views.
  /// (admit() asks the breaker; a single endpoint needs no choosing, the hot path of Local mode.)
  std::optional<std::size_t> choose(const std::vector<bool>& tried);

  /// One piece of work's way through the endpoints: which were tried, and why each failed. A
  /// kind of work (failover.cpp: a call, a shared connection, a lease) derives from it and holds
  /// what it needs; the attempt's completion handler holds only the work (one pointer: no copy
  /// of the request, the handler or the failover state per attempt).
  struct Failover {
    virtual ~Failover() = default;
    std::weak_ptr<Impl> owner;  // the endpoints live as long as the manager: checked before use
    std::vector<bool> tried;
    std::vector<std::string> reasons;  // "URL: why", in the order tried
    std::error_code last;
    Endpoint* ep = nullptr;  // the endpoint of the attempt in flight
    std::chrono::steady_clock::time_point started;  // when it started: its latency, for health
    // The work's one deadline across every endpoint it tries: a failover hands the next endpoint
    // only what is left (never a fresh timeout per endpoint).
    std::chrono::steady_clock::time_point deadline;
    /// Rounded up: an attempt's own deadline is never before the work's, so that once an attempt
    /// ran out of time, so has the work (no endpoint is then tried with the last millisecond).
    std::chrono::milliseconds left() const {
      return std::max(std::chrono::milliseconds(1),
                      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    }
    /// Runs the work on `*ep` (`others_left`: another endpoint could still take it). It finishes
    /// the work itself (success, or a failure that may have reached the endpoint), or calls
    /// `Impl::failed(self, ec, why)` when its failure proves the endpoint never got it, so that
    /// another may take it.
    virtual void attempt(std::shared_ptr<Failover> self, bool others_left) = 0;
    /// No endpoint is left: `why` names every endpoint tried and why it failed.
    virtual void exhausted(std::error_code ec, const std::string& why) = 0;

    std::string summary() const;
  };
  /// Tries endpoints in the order `choose` gives, each at most once, until the work is done or
  /// none is left.
  void run(std::shared_ptr<Failover> f);
  /// The attempt on `f->ep` failed without reaching the endpoint: the next endpoint, if any.
  static void failed(std::shared_ptr<Failover> f, std::error_code ec, const std::string& why);
  /// The attempt on `f->ep` ended (`ec` or not): its latency and outcome count for the endpoint's
  /// health and breaker while the manager lives.
  static void record(const Failover& f, std::error_code ec);
  bool untried_left(const std::vector<bool>& tried) const;
  struct CallWork;        // failover.cpp: the kinds of work
  struct ConnectionWork;
  struct LeaseWork;

  // The three kinds of work, each through run().
  void route_call(storage::Request request, storage::RequestOptions options, storage::Handler handler);
  using ConnHandler = std::function<void(std::error_code, const std::string&, std::shared_ptr<storage::RpcConnection>)>;
  void route_connection(ConnHandler then);
  /// `done(ec, why, lease)`: `why` describes a failure for the exception a blocking acquire throws.
  using LeaseHandler = std::function<void(std::error_code, const std::string& why, PooledConnection)>;
  void route_acquire(LeaseHandler done, const char* file, int line);
};

}  // namespace cortex::pool
