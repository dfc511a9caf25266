// Completion tokens on the manager, the pool and sessions (cortex/pool/async.hpp,
// cortex/sessions/async.hpp), against the real engine: callbacks (move-only too), use_future,
// deferred; failures complete with the cortex::Error a blocking call throws, message included.
// C++20 coroutines (use_awaitable) are in tests/cxx20_coroutines.cpp.
#include <gtest/gtest.h>

#include <future>
#include <memory>

#include <asio/experimental/deferred.hpp>
#include <asio/use_future.hpp>

#include "cortex/pool/async.hpp"
#include "cortex/sessions/async.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using cortex::Errc;
using cortex::storage::QueryResult;
using cortex::storage::Value;

namespace {

DatabaseConfig config() {
  DatabaseConfig c;
  c.credentials = cortex::test::root_credentials();
  c.connection_mode.mode = ConnectionMode::Local{cortex::test::engine_url()};
  c.pool_config.min_connections = 0;
  c.namespace_ = cortex::test::unique_name("tokens");
  return c;
}

}  // namespace

TEST(AsyncTokens, UseFutureGivesTheResultOrThrowsTheTypedErrorWithTheServersMessage) {
  ConnectionManager m(config());
  std::future<QueryResult> ok = async_query(m, "RETURN $x * 2", {{"x", Value(21)}}, asio::use_future);
  EXPECT_EQ(ok.get().at(0), Value(42));
  auto bad = async_call(m, cortex::storage::rpc::query("SELEC nonsense"), {}, asio::use_future);
  try {
    (void)bad.get();
    ADD_FAILURE() << "invalid SurrealQL succeeded";
  } catch (const cortex::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Parse error"), std::string::npos) << e.what();
  }
  auto refused = async_call(m, cortex::storage::rpc::use("other", "db"), {}, asio::use_future);
  try {
    (void)refused.get();
    ADD_FAILURE() << "use on the shared path was sent";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(Errc::session_state_on_shared_path));
  }
}

TEST(AsyncTokens, MoveOnlyCallbacksAndLeases) {
  ConnectionManager m(config());
  std::promise<std::int64_t> got;
  auto token = std::make_unique<int>(7);  // makes the handler move-only
  async_query(m, "RETURN 5", {}, [&got, t = std::move(token)](std::exception_ptr e, QueryResult r) {
    if (e) return got.set_exception(e);
    got.set_value(r.at(0).get<std::int64_t>() + *t);
  });
  EXPECT_EQ(got.get_future().get(), 12);
  auto lease = async_acquire(m, asio::use_future).get();
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->call(cortex::storage::rpc::query("RETURN 1"))[std::size_t{0}]["result"], Value(1));
}

TEST(AsyncTokens, DeferredStartsOnlyWhenInvoked) {
  ConnectionManager m(config());
  m.query("DEFINE TABLE note SCHEMALESS").throw_if_error();
  auto op = async_query(m, "CREATE note SET n = 1", {}, asio::experimental::deferred);
  // Nothing was sent yet: the table is still empty.
  EXPECT_EQ(m.query("SELECT * FROM note").rows<Value>().size(), 0u);
  std::promise<void> done;
  std::move(op)([&](std::exception_ptr e, QueryResult) {
    if (e) return done.set_exception(e);
    done.set_value();
  });
  done.get_future().get();
  EXPECT_EQ(m.query("SELECT * FROM note").rows<Value>().size(), 1u);
}

TEST(AsyncTokens, SessionsAndRetries) {
  ConnectionManager m(config());
  auto agent = cortex::sessions::AgentSession::create("tok", m, cortex::test::unique_name("tok"));
  auto r = cortex::sessions::async_query(*agent, "RETURN session::ns()", {}, asio::use_future).get();
  EXPECT_EQ(r.at(0), Value(agent->ns()));
  auto v = async_execute_with_retry(
               m, [&](cortex::storage::Handler h) { m.async_call(cortex::storage::rpc::query("RETURN 3"), {}, std::move(h)); },
               asio::use_future)
               .get();
  EXPECT_EQ(v[std::size_t{0}]["result"], Value(3));
}

// Transactions had no async form: a transaction of known steps commits as one, and a failed step
// (here a statement error) cancels all of it, completing with that step's typed error.
TEST(AsyncTokens, TransactionsCommitTogetherOrCancelTogether) {
  ConnectionManager m(config());
  auto agent = cortex::sessions::AgentSession::create("txn", m, cortex::test::unique_name("txn"));
  namespace rpc = cortex::storage::rpc;
  auto results = cortex::sessions::async_transaction(
                     *agent, {rpc::query("CREATE ledger:a SET n = 1"), rpc::query("CREATE ledger:b SET n = 2")}, asio::use_future)
                     .get();
  EXPECT_EQ(results.size(), 2u);
  auto failing = cortex::sessions::async_transaction(
      *agent, {rpc::query("CREATE ledger:c SET n = 3"), rpc::query("THROW 'no'")}, asio::use_future);
  try {
    failing.get();
    ADD_FAILURE() << "a failed step must fail the transaction";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), make_error_code(cortex::Errc::statement_failed)) << e.what();
  }
  const auto n = agent->query("SELECT VALUE n FROM ledger ORDER BY n");
  EXPECT_EQ(n.at(0), Value(cortex::storage::Array{Value(1), Value(2)}));  // ledger:c was cancelled
  // A callback works too (move-only state included).
  std::promise<std::size_t> got;
  agent->async_transaction({rpc::query("RETURN 1")}, [&](std::error_code ec, Value v) {
    got.set_value(ec ? 0 : v.get<cortex::storage::Array>().size());
  });
  EXPECT_EQ(got.get_future().get(), 1u);
}
