// The README's agent-session example, whole: two agents in their own namespaces over one manager,
// variables, the persisted transaction log, an RPC transaction, a live query.
// Run: build/examples/example_agent_sessions
#include <atomic>
#include <cstdio>

// [readme]
#include "cortex/sessions/agent_session.hpp"
using namespace cortex::sessions;
// [/readme]
using cortex::pool::ConnectionManager;
using cortex::pool::ConnectionMode;
using cortex::pool::DatabaseConfig;
using cortex::storage::Credentials;
using cortex::storage::Notification;
using cortex::storage::Value;

int main() {
  DatabaseConfig config;
  config.connection_mode.mode = ConnectionMode::Local{"mem://"};
  config.credentials = Credentials{"", "", "", "root", "example-secret", "", {}};
  config.pool_config.min_connections = 1;
  ConnectionManager manager(config);

  // [readme]
  auto planner = AgentSession::create("planner", manager, "planning");  // its own namespace
  auto coder = AgentSession::create("coder", manager, "coding");
  for (auto* agent : {planner.get(), coder.get()}) {
    agent->query("DEFINE TABLE IF NOT EXISTS memory SCHEMALESS").throw_if_error();
  }
  std::atomic<int> seen{0};
  auto sub = planner->live("memory", [&](const Notification&) { ++seen; });
  planner->query("CREATE memory SET text = $t", {{"t", Value("plan the sprint")}}).throw_if_error();
  planner->let("goal", Value("ship"));                                    // restored after reconnects
  auto id = planner->record_transaction({TransactionOperation::Write{"/src/main.rs", "abc123"}});
  planner->transaction([&](TransactionScope& t) {                         // begin … commit, or cancel
    t.query("CREATE ledger SET amount = 10").throw_if_error();
  });
  planner->commit_transaction(id);
  const auto history = planner->transaction_history();                   // persisted in its namespace
  const auto mine = planner->query("SELECT * FROM memory");
  const auto theirs = coder->query("SELECT * FROM memory");               // another namespace: empty
  planner->kill(sub);
  // [/readme]
  const bool ok = history.size() == 1 && history[0].status == TransactionStatus::Committed &&
                  mine.statements.at(0).result.get<cortex::storage::Array>().size() == 1 && theirs.statements.at(0).result.get<cortex::storage::Array>().empty();
  std::printf("%s (%d live notification%s)\n", ok ? "agent example: ok" : "agent example: FAILED", seen.load(),
              seen.load() == 1 ? "" : "s");
  return ok ? 0 : 1;
}
