#pragma once
// ManagerRegistry: named ConnectionManagers with a default one (seed 001's named and default
// connections; purreal's pool manager), for programs that talk to several databases — e.g. a
// "memory" store and an "audit" store — and look them up by name instead of passing managers
// around. Closed together. Thread-safe. ManagerRegistry::global() is a process-wide instance;
// create your own where a global is unwelcome (tests, libraries).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cortex/pool/connection_manager.hpp"

namespace cortex::pool {

class ManagerRegistry {
 public:
  ManagerRegistry() = default;
  /// Shuts every manager down (no grace): leases still out stay valid (see ConnectionManager).
  ~ManagerRegistry();
  ManagerRegistry(const ManagerRegistry&) = delete;
  ManagerRegistry& operator=(const ManagerRegistry&) = delete;

  /// The process-wide registry (shut down at exit).
  static ManagerRegistry& global();

  /// Creates and registers a manager. The first one added becomes the default. Throws
  /// std::invalid_argument for an empty or taken name, and what ConnectionManager's constructor
  /// throws (bad configuration, a local engine that cannot start).
  std::shared_ptr<ConnectionManager> add(const std::string& name, DatabaseConfig config, unsigned io_threads = 2);
  /// The manager registered as `name`; cortex::Error(invalid_argument) naming the known ones if none.
  std::shared_ptr<ConnectionManager> get(const std::string& name) const;
  /// The default manager; cortex::Error(invalid_argument) when the registry is empty.
  std::shared_ptr<ConnectionManager> default_manager() const;
  /// Makes `name` the default (it must be registered).
  void set_default(const std::string& name);
  /// Unregisters `name` and shuts it down, giving work in flight `grace`. False if unknown.
  bool remove(const std::string& name, std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  /// Shuts every manager down (each gets `grace`) and empties the registry.
  void shutdown_all(std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ConnectionManager>> managers_;
  std::string default_;
};

}  // namespace cortex::pool
