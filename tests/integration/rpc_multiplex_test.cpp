// Many requests in flight on one socket, answered out of order, each to its own caller; live
// queries; server-side sessions and interactive transactions.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "cortex/storage/error.hpp"
#include "engine.hpp"
#include "latch.hpp"

using namespace cortex::storage;
using cortex::test::Completions;
using cortex::test::connect_fresh;

TEST(RpcMultiplex, AThousandInFlightAllAnsweredToTheRightCaller) {
  auto c = connect_fresh();
  constexpr int kRequests = 1000;
  Completions done;
  for (int i = 0; i < kRequests; ++i) {
    // Every 7th request sleeps, so replies come back out of order; the first sleeps long enough
    // that the others overtake it even on a starved machine (with 20 ms alone, a busy engine could
    // finish each before the next arrived, and the order never changed).
    const char* sql = i == 0 ? "SLEEP 3s; RETURN $i" : i % 7 == 0 ? "SLEEP 20ms; RETURN $i" : "RETURN $i";
    c->async_call(rpc::query(sql, {{"i", Value(i)}}), {}, done.handler(i));
  }
  const auto results = done.wait_for(kRequests);
  bool out_of_order = false;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const auto& r = results[k];
    ASSERT_FALSE(r.ec) << r.ec.message();
    const auto q = QueryResult::parse(r.value);
    EXPECT_EQ(q.statements.back().result, Value(r.tag));
    out_of_order |= r.tag != static_cast<int>(k);
  }
  EXPECT_TRUE(out_of_order);  // the matching by id was really exercised
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST(RpcMultiplex, ConcurrentBlockingCallersFromManyThreads) {
  auto c = connect_fresh();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const int v = t * 1000 + i;
        if (c->query("RETURN $v", {{"v", Value(v)}}).at(0) != Value(v)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(RpcLive, SeesCreateUpdateDeleteThenKill) {
  auto c = connect_fresh();
  c->query("DEFINE TABLE note").throw_if_error();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Notification> seen;
  const Uuid id = c->live(Value(Table{"note"}), [&](const Notification& n) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(n);
    cv.notify_all();
  });
  const Value rid = record("note", Value("n1"));
  c->call(rpc::create(rid, Value(Object{{"text", Value("a")}})));
  c->call(rpc::merge(rid, Value(Object{{"text", Value("b")}})));
  c->call(rpc::delete_(rid));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return seen.size() >= 3; });
    // The 3.0.2 engine may deliver notifications of consecutive writes out of order (seen under
    // AddressSanitizer's slower timing), so check what arrived, not the order.
    std::multiset<std::string> actions;
    for (const auto& n : std::vector<Notification>(seen.begin(), seen.begin() + 3)) {
      actions.insert(n.action);
      EXPECT_EQ(n.live_id.bytes, id.bytes);
      EXPECT_EQ(n.record, rid);
      if (n.action != "DELETE") {
        EXPECT_EQ(n.result["text"], Value(n.action == "CREATE" ? "a" : "b"));
      }
    }
    EXPECT_EQ(actions, (std::multiset<std::string>{"CREATE", "UPDATE", "DELETE"}));
  }
  c->kill(id);
  // After kill, writes reach no handler (at most the server's own KILLED notice, which can
  // overtake the kill reply); a ping round trip proves the socket is still healthy.
  c->call(rpc::create(record("note", Value("n2"))));
  c->call(rpc::ping());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_LE(seen.size(), 4u);
  if (seen.size() == 4) {
    EXPECT_EQ(seen[3].action, "KILLED");
  }
}

TEST(RpcSessions, TwoSessionsOnOneSocketKeepTheirNamespacesApart) {
  auto c = cortex::test::connect_signed_in(cortex::test::io(), cortex::test::engine_url());
  RequestOptions s1, s2;
  s1.session = Uuid::random();
  s2.session = Uuid::random();
  c->call(rpc::attach(), s1);
  c->call(rpc::attach(), s2);
  // A new session starts signed out; the connection's token signs it in without a password.
  for (const auto& s : {s1, s2}) c->call(rpc::authenticate(c->auth_token()), s);
  const auto ns1 = cortex::test::unique_name("agent_a"), ns2 = cortex::test::unique_name("agent_b");
  c->call(rpc::use(ns1, "mem"), s1);
  c->call(rpc::use(ns2, "mem"), s2);
  for (const auto& s : {s1, s2}) c->query("DEFINE TABLE memory", {}, s).throw_if_error();
  c->call(rpc::create(record("memory", Value("secret")), Value(Object{{"owner", Value("a")}})), s1);
  EXPECT_EQ(c->query("RETURN session::ns()", {}, s1).at(0), Value(ns1));
  EXPECT_EQ(c->query("RETURN session::ns()", {}, s2).at(0), Value(ns2));
  EXPECT_EQ(c->call(rpc::select(Value(Table{"memory"})), s1).get<Array>().size(), 1u);
  EXPECT_TRUE(c->call(rpc::select(Value(Table{"memory"})), s2).get<Array>().empty());
  c->call(rpc::let("who", Value("a")), s1);
  EXPECT_TRUE(c->query("RETURN $who", {}, s2).at(0).is_none());  // variables are per session too
  const Value listed = c->call(rpc::sessions());
  ASSERT_TRUE(listed.is<Array>());
  int found = 0;
  for (const auto& s : listed.get<Array>()) {
    if (s == Value(*s1.session) || s == Value(*s2.session)) ++found;
  }
  EXPECT_EQ(found, 2);
  c->call(rpc::detach(), s1);
  c->call(rpc::detach(), s2);
}

TEST(RpcTransactions, CancelLeavesNoWritesCommitKeepsThem) {
  auto c = connect_fresh();
  c->query("DEFINE TABLE account").throw_if_error();
  RequestOptions in_txn;
  in_txn.txn = c->call(rpc::begin()).get<Uuid>();
  c->call(rpc::create(record("account", Value("cancelled")), Value(Object{{"balance", Value(100)}})), in_txn);
  c->query("CREATE account:also_cancelled", {}, in_txn).throw_if_error();
  c->call(rpc::cancel(*in_txn.txn));
  EXPECT_TRUE(c->call(rpc::select(Value(Table{"account"}))).get<Array>().empty());

  in_txn.txn = c->call(rpc::begin()).get<Uuid>();
  c->call(rpc::create(record("account", Value("kept")), Value(Object{{"balance", Value(5)}})), in_txn);
  c->call(rpc::commit(*in_txn.txn));
  const Value rows = c->call(rpc::select(Value(Table{"account"})));
  ASSERT_EQ(rows.get<Array>().size(), 1u);
  EXPECT_EQ(rows[std::size_t{0}]["id"], record("account", Value("kept")));
}

TEST(RpcMultiplex, MessagesBeyondWebsocketppsDefaultLimitRoundTrip) {
  // websocketpp refuses frames over 32 MB unless told otherwise; SurrealDB allows 128 MiB.
  auto c = connect_fresh();
  const std::string big(40u * 1024u * 1024u, 'x');
  RequestOptions o;
  o.timeout = std::chrono::minutes(2);
  const Value back = c->query("RETURN $big", {{"big", Value(big)}}, o).at(0);
  ASSERT_TRUE(back.is<std::string>());
  EXPECT_EQ(back.get<std::string>().size(), big.size());
}
