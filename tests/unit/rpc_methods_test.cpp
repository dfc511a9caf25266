// The one table of RPC method facts (storage/rpc_methods.hpp), walked method by method against
// every decision RpcConnection takes by method: what a 2.x server is refused, which calls count as
// touching the connection's session (a lease that made one is restored), and which calls leave a
// new auth token. (The shared path's and the HTTP transport's decisions are walked against the
// real engine in tests/integration/method_table_test.cpp.)
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cortex/storage/rpc.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "fake_transport.hpp"

using namespace cortex::storage;
using cortex::Errc;

namespace {

// Every method in the table once, each with a parameter that token_after could read.
Request request_for(const rpc::MethodFacts& f) { return Request{std::string(f.name), Array{Value("tok")}}; }

}  // namespace

TEST(MethodTable, NamesEveryBuilderOnceAndUnknownMethodsAreTheMostCareful) {
  Credentials c;
  c.ns = "n";
  c.db = "d";
  c.ac = "a";
  c.user = "u";
  c.pass = "p";
  std::set<std::string> names;
  for (const auto& f : rpc::known_methods()) EXPECT_TRUE(names.insert(std::string(f.name)).second) << f.name;
  for (const auto& r : {rpc::ping(), rpc::version(), rpc::info(), rpc::use("n", "d"), rpc::signin(c), rpc::signup(c),
                        rpc::authenticate("t"), rpc::invalidate(), rpc::reset(), rpc::let("a", Value(1)), rpc::unset("a"),
                        rpc::query("RETURN 1"), rpc::select(Value("t")), rpc::create(Value("t")), rpc::insert(Value("t"), Value()),
                        rpc::insert_relation(Value("t"), Value()), rpc::update(Value("t")), rpc::upsert(Value("t")),
                        rpc::merge(Value("t"), Value()), rpc::patch(Value("t"), {}), rpc::delete_(Value("t")),
                        rpc::relate(Value("a"), Value("b"), Value("c")), rpc::run("f"), rpc::live(Value("t")), rpc::kill(Uuid{}),
                        rpc::attach(), rpc::detach(), rpc::sessions(), rpc::begin(), rpc::commit(Uuid{}), rpc::cancel(Uuid{}),
                        rpc::refresh({"a", "r"}), rpc::revoke({"a", "r"})}) {
    EXPECT_TRUE(names.count(r.method)) << r.method << " has a builder but no row in the table";
  }
  const auto& unknown = rpc::method_facts("no_such_method");
  EXPECT_TRUE(unknown.changes_identity());
  EXPECT_FALSE(unknown.keeps_session());
  EXPECT_FALSE(unknown.safe_to_resend);
}

TEST(MethodTable, TheTokenACallLeavesIsTheTables) {
  for (const auto& f : rpc::known_methods()) {
    const auto token = rpc::token_after(request_for(f), Value("answer"));
    switch (f.auth) {
      case rpc::AuthEffect::none: EXPECT_FALSE(token) << f.name; break;
      case rpc::AuthEffect::from_result: EXPECT_EQ(token, std::optional<std::string>("answer")) << f.name; break;
      case rpc::AuthEffect::from_param: EXPECT_EQ(token, std::optional<std::string>("tok")) << f.name; break;
      case rpc::AuthEffect::cleared: EXPECT_EQ(token, std::optional<std::string>("")) << f.name; break;
    }
  }
}

// Before the table, `refresh` was refused on 2.x by one list and not counted as changing auth by
// another: each decision now reads the same row.
TEST(MethodTable, A2xServerIsRefusedExactlyTheMethodsThatNeed3x) {
  asio::io_context io;
  std::shared_ptr<cortex::test::FakeTransport> transport;
  auto conn = cortex::test::connect_fake(io, {}, &transport, "surrealdb-2.1.1");
  ASSERT_TRUE(conn);
  for (const auto& f : rpc::known_methods()) {
    auto got = std::make_shared<std::optional<std::error_code>>();
    conn->async_call(request_for(f), {}, [got](std::error_code ec, Value) { *got = ec; });
    io.restart();
    io.poll();  // a refusal is posted at once; a request sent waits for an answer the fake never gives
    EXPECT_EQ(got->has_value() && **got == cortex::make_error_code(Errc::unsupported_by_server), f.needs_3x) << f.name;
  }
  conn->abort();
  io.restart();
  io.poll();
}

TEST(MethodTable, ACallCountsAsTouchingTheSessionExactlyWhenTheTableSaysSo) {
  asio::io_context io;
  std::shared_ptr<cortex::test::FakeTransport> transport;
  auto conn = cortex::test::connect_fake(io, {}, &transport);
  ASSERT_TRUE(conn);
  for (const auto& f : rpc::known_methods()) {
    const auto before = conn->session_changes();
    conn->async_call(request_for(f), {}, [](std::error_code, Value) {});
    EXPECT_EQ(conn->session_changes() != before, !f.keeps_session()) << f.name;
  }
  conn->abort();
  io.poll();
}
