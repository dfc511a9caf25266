// A server that dies, stops answering, refuses, or talks nonsense: every call ends with a typed
// error within its deadline; nothing hangs.
#include <gtest/gtest.h>

#include <set>

#include "cortex/storage/error.hpp"
#include "engine.hpp"
#include "within.hpp"
#include "latch.hpp"

using namespace cortex::storage;
using cortex::test::within;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::Completions;

namespace {

std::error_code connect_error(const std::string& url, ConnectOptions o = {}) {
  IoRunner io(1);
  try {
    RpcConnection::connect(io.context(), url, o);
  } catch (const cortex::Error& e) {
    return e.code();
  }
  return {};
}

}  // namespace

TEST(RpcFaults, ServerKilledFailsEveryPendingRequestWithConnectionLost) {
  LocalServer server(cortex::test::private_engine_options());
  IoRunner io(1);
  auto c = cortex::test::connect_signed_in(io.context(), server.url());
  c->call(rpc::use("faults", "kill"));
  Completions done;
  constexpr int kPending = 50;
  for (int i = 0; i < kPending; ++i) c->async_call(rpc::query("SLEEP 30s"), within(std::chrono::minutes(5)), done.handler(i));
  server.kill();
  const auto results = done.wait_for(kPending);
  for (const auto& r : results) {
    // connection_lost, not timeout: they failed when the socket died, long before their deadline.
    EXPECT_TRUE(r.ec == make_error_code(Errc::connection_lost)) << r.ec.message();
  }
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->in_flight(), 0u);
  // Later calls fail at once, typed.
  try {
    c->call(rpc::ping());
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::not_connected));
  }
  // The server restarts; a new connection works.
  server.restart();
  auto again = cortex::test::connect_signed_in(io.context(), server.url());
  EXPECT_TRUE(again->call(rpc::ping()).is_none());
}

TEST(RpcFaults, PausedServerGivesDeadlineErrorsThenRecovers) {
  LocalServer server(cortex::test::private_engine_options());
  IoRunner io(1);
  ConnectOptions o;
  o.keepalive_interval = std::chrono::milliseconds(0);
  auto c = cortex::test::connect_signed_in(io.context(), server.url(), o);
  server.pause();
  Completions done;
  for (int i = 0; i < 10; ++i) c->async_call(rpc::ping(), within(std::chrono::milliseconds(200 + 20 * i)), done.handler(i));
  for (const auto& r : done.wait_for(10)) EXPECT_EQ(r.ec, make_error_code(Errc::timeout)) << r.tag;
  server.resume();
  EXPECT_TRUE(c->call(rpc::ping()).is_none());  // same socket, still good
}

TEST(RpcFaults, KeepaliveDeclaresAHalfOpenSocketDead) {
  LocalServer server(cortex::test::private_engine_options());
  IoRunner io(1);
  ConnectOptions o;
  o.keepalive_interval = std::chrono::milliseconds(100);
  o.keepalive_timeout = std::chrono::milliseconds(200);
  auto c = cortex::test::connect_signed_in(io.context(), server.url(), o);
  std::promise<std::string> closed;
  c->on_closed([&](const std::string& why) { closed.set_value(why); });
  server.pause();  // first, so the request below cannot be answered
  Completions done;
  c->async_call(rpc::ping(), within(std::chrono::minutes(5)), done.handler());
  const std::string why = closed.get_future().get();
  EXPECT_NE(why.find("keepalive"), std::string::npos) << why;
  EXPECT_EQ(done.wait_for(1)[0].ec, make_error_code(Errc::connection_lost));
  server.resume();
}

TEST(RpcFaults, RefusedConnectFailsFast) {
  std::string url;
  {
    LocalServer server(cortex::test::private_engine_options());
    url = server.url();
  }  // stopped: nothing listens on that port now
  ConnectOptions o;
  o.connect_timeout = std::chrono::minutes(5);  // a refusal must not wait for this
  EXPECT_EQ(connect_error(url, o), make_error_code(Errc::connect_failed));
}

TEST(RpcFaults, SilentServerHitsTheConnectTimeout) {
  LocalServer server(cortex::test::private_engine_options());
  server.pause();  // the kernel accepts the TCP connection; nobody answers the upgrade
  ConnectOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  EXPECT_EQ(connect_error(server.url(), o), make_error_code(Errc::connect_timeout));
  server.resume();
}

TEST(RpcFaults, MalformedUrlIsATypedError) {
  EXPECT_EQ(connect_error("ws://localhost:99999"), make_error_code(Errc::invalid_url));
  EXPECT_EQ(connect_error("mem://"), make_error_code(Errc::invalid_url));
}

TEST(RpcFaults, HandshakeRefusalsAreTyped) {
  LocalServer no_proto(cortex::test::fault_server_options("no-subprotocol"));
  EXPECT_EQ(connect_error(no_proto.url()), make_error_code(Errc::handshake_failed));
  LocalServer unauthorized(cortex::test::fault_server_options("http-error"));
  EXPECT_EQ(connect_error(unauthorized.url()), make_error_code(Errc::handshake_failed));
}

TEST(RpcFaults, GarbageFromTheServerIsAProtocolErrorNotACrash) {
  LocalServer garbage(cortex::test::fault_server_options("garbage"));
  // The version probe gets garbage back: connect fails, typed.
  EXPECT_EQ(connect_error(garbage.url()), make_error_code(Errc::handshake_failed));
}

TEST(RpcFaults, IdLessErrorFailsPendingRequestsInsteadOfHanging) {
  LocalServer server(cortex::test::fault_server_options("idless-error"));
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), server.url());
  Completions done;
  c->async_call(rpc::ping(), within(std::chrono::minutes(5)), done.handler());
  const auto r = done.wait_for(1)[0];
  EXPECT_EQ(r.ec, make_error_code(Errc::protocol_error));
  ASSERT_TRUE(r.value.is<std::string>());
  EXPECT_NE(r.value.get<std::string>().find("injected"), std::string::npos);
}

TEST(RpcFaults, SessionsAndTransactionsAreRefusedOnA2xServer) {
  LocalServer server(cortex::test::fault_server_options("v2"));
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), server.url());
  EXPECT_EQ(c->server_version(), "surrealdb-2.1.0");
  EXPECT_FALSE(c->supports_sessions());
  for (auto req : {rpc::begin(), rpc::attach(), rpc::sessions(), rpc::refresh({"a", "r"}), rpc::revoke({"a", "r"})}) {
    try {
      c->call(req);
      ADD_FAILURE() << req.method << " was sent";
    } catch (const cortex::Error& e) {
      EXPECT_EQ(e.code(), make_error_code(Errc::unsupported_by_server)) << req.method;
    }
  }
  RequestOptions in_session;
  in_session.session = Uuid::random();
  EXPECT_THROW(c->call(rpc::ping(), in_session), cortex::Error);
  EXPECT_TRUE(c->call(rpc::ping()).is_none());  // plain calls still work
}
