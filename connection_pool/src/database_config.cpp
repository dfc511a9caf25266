#include "cortex/pool/database_config.hpp"

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
  if (const auto* local = std::get_if<ConnectionMode::Local>(&connection_mode.mode)) {
    try {
      storage::parse_endpoint(local->endpoint);
    } catch (const Error& e) {
      throw std::invalid_argument(std::string("ConnectionMode::Local::endpoint: ") + e.what());
    }
  } else {
    throw std::invalid_argument("DatabaseConfig::connection_mode: Remote and Hybrid modes are not available in this build yet");
  }
}

std::string read_schema_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("schema file '" + path + "' cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cortex::pool
