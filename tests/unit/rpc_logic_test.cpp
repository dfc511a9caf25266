// Pure parts of the RPC layer: request builders' validation, query-result parsing, the pending
// request table (ids, deadlines, expiry) and error classification.
#include <gtest/gtest.h>

#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc.hpp"
#include "pending_requests.hpp"

using namespace cortex::storage;
using cortex::Errc;

TEST(RpcBuilders, UseRefusesADatabaseWithoutANamespace) {
  EXPECT_THROW(rpc::use(std::nullopt, "db"), cortex::Error);
  EXPECT_THROW(rpc::use("", "db"), cortex::Error);
  const Request r = rpc::use("ns", std::nullopt);
  ASSERT_EQ(r.params.size(), 2u);
  EXPECT_EQ(r.params[0], Value("ns"));
  EXPECT_TRUE(r.params[1].is_none());  // NONE = keep the current database
}

TEST(RpcBuilders, SigninShapesFollowTheLevel) {
  Credentials root;
  root.user = "root";
  root.pass = "pw";
  EXPECT_EQ(rpc::signin(root).params[0], Value(Object{{"user", Value("root")}, {"pass", Value("pw")}}));
  Credentials access;
  access.ns = "n";
  access.db = "d";
  access.ac = "user";
  access.vars = {{"email", Value("a@b")}};
  EXPECT_EQ(rpc::signin(access).params[0],
            Value(Object{{"ns", Value("n")}, {"db", Value("d")}, {"ac", Value("user")}, {"email", Value("a@b")}}));
  Credentials none;
  EXPECT_THROW(rpc::signin(none), cortex::Error);
  Credentials db_only = root;
  db_only.db = "d";
  EXPECT_THROW(rpc::signin(db_only), cortex::Error);
}

TEST(RpcBuilders, OptionalDataIsOmittedNotSentAsNone) {
  EXPECT_EQ(rpc::create(Value(Table{"t"})).params.size(), 1u);
  EXPECT_EQ(rpc::create(Value(Table{"t"}), Value(Object{})).params.size(), 2u);
  EXPECT_EQ(rpc::relate(Value(1), Value(Table{"e"}), Value(2)).params.size(), 3u);
}

TEST(QueryResultParse, SurfacesEveryStatementsOutcome) {
  const Value raw(Array{
      Value(Object{{"status", Value("OK")}, {"result", Value(1)}, {"time", Value("1µs")}}),
      Value(Object{{"status", Value("ERR")}, {"result", Value("boom")}, {"kind", Value("Thrown")}}),
  });
  const QueryResult q = QueryResult::parse(raw);
  ASSERT_EQ(q.statements.size(), 2u);
  EXPECT_FALSE(q.ok());
  EXPECT_EQ(q.at(0), Value(1));
  try {
    q.at(1);
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(Errc::statement_failed));
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos);
    EXPECT_EQ(e.server_kind(), "Thrown");
  }
  EXPECT_THROW(q.throw_if_error(), cortex::Error);
  EXPECT_THROW(q.at(2), cortex::Error);
  EXPECT_THROW(QueryResult::parse(Value("nope")), cortex::Error);
}

TEST(PendingRequests, MatchesIdsAndExpiresInDeadlineOrder) {
  using Clock = PendingRequests::Clock;
  PendingRequests p;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  std::vector<int> order;
  auto entry = [&](int tag, int ms) {
    return PendingRequests::Entry{[&order, tag](std::error_code, Value) { order.push_back(tag); },
                                  t0 + std::chrono::milliseconds(ms), {}};
  };
  const auto a = p.add(entry(1, 30));
  const auto b = p.add(entry(2, 10));
  const auto c = p.add(entry(3, 20));
  EXPECT_NE(a, b);
  EXPECT_EQ(p.earliest(), t0 + std::chrono::milliseconds(10));
  auto got = p.take(c);  // answered
  ASSERT_TRUE(got);
  EXPECT_FALSE(p.take(c));  // a duplicate or late reply finds nothing
  auto expired = p.take_expired(t0 + std::chrono::milliseconds(25));
  ASSERT_EQ(expired.size(), 1u);
  expired[0].handler({}, Value());
  EXPECT_EQ(order, std::vector<int>{2});
  EXPECT_EQ(p.size(), 1u);
  auto rest = p.take_all();
  EXPECT_EQ(rest.size(), 1u);
  EXPECT_EQ(p.size(), 0u);
  EXPECT_FALSE(p.earliest());
}

TEST(Errors, ServerKindsMapWithCodeFallback) {
  EXPECT_EQ(cortex::server_errc_from("NotAllowed", -32002), cortex::ServerErrc::not_allowed);
  EXPECT_EQ(cortex::server_errc_from("SomethingNew", -32000), cortex::ServerErrc::internal);
  EXPECT_EQ(cortex::server_errc_from("", -32002), cortex::ServerErrc::not_allowed);
  EXPECT_EQ(cortex::server_errc_from("", -32700), cortex::ServerErrc::serialization);
  EXPECT_TRUE(cortex::is_safe_to_retry(cortex::make_error_code(Errc::connect_failed)));
  EXPECT_FALSE(cortex::is_safe_to_retry(cortex::make_error_code(Errc::connection_lost)));
  EXPECT_FALSE(cortex::is_safe_to_retry(cortex::make_error_code(Errc::timeout)));
  EXPECT_TRUE(cortex::is_retryable_conflict("Transaction conflict: Write conflict, retry the transaction. This transaction can be retried"));
  EXPECT_FALSE(cortex::is_retryable_conflict("Parse error"));
}

TEST(RpcBuilders, TokenAfterNamesTheTokenAnAuthCallLeaves) {
  Credentials c;
  c.user = "root";
  c.pass = "pw";
  EXPECT_EQ(rpc::token_after(rpc::signin(c), Value("jwt-a")), std::optional<std::string>("jwt-a"));
  EXPECT_EQ(rpc::token_after(rpc::signin(c), Value(Object{{"access", Value("jwt-b")}, {"refresh", Value("r")}})),
            std::optional<std::string>("jwt-b"));  // 3.x {access, refresh}
  EXPECT_EQ(rpc::token_after(rpc::authenticate("jwt-c"), Value::none()), std::optional<std::string>("jwt-c"));
  EXPECT_EQ(rpc::token_after(rpc::invalidate(), Value::none()), std::optional<std::string>(""));
  EXPECT_EQ(rpc::token_after(rpc::reset(), Value::none()), std::optional<std::string>(""));
  EXPECT_FALSE(rpc::token_after(rpc::ping(), Value::none()).has_value());
  EXPECT_FALSE(rpc::token_after(rpc::use("ns", "db"), Value::none()).has_value());
}

// The bytes of pending requests, for ConnectOptions::max_pending_bytes: every way out subtracts.
// Deadlines live in a heap from which taken requests' leave lazily: behind one slow request the
// heap must neither report a taken request's deadline nor grow with every request answered.
TEST(PendingRequests, BehindASlowRequestTheEarliestDeadlineIsAPendingOnesAndTheHeapStaysBounded) {
  using Clock = PendingRequests::Clock;
  PendingRequests p;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  auto entry = [&](std::chrono::milliseconds after) {
    PendingRequests::Entry e;
    e.handler = [](std::error_code, Value) {};
    e.deadline = t0 + after;
    return e;
  };
  const auto slow = p.add(entry(std::chrono::milliseconds(60'000)));
  std::vector<std::uint64_t> window;
  for (int i = 0; i < 10'003; ++i) {  // three left pending at the end
    window.push_back(p.add(entry(std::chrono::milliseconds(1'000 + i))));
    if (window.size() == 8) {  // answered out of order: newest first
      for (auto it = window.rbegin(); it != window.rend(); ++it) ASSERT_TRUE(p.take(*it));
      window.clear();
      ASSERT_EQ(p.earliest(), t0 + std::chrono::milliseconds(60'000));
    }
  }
  EXPECT_LE(p.deadlines_held(), 2 * p.size() + 64);
  // The three still pending expire; the slow one only at its own deadline.
  const auto expired = p.take_expired(t0 + std::chrono::milliseconds(59'999));
  ASSERT_EQ(window.size(), 3u);
  ASSERT_EQ(expired.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(expired[i].id, window[i]);
  EXPECT_EQ(p.size(), 1u);
  EXPECT_EQ(p.earliest(), t0 + std::chrono::milliseconds(60'000));
  EXPECT_TRUE(p.take(slow));
  EXPECT_FALSE(p.earliest());
  EXPECT_EQ(p.deadlines_held(), 0u);
}

TEST(PendingRequests, CountsTheBytesOfWhatIsPending) {
  PendingRequests p;
  const auto t0 = PendingRequests::Clock::now();
  auto entry = [&](std::chrono::milliseconds after, std::size_t bytes) {
    PendingRequests::Entry e;
    e.handler = [](std::error_code, Value) {};
    e.deadline = t0 + after;
    e.bytes = bytes;
    return e;
  };
  EXPECT_EQ(p.peek_next_id(), 1u);
  const auto a = p.add(entry(std::chrono::milliseconds(10), 100));
  p.add(entry(std::chrono::milliseconds(20), 50));
  p.add(entry(std::chrono::milliseconds(30), 7));
  EXPECT_EQ(p.bytes(), 157u);
  p.take(a);
  EXPECT_EQ(p.bytes(), 57u);
  p.take_expired(t0 + std::chrono::milliseconds(25));
  EXPECT_EQ(p.bytes(), 7u);
  p.take_all();
  EXPECT_EQ(p.bytes(), 0u);
}
