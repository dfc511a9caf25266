// HTTP RPC (http:// endpoints: POST /rpc, CBOR both ways) against the local engine's POST /rpc,
// signed in: the session kept client-side (use, let, signin's token) carried in headers on every
// request, requests in flight at once over several keep-alive sockets, per-request deadlines, and
// what HTTP cannot carry (live queries, server-side sessions, transactions) refused before sending.
#include <gtest/gtest.h>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/error.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "latch.hpp"
#include "within.hpp"

using namespace cortex::storage;
using namespace cortex::pool;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::error_of;

namespace {

std::string http_url() {
  std::string url = cortex::test::engine_url();  // ws://host:port/rpc
  return "http" + url.substr(2);
}

}  // namespace

TEST(HttpRpc, ASessionKeptClientSideRidesEveryRequest) {
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), http_url());
  EXPECT_EQ(c->server_version(), "surrealdb-3.0.2");
  EXPECT_EQ(c->server_major(), 3);
  EXPECT_FALSE(c->supports_sessions());  // HTTP runs each request on its own
  const auto refused = make_error_code(cortex::ServerErrc::not_allowed);
  EXPECT_EQ(error_of([&] { c->query("RETURN 1"); }), refused);  // a guest, as on ws://
  c->call(rpc::signin(cortex::test::root_credentials()));
  const auto ns = cortex::test::unique_name("http");
  c->call(rpc::use(ns, "db"));
  c->call(rpc::let("greeting", Value("hello")));
  c->call(rpc::create(record("note", Value("a")), Object{{"text", Value("over http")}}));
  EXPECT_EQ(c->query("RETURN [session::ns(), $greeting, $own]", {{"own", Value(1)}}).at(0),
            Value(Array{Value(ns), Value("hello"), Value(1)}));
  EXPECT_EQ(c->call(rpc::select(record("note", Value("a"))))["text"], Value("over http"));
  // Invalid SurrealQL: the server's typed error, the connection unharmed.
  EXPECT_EQ(error_of([&] { c->query("SELECT * FROM"); }).category(), cortex::server_category());
  c->call(rpc::invalidate());
  EXPECT_EQ(error_of([&] { c->query("RETURN 1"); }), refused);
}

TEST(HttpRpc, LiveQueriesSessionsAndTransactionsAreRefusedBeforeSending) {
  IoRunner io(1);
  auto c = cortex::test::connect_signed_in(io.context(), http_url());
  for (auto req : {rpc::live(Value(Table{"note"})), rpc::begin(), rpc::attach(), rpc::sessions()}) {
    try {
      c->call(req);
      ADD_FAILURE() << req.method << " was sent";
    } catch (const cortex::Error& e) {
      EXPECT_EQ(e.code(), make_error_code(Errc::unsupported_by_server)) << req.method;
      EXPECT_NE(std::string(e.what()).find("ws://"), std::string::npos) << e.what();  // says what to use instead
    }
  }
  RequestOptions in_txn;
  in_txn.txn = Uuid::random();
  EXPECT_EQ(error_of([&] { c->call(rpc::ping(), in_txn); }), make_error_code(Errc::unsupported_by_server));
}

TEST(HttpRpc, ManyRequestsInFlightAndEachEndsByItsDeadline) {
  IoRunner io(1);
  auto c = cortex::test::connect_signed_in(io.context(), http_url());
  cortex::test::Completions done;
  constexpr int kCalls = 64;
  for (int i = 0; i < kCalls; ++i) c->async_call(rpc::query("RETURN $i", {{"i", Value(i)}}), {}, done.handler(i));
  for (const auto& r : done.wait_for(kCalls)) {
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(QueryResult::parse(r.value).at(0), Value(r.tag));
  }
  EXPECT_EQ(error_of([&] { c->query("SLEEP 3s", {}, cortex::test::within(std::chrono::milliseconds(200))); }),
            make_error_code(Errc::timeout));
  EXPECT_EQ(c->query("RETURN 2").at(0), Value(2));  // still serving
}

// The manager over an http:// endpoint, and mixing ws:// and http:// endpoints of one store in
// Remote mode: the shared path and AgentSessions (on leases, their state kept client-side) work;
// a session's live query is refused, typed.
TEST(HttpRpc, TheManagerMixesWsAndHttpEndpoints) {
  DatabaseConfig config = cortex::test::local_config(cortex::test::engine_url(), "httpmix");
  config.connection_mode.mode = ConnectionMode::Remote{{cortex::test::engine_url(), http_url()}, LoadBalancingStrategy::RoundRobin};
  ConnectionManager m(config);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m.query("RETURN $i", {{"i", Value(i)}}).at(0), Value(i));
  const auto h = m.health_status();
  ASSERT_EQ(h.endpoints.size(), 2u);
  for (const auto& e : h.endpoints) EXPECT_GT(e.requests, 0u) << e.url;  // both carried some

  DatabaseConfig http_only = cortex::test::local_config(http_url(), "httponly");
  ConnectionManager hm(http_only);
  auto agent = cortex::sessions::AgentSession::create("courier", hm, cortex::test::unique_name("courier"));
  EXPECT_FALSE(agent->server_side());
  agent->query("CREATE note SET text = $t", {{"t", Value("via http")}}).throw_if_error();
  EXPECT_EQ(agent->query("SELECT VALUE text FROM note").at(0), Value(Array{Value("via http")}));
  EXPECT_EQ(error_of([&] { agent->live("note", [](const Notification&) {}); }), make_error_code(Errc::unsupported_by_server));
}

// Before: the keepalive ping queued behind the transport's busy sockets, went unanswered, and the
// keepalive declared the healthy server dead: every sleeping query failed with connection_lost at
// interval + timeout (1.3 s here), long before its 3 s were up.
TEST(HttpRpc, KeepaliveNeverKillsRequestsBusyOnAHealthyServer) {
  IoRunner io(1);
  ConnectOptions o;
  o.keepalive_interval = std::chrono::milliseconds(300);
  o.keepalive_timeout = std::chrono::milliseconds(1000);
  auto c = cortex::test::connect_signed_in(io.context(), http_url(), o);
  cortex::test::Completions done;
  constexpr int kCalls = 8;  // as many as the HTTP transport keeps sockets: every one of them busy
  for (int i = 0; i < kCalls; ++i) {
    c->async_call(rpc::query("SLEEP 3s; RETURN $i", {{"i", Value(i)}}), {}, done.handler(i));
  }
  for (const auto& r : done.wait_for(kCalls)) {
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(QueryResult::parse(r.value).at(1), Value(r.tag));
  }
  EXPECT_EQ(c->query("RETURN 1").at(0), Value(1));  // the connection is still up
}
