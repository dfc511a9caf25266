// ManagerRegistry: a name → manager map with a default, under one mutex. Managers are created and
// shut down outside the lock (both may take seconds).
#include "cortex/pool/manager_registry.hpp"

#include <stdexcept>

#include "cortex/storage/error.hpp"

namespace cortex::pool {

ManagerRegistry::~ManagerRegistry() { shutdown_all(); }

ManagerRegistry& ManagerRegistry::global() {
  static ManagerRegistry registry;
  return registry;
}

std::shared_ptr<ConnectionManager> ManagerRegistry::add(const std::string& name, DatabaseConfig config, unsigned io_threads) {
  if (name.empty()) throw std::invalid_argument("ManagerRegistry::add: the name is empty");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (managers_.count(name)) throw std::invalid_argument("ManagerRegistry::add: '" + name + "' is already registered");
  }
  auto manager = std::make_shared<ConnectionManager>(std::move(config), io_threads);
  std::lock_guard<std::mutex> lock(mu_);
  if (!managers_.emplace(name, manager).second) {  // another thread took the name meanwhile
    throw std::invalid_argument("ManagerRegistry::add: '" + name + "' is already registered");
  }
  if (default_.empty()) default_ = name;
  return manager;
}

std::shared_ptr<ConnectionManager> ManagerRegistry::get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = managers_.find(name);
  if (it != managers_.end()) return it->second;
  std::string known;
  for (const auto& [n, m] : managers_) known += (known.empty() ? "" : ", ") + n;
  throw Error(make_error_code(Errc::invalid_argument),
              "no connection manager named '" + name + "' (registered: " + (known.empty() ? "none" : known) + ")");
}

std::shared_ptr<ConnectionManager> ManagerRegistry::default_manager() const {
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    name = default_;
  }
  if (name.empty()) throw Error(make_error_code(Errc::invalid_argument), "no connection manager is registered");
  return get(name);
}

void ManagerRegistry::set_default(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!managers_.count(name)) throw std::invalid_argument("ManagerRegistry::set_default: '" + name + "' is not registered");
  default_ = name;
}

bool ManagerRegistry::remove(const std::string& name, std::chrono::milliseconds grace) {
  std::shared_ptr<ConnectionManager> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = managers_.find(name);
    if (it == managers_.end()) return false;
    gone = std::move(it->second);
    managers_.erase(it);
    if (default_ == name) default_ = managers_.empty() ? std::string() : managers_.begin()->first;
  }
  gone->shutdown(grace);
  return true;
}

void ManagerRegistry::shutdown_all(std::chrono::milliseconds grace) {
  std::map<std::string, std::shared_ptr<ConnectionManager>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(managers_);
    default_.clear();
  }
  for (auto& [name, m] : all) m->shutdown(grace);
}

std::vector<std::string> ManagerRegistry::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [n, m] : managers_) out.push_back(n);
  return out;
}

}  // namespace cortex::pool
