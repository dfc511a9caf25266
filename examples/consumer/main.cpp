// cortex-consumer: an agent service in miniature, built against an installed cortex-storage.
// Prints the library's version and the local engine it found, then runs two agents on the
// embedded engine (signed in as root) and checks that each sees only its own namespace.
#include <cstdio>
#include <string>

#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/version.hpp"

using namespace cortex;

int main() {
  std::printf("cortex-storage %s\n", CORTEX_STORAGE_VERSION_STRING);
  std::printf("engine: %s\n", storage::local_engine_dir().c_str());
  pool::DatabaseConfig config;
  config.connection_mode.mode = pool::ConnectionMode::Local{"mem://"};
  config.credentials = storage::Credentials{"", "", "", "root", "consumer-secret", "", {}};
  config.pool_config.min_connections = 1;
  pool::ConnectionManager manager(config);
  auto a = sessions::AgentSession::create("a", manager, "ns_a");
  auto b = sessions::AgentSession::create("b", manager, "ns_b");
  for (auto* s : {a.get(), b.get()}) {
    s->query("DEFINE TABLE IF NOT EXISTS note SCHEMALESS").throw_if_error();
    s->query("CREATE note SET by = $me", {{"me", storage::Value(s->agent_id())}}).throw_if_error();
  }
  const auto rows = a->query("SELECT by FROM note").statements.at(0).result.get<storage::Array>();
  const bool ok = rows.size() == 1 && rows[0]["by"].get<std::string>() == "a";
  std::printf("%s\n", ok ? "consumer: ok" : "consumer: FAILED");
  return ok ? 0 : 1;
}
