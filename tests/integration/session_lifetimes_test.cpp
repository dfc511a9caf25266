// An agent session and its manager may be destroyed in any order (CI runs these under
// AddressSanitizer): a session destroyed before its manager, after it, used after the manager was
// shut down or destroyed (typed errors), and with a live query and a transaction in flight when
// the manager goes. Before: a session held a raw pointer to its manager, and its calls, its
// background work and its destructor used the destroyed manager and its io_context.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "latch.hpp"

using namespace cortex::pool;
using namespace cortex::sessions;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::error_of;

namespace {

std::unique_ptr<ConnectionManager> make_manager() {
  return std::make_unique<ConnectionManager>(cortex::test::local_config(cortex::test::engine_url(), "lifetimes"));
}

// Every kind of operation of `s` fails with pool_closed, typed: its manager is shut down or gone.
void expect_closed(AgentSession& s) {
  const auto closed = make_error_code(Errc::pool_closed);
  EXPECT_EQ(error_of([&] { s.query("RETURN 1"); }), closed);
  EXPECT_EQ(error_of([&] { s.let("y", Value(std::int64_t{2})); }), closed);
  EXPECT_EQ(error_of([&] { s.live("note", [](const Notification&) {}); }), closed);
  EXPECT_EQ(error_of([&] { s.transaction([](TransactionScope& t) { t.query("RETURN 1"); }); }), closed);
  EXPECT_EQ(error_of([&] { s.acquire(); }), closed);
  cortex::test::Completions done;
  s.async_call(rpc::query("RETURN 1"), {}, done.handler(1));
  s.async_transaction({rpc::query("RETURN 1")}, done.handler(2));
  for (const auto& c : done.wait_for(2)) EXPECT_EQ(c.ec, closed) << "async " << c.tag;
}

// Waits until `m` has a session call on the wire (an event the test cannot be told of directly).
void wait_in_flight(ConnectionManager& m) {
  const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // a hang guard
  while (m.health_status().endpoints[0].shared_in_flight == 0 && std::chrono::steady_clock::now() < guard) {
    std::this_thread::yield();
  }
  ASSERT_GT(m.health_status().endpoints[0].shared_in_flight, 0u);
}

}  // namespace

TEST(SessionLifetimes, ASessionDestroyedBeforeItsManager) {
  auto m = make_manager();
  auto s = AgentSession::create("first", *m, cortex::test::unique_name("first"));
  s->query("RETURN 1").throw_if_error();
  s.reset();
  EXPECT_EQ(m->query("RETURN 2").at(0), Value(std::int64_t{2}));  // the manager carries on
  m.reset();
}

TEST(SessionLifetimes, ASessionUsedAndDestroyedAfterItsManager) {
  auto m = make_manager();
  auto s = AgentSession::create("outliving", *m, cortex::test::unique_name("outliving"));
  s->let("x", Value(std::int64_t{1}));
  m.reset();
  expect_closed(*s);
  EXPECT_GE(s->metrics().operations, 3u);  // its own figures stay readable
  s.reset();  // its destructor runs after the manager's
}

TEST(SessionLifetimes, ASessionUsedAfterItsManagerShutDownThenDestroyedFirst) {
  auto m = make_manager();
  auto s = AgentSession::create("after_shutdown", *m, cortex::test::unique_name("after_shutdown"));
  s->query("RETURN 1").throw_if_error();
  m->shutdown(std::chrono::milliseconds(0));
  expect_closed(*s);
  s.reset();
  m.reset();
}

// A live query and a transaction in flight when the manager goes: the transaction ends once,
// typed; the live query stops re-issuing itself; the session is destroyed afterwards.
TEST(SessionLifetimes, ASessionWithALiveQueryAndATransactionInFlightOutlivesItsManager) {
  auto m = make_manager();
  auto s = AgentSession::create("busy", *m, cortex::test::unique_name("busy"));
  s->query("DEFINE TABLE IF NOT EXISTS note SCHEMALESS").throw_if_error();
  s->live("note", [](const Notification&) {});
  cortex::test::Completions txn;
  s->async_transaction({rpc::query("SLEEP 500ms"), rpc::query("CREATE note SET text = 'late'")}, txn.handler(1));
  wait_in_flight(*m);
  m.reset();
  const auto got = txn.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].ec);  // its connection went with the manager: a typed failure, not a hang
  expect_closed(*s);
  s.reset();
}

// The same with the session's last handle dropped while its transaction is in flight: the
// transaction keeps the session until it ends, after the manager is gone, and the session is then
// destroyed wherever the transaction ends (an io thread, or the thread destroying the manager).
TEST(SessionLifetimes, ASessionReleasedWithATransactionInFlightEndsAfterItsManager) {
  auto m = make_manager();
  auto s = AgentSession::create("released", *m, cortex::test::unique_name("released"));
  s->query("DEFINE TABLE IF NOT EXISTS note SCHEMALESS").throw_if_error();
  s->live("note", [](const Notification&) {});
  cortex::test::Completions txn;
  s->async_transaction({rpc::query("SLEEP 500ms"), rpc::query("CREATE note SET text = 'late'")}, txn.handler(1));
  wait_in_flight(*m);
  s.reset();
  m.reset();
  EXPECT_TRUE(txn.wait_for(1)[0].ec);
}
