#pragma once
// DatabaseConfig and ConnectionMode, as in seed 002. Endpoints are ws://, wss://, or mem:// /
// surrealkv:// / rocksdb:// (which start the embedded engine). Local: one endpoint. Remote: many, balanced, each
// behind a circuit breaker. Hybrid: a local cache that serves every call while it is up, with its
// tables' changes shipped to every remote each sync_interval (changefeeds), and the remotes taking
// over while it is down.
#include <chrono>
#include <optional>

#include "cortex/storage/local_server.hpp"
#include <string>
#include <variant>
#include <vector>

#include "cortex/metrics/pool_events.hpp"
#include "cortex/pool/circuit_breaker.hpp"
#include "cortex/pool/pool_config.hpp"
#include "cortex/storage/rpc.hpp"

namespace cortex::pool {

enum class LoadBalancingStrategy { RoundRobin, LeastConnections, Random, HealthBased };

struct ConnectionMode {
  struct Local {
    std::string endpoint = "mem://";
  };
  struct Remote {
    std::vector<std::string> endpoints;
    LoadBalancingStrategy load_balancing = LoadBalancingStrategy::RoundRobin;
  };
  struct Hybrid {
    std::string local_cache;
    std::vector<std::string> remote_sync;
    /// How often the local cache's changes are shipped to the remotes (> 0). Default 60 s.
    std::chrono::milliseconds sync_interval{60000};
    /// Tables whose changes are shipped (identifiers: letters, digits, _). The sync defines them on
    /// the local cache with a changefeed if they do not exist; an existing table needs one.
    std::vector<std::string> tables;
    /// Names this sync stream in the position records (`_cortex_sync`) kept on each remote and on
    /// the cache, so a restarted manager resumes where it stopped. Default "": the cache's own name,
    /// made once and kept in the cache (`_cortex_sync:self`), so that any number of caches share a
    /// remote with default settings. Set it only to give a cache a name of your choosing; two
    /// caches on one remote must never share one (each would drop the other's writes as its own).
    std::string sync_name;
  };
  std::variant<Local, Remote, Hybrid> mode = Local{};
};

struct DatabaseConfig {
  ConnectionMode connection_mode;
  PoolConfig pool_config;
  std::string namespace_ = "cortex";  ///< `namespace` is a keyword in C++
  std::string database = "main";
  /// Root/namespace/database credentials signed in on every connection; never logged.
  std::optional<storage::Credentials> credentials;
  /// Multiplexed connections per endpoint for the shared path (manager.query). Default 2.
  std::size_t shared_connections = 2;
  /// SurrealQL run on every new connection (e.g. the contents of a .surql schema file).
  std::string schema;
  /// Idle connections are pinged this often; a silent one is replaced. 0 = off. Default 30 s.
  std::chrono::milliseconds health_check_interval{30000};
  /// A connection idle longer than this is pinged before it is handed out. 0 = off. Default 5 s.
  std::chrono::milliseconds validate_after_idle{5000};
  /// A lease held longer than this is reported once and counted. 0 = off. Default 60 s.
  std::chrono::milliseconds leak_threshold{60000};
  /// One breaker per endpoint (Remote and Hybrid; Local has one too, shown in health_status).
  CircuitBreakerConfig circuit_breaker;
  /// Event hook (metrics/pool_events.hpp): acquired, released, created, connect_failed, closed,
  /// breaker_changed, failover, retry, leak — on the thread where it happened, never under a
  /// pool's lock. Empty = none. Also settable later: manager.metrics().set_event_handler(h).
  metrics::PoolEventHandler on_event;
  /// How embedded engines of local endpoints (mem://, surrealkv://, rocksdb://) run: which
  /// SurrealDB generation (`engine`: 3, or 2 for the 2.1.1 engine), guests, start timeout, where the
  /// engine is. Its `store`, root user and password come from the endpoint and `credentials`.
  storage::LocalServerOptions local_engine;

  /// Throws std::invalid_argument naming the field.
  void validate() const;
};

/// A plain SurrealQL identifier (letters, digits, _; not starting with a digit; ≤ 128 chars).
bool is_identifier(const std::string& s);

/// Reads a .surql file for DatabaseConfig::schema. Throws std::invalid_argument when unreadable.
std::string read_schema_file(const std::string& path);

}  // namespace cortex::pool
