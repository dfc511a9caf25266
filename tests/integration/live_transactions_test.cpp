// Where the live-query notification of a write committed in an RPC transaction goes (issue #12):
// SurrealDB 3.0.2 sends none. The engine itself was asked directly (its `execute`, no client in
// between): a CREATE inside `begin`/`commit` is committed and visible but notifies nobody, while
// the same CREATE in a `BEGIN; …; COMMIT;` query, or alone, notifies. The client does not drop it.
// This test pins that engine behaviour, so a release that changes it shows here (and
// docs/protocol.md §4 must change with it).
#include <gtest/gtest.h>

#include <set>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "engine.hpp"
#include "latch.hpp"

using namespace cortex::storage;
using namespace cortex::pool;
using namespace cortex::sessions;

TEST(LiveAndTransactions, AWriteCommittedInAnRpcTransactionNotifiesNobodyOnThisEngine) {
  ConnectionManager m(cortex::test::local_config(cortex::test::engine_url(), "livetxn"));
  const std::string ns = cortex::test::unique_name("livetxn");
  auto watcher = AgentSession::create("watcher", m, ns);
  auto writer = AgentSession::create("writer", m, ns);
  ASSERT_TRUE(writer->server_side());
  writer->query("DEFINE TABLE IF NOT EXISTS note").throw_if_error();
  cortex::test::Completions seen;
  watcher->live("note", [&](const Notification& n) {
    if (n.action == "CREATE") seen.handler()({}, Value(n.record.get<RecordId>().to_string()));
  });
  writer->transaction([](TransactionScope& t) { t.query("CREATE note:in_rpc_txn").throw_if_error(); });
  writer->query("BEGIN; CREATE note:in_query_txn; COMMIT;").throw_if_error();
  writer->query("CREATE note:plain").throw_if_error();
  std::set<std::string> first_two;
  for (const auto& c : seen.wait_for(2)) first_two.insert(c.value.get<std::string>());
  EXPECT_EQ(first_two, (std::set<std::string>{"note:in_query_txn", "note:plain"}))
      << "the engine's behaviour changed: update docs/protocol.md §4 and this test";
  // The transaction did commit: only its notification is missing.
  EXPECT_EQ(writer->query("SELECT VALUE id FROM note:in_rpc_txn").at(0).get<Array>().size(), 1u);
}
