#pragma once
// HybridSync: ships the changes of the configured tables from the local cache to every remote,
// every interval, with SurrealDB changefeeds (SHOW CHANGES … SINCE). Each remote keeps the position
// it has applied in a `_cortex_sync` record written in the same transaction as the changes, so a
// restarted manager resumes exactly where the remote stopped: no change lost, none applied twice or
// out of order. Runs on its own thread with its own connections (blocking calls, never on the
// manager's io threads).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/connection_pool.hpp"

namespace cortex::pool {

struct HybridSyncParams {
  std::string local_url;                 ///< ws:// URL of the local cache
  std::vector<std::string> remote_urls;  ///< ws:// URLs of the remotes
  std::vector<std::string> tables;       ///< validated identifiers
  std::string name;                      ///< the stream's name in `_cortex_sync`
  std::chrono::milliseconds interval{60000};
  SessionDefaults session;               ///< namespace, database, credentials on every connection
  std::shared_ptr<metrics::PoolMetrics> metrics;
};

class HybridSync {
 public:
  explicit HybridSync(HybridSyncParams params);  ///< starts the sync thread (first pass at once)
  ~HybridSync();                                 ///< stop()
  HybridSync(const HybridSync&) = delete;
  HybridSync& operator=(const HybridSync&) = delete;

  /// Runs a pass now and waits for it (up to `timeout`). True when it completed without error.
  bool sync_now(std::chrono::milliseconds timeout);
  /// Stops the thread after the pass in progress, if any. Idempotent.
  void stop();

  struct Status {
    std::uint64_t shipped = 0;  ///< changes applied to remotes (each remote counts)
    std::uint64_t passes = 0;   ///< passes completed without error
    /// Time since the last pass that completed without error (none yet: nullopt).
    std::optional<std::chrono::milliseconds> lag;
    std::string last_error;     ///< of the last pass; empty when it succeeded
  };
  Status status() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cortex::pool
