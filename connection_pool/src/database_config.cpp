#include "cortex/pool/database_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cortex/storage/error.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

void DatabaseConfig::validate() const {
  pool_config.validate();
  if (namespace_.empty()) throw std::invalid_argument("DatabaseConfig::namespace_: must not be empty");
  if (database.empty()) throw std::invalid_argument("DatabaseConfig::database: must not be empty");
  if (shared_connections == 0) throw std::invalid_argument("DatabaseConfig::shared_connections: must be at least 1");
  if (health_check_interval.count() < 0) throw std::invalid_argument("DatabaseConfig::health_check_interval: must not be negative");
  if (validate_after_idle.count() < 0) throw std::invalid_argument("DatabaseConfig::validate_after_idle: must not be negative");
  if (leak_threshold.count() < 0) throw std::invalid_argument("DatabaseConfig::leak_threshold: must not be negative");
  circuit_breaker.validate();
  auto check_url = [](const std::string& url, const std::string& field) {
    try {
      storage::parse_endpoint(url);
    } catch (const Error& e) {
      throw std::invalid_argument(field + ": " + e.what());
    }
  };
  if (const auto* local = std::get_if<ConnectionMode::Local>(&connection_mode.mode)) {
    check_url(local->endpoint, "ConnectionMode::Local::endpoint");
  } else if (const auto* remote = std::get_if<ConnectionMode::Remote>(&connection_mode.mode)) {
    if (remote->endpoints.empty()) throw std::invalid_argument("ConnectionMode::Remote::endpoints: must not be empty");
    for (const auto& e : remote->endpoints) check_url(e, "ConnectionMode::Remote::endpoints");
  } else {
    const auto& h = std::get<ConnectionMode::Hybrid>(connection_mode.mode);
    check_url(h.local_cache, "ConnectionMode::Hybrid::local_cache");
    if (h.remote_sync.empty()) throw std::invalid_argument("ConnectionMode::Hybrid::remote_sync: must not be empty");
    for (const auto& e : h.remote_sync) check_url(e, "ConnectionMode::Hybrid::remote_sync");
    if (h.sync_interval.count() <= 0) throw std::invalid_argument("ConnectionMode::Hybrid::sync_interval: must be positive");
    for (const auto& t : h.tables) {
      if (!is_identifier(t)) throw std::invalid_argument("ConnectionMode::Hybrid::tables: '" + t + "' is not a plain identifier");
    }
  }
}

bool is_identifier(const std::string& s) {
  if (s.empty() || s.size() > 128 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string read_schema_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("schema file '" + path + "' cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cortex::pool
