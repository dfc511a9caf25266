#pragma once
// HybridSync: keeps the local cache and the remotes in step, both ways, with SurrealDB changefeeds
// (SHOW CHANGES FOR DATABASE … SINCE). Each pass first copies every remote's new changes into the
// cache (writes made there while the cache was down, or by other clients), then ships the cache's
// changes to every remote. Each side keeps the position it has applied in a `_cortex_sync` record
// written in the same transaction as the changes, so a restarted manager resumes exactly where it
// stopped; the records also tell a pass which changes it wrote itself (never copied back). The
// decisions (what to apply, the conflict rule, when the cache may serve) are in sync_plan.hpp.
// Runs on its own thread with its own connections (blocking calls, never on the manager's io
// threads).
#include <chrono>
#include <functional>
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
  /// The stream's name in `_cortex_sync`; empty: the cache's own, made once and kept in the cache
  /// (`_cortex_sync:self`), so that caches sharing a remote never take each other's shipments for
  /// their own echoes.
  std::string name;
  std::chrono::milliseconds interval{60000};
  SessionDefaults session;               ///< namespace, database, credentials on every connection
  std::shared_ptr<metrics::PoolMetrics> metrics;
  /// The cache endpoint's count of failed calls and connects (the manager's routing records them):
  /// the cache serves again once a pass that began after the latest one has caught it up.
  std::function<std::uint64_t()> cache_failures;
};

/// Where a ship stands when the test hook runs: `planned`: after the pass's pulls, before the ship
/// reads the remote again; `checked`: after that read, just before its conditional write.
enum class ShipStage { planned, checked };
/// Tests (tests/history): runs on a sync thread at both stages of a ship of pending changes to
/// `remote_url`: the windows in which a remote write races the ship. Process-wide; nullptr removes it.
void set_before_ship_for_testing(std::function<void(const std::string& remote_url, ShipStage)> hook);

class HybridSync {
 public:
  explicit HybridSync(HybridSyncParams params);  ///< starts the sync thread (first pass at once)
  ~HybridSync();                                 ///< stop()
  HybridSync(const HybridSync&) = delete;
  HybridSync& operator=(const HybridSync&) = delete;

  /// Runs a pass now and waits for it (up to `timeout`). True when it completed without error.
  bool sync_now(std::chrono::milliseconds timeout);
  /// Waits (up to `timeout`) for the pass the thread runs at start, without asking for another.
  /// True when it completed without error.
  bool wait_first_pass(std::chrono::milliseconds timeout);
  /// Stops the thread after the pass in progress, if any. Idempotent.
  void stop();

  /// Whether the local cache may take calls (see CacheGate). Lock-free: asked on every routing.
  bool cache_serving() const;
  /// The router found the cache not serving: a pass soon, instead of at the next interval.
  void want_catch_up();

  struct Status {
    std::uint64_t shipped = 0;  ///< changes applied to remotes (each remote counts)
    std::uint64_t pulled = 0;   ///< changes copied from remotes into the cache
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
