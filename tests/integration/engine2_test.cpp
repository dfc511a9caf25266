// Against a real SurrealDB 2.1.1 engine (tools/surrealdb-local --engine 2, signed in, guests
// refused): the 2.x fallback of the whole stack — bare connections, the manager, AgentSessions on
// exclusive leases with use/signin replayed — and what 2.x cannot do, refused typed before sending.
#include <gtest/gtest.h>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/error.hpp"
#include "engine.hpp"
#include "error_of.hpp"

using namespace cortex::storage;
using namespace cortex::pool;
using namespace cortex::sessions;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::error_of;

namespace {

LocalServerOptions engine2_options() {
  auto o = cortex::test::private_engine_options();
  o.engine = 2;
  return o;
}

// One 2.1.1 engine for the tests of this file that need no private one.
LocalServer& engine2() {
  static LocalServer server(engine2_options());
  return server;
}

DatabaseConfig config_for(const std::string& url) {
  DatabaseConfig c = cortex::test::local_config(url, "v2");
  c.pool_config.retry_policy.initial_backoff = std::chrono::milliseconds(10);
  return c;
}

}  // namespace

TEST(Engine2, BareConnectionSpeaks2xAndRefuses3xMethodsBeforeSending) {
  IoRunner io(1);
  auto c = cortex::test::connect_signed_in(io.context(), engine2().url());
  EXPECT_EQ(c->server_version(), "surrealdb-2.1.1");
  EXPECT_EQ(c->server_major(), 2);
  EXPECT_FALSE(c->supports_sessions());
  c->call(rpc::use("v2", "bare"));
  c->call(rpc::create(record("note", Value("a")), Object{{"text", Value("two")}}));
  EXPECT_EQ(c->query("SELECT text FROM note WHERE text = $t", {{"t", Value("two")}}).at(0).get<Array>().size(), 1u);
  // A parse error is a typed server error with 2.x's shape (a code, no kind).
  try {
    c->query("SELECT * FROM");
    ADD_FAILURE() << "no error";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code().category(), cortex::server_category()) << e.what();
    EXPECT_EQ(e.server_code(), -32000);
    EXPECT_NE(std::string(e.what()).find("Parse error"), std::string::npos) << e.what();
  }
  for (auto req : {rpc::begin(), rpc::attach(), rpc::sessions(), rpc::refresh({"a", "r"})}) {
    EXPECT_EQ(error_of([&] { c->call(req); }), make_error_code(Errc::unsupported_by_server)) << req.method;
  }
  // Live queries: this build delivers no notifications, so the front refuses them (typed), as
  // never-delivering success would be worse.
  EXPECT_EQ(error_of([&] { c->call(rpc::live(Value(Table{"note"}))); }).category(), cortex::server_category());
}

TEST(Engine2, WrongPasswordAndGuestsAreRefusedTyped) {
  IoRunner io(1);
  auto guest = RpcConnection::connect(io.context(), engine2().url());
  guest->call(rpc::use("v2", "guests"));
  EXPECT_EQ(error_of([&] { guest->query("RETURN 1"); }), make_error_code(cortex::ServerErrc::not_allowed));
  Credentials bad = cortex::test::root_credentials();
  bad.pass = "wrong-password";
  const auto ec = error_of([&] { guest->call(rpc::signin(bad)); });
  EXPECT_EQ(ec.category(), cortex::server_category()) << ec.message();
}

// The front gives each socket its own session over the engine's one; so must the client keep
// sockets apart: namespaces, variables and auth never leak from one connection to another.
TEST(Engine2, ConnectionsKeepTheirOwnNamespaceVariablesAndAuth) {
  IoRunner io(1);
  auto a = cortex::test::connect_signed_in(io.context(), engine2().url());
  auto b = cortex::test::connect_signed_in(io.context(), engine2().url());
  a->call(rpc::use("v2_a", "db"));
  b->call(rpc::use("v2_b", "db"));
  a->call(rpc::let("who", Value("a")));
  b->call(rpc::let("who", Value("b")));
  for (int i = 0; i < 5; ++i) {  // interleaved: the front switches sessions each time
    EXPECT_EQ(a->query("RETURN [session::ns(), $who]").at(0), Value(Array{Value("v2_a"), Value("a")}));
    EXPECT_EQ(b->query("RETURN [session::ns(), $who]").at(0), Value(Array{Value("v2_b"), Value("b")}));
  }
  b->call(rpc::invalidate());
  EXPECT_EQ(error_of([&] { b->query("RETURN 1"); }), make_error_code(cortex::ServerErrc::not_allowed));
  EXPECT_NO_THROW(a->query("RETURN 1"));  // a's auth is a's
}

TEST(Engine2, AgentSessionsRunOnLeasesKeptApartAndRefuseTransactions) {
  ConnectionManager m(config_for(engine2().url()));
  auto ada = AgentSession::create("ada", m, cortex::test::unique_name("ada"));
  auto bob = AgentSession::create("bob", m, cortex::test::unique_name("bob"));
  EXPECT_FALSE(ada->server_side());
  ada->query("CREATE memory SET text = $t", {{"t", Value("ada's")}}).throw_if_error();
  bob->query("CREATE memory SET text = $t", {{"t", Value("bob's")}}).throw_if_error();
  EXPECT_EQ(ada->query("SELECT VALUE text FROM memory").at(0), Value(Array{Value("ada's")}));
  EXPECT_EQ(bob->query("SELECT VALUE text FROM memory").at(0), Value(Array{Value("bob's")}));
  ada->let("x", Value(1));
  EXPECT_EQ(ada->query("RETURN $x").at(0), Value(1));
  EXPECT_EQ(bob->query("RETURN $x").at(0), Value());  // not bob's
  EXPECT_EQ(error_of([&] { ada->transaction([](TransactionScope& t) { t.query("RETURN 1"); }); }),
            make_error_code(Errc::unsupported_by_server));
  EXPECT_EQ(error_of([&] { ada->live("memory", [](const Notification&) {}); }).category(), cortex::server_category());
  // The manager's shared path works on 2.x too.
  EXPECT_EQ(m.query("RETURN 2").at(0), Value(2));
}

// After the engine restarts, an agent's namespace, variables and auth are restored on its next
// request (its data, in memory, is gone with the engine).
TEST(Engine2, AnAgentSessionIsRestoredAfterARestart) {
  LocalServer server(engine2_options());
  ConnectionManager m(config_for(server.url()));
  const std::string ns = cortex::test::unique_name("restored");
  auto s = AgentSession::create("phoenix", m, ns);
  s->let("mark", Value(7));
  EXPECT_EQ(s->query("RETURN [session::ns(), $mark]").at(0), Value(Array{Value(ns), Value(7)}));
  server.kill();
  server.restart();
  const Value after = m.execute_with_retry([&] { return s->query("RETURN [session::ns(), $mark]").at(0); });
  EXPECT_EQ(after, Value(Array{Value(ns), Value(7)}));
}
