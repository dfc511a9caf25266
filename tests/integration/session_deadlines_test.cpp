// An agent session's operations end by their own deadline whatever runs beneath them: here a
// connection that closes under a call before the call was written, and a rebind that waits for a
// connect that hangs. The slack is generous (seconds) and far below what they took before the
// fix (the connect timeout, 20 s here): it tells a deadline that holds from one that does not.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/sessions/agent_session.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "fault_proxy.hpp"
#include "latch.hpp"
#include "within.hpp"

using namespace cortex::pool;
using namespace cortex::sessions;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

milliseconds since(Clock::time_point t) { return std::chrono::duration_cast<milliseconds>(Clock::now() - t); }

// Returns once the (single) io thread of `io` has run what was posted to it before: a turn of the
// io thread to wait for, not a time.
void io_turn(asio::io_context& io) {
  std::promise<void> ran;
  asio::post(io, [&ran] { ran.set_value(); });
  ran.get_future().wait();
}

}  // namespace

// A call queued behind a large write on a black-holed connection is never written; the connection
// then drops, so the session rebinds and sends it again — but every new connection hangs (the
// proxy holds its bytes). The call still ends by its deadline, as never sent (pool_timeout), and so
// does a live query that waits for that rebind. Before: the resend had no deadline (its timer went
// when the call was first sent) and waited for the whole connect, 20 s, then went out with 1 ms;
// live() had no deadline at all.
TEST(SessionDeadlines, AResendAfterALostConnectionAndALiveQueryEndByTheirDeadline) {
  cortex::test::FaultProxy proxy(cortex::test::engine_url());
  auto c = cortex::test::local_config(proxy.url(), "resend");
  c.pool_config.connection_timeout = std::chrono::seconds(20);  // the hanging connect's own limit
  c.circuit_breaker.failure_threshold = 1000;                   // the breaker stays out of it
  c.shared_connections = 1;  // the session's: when it drops, no other open one can take the rebind
  ConnectionManager m(c);  // one io thread: io_turn below relies on it
  auto s = AgentSession::create("resent", m, cortex::test::unique_name("resent"));
  ASSERT_TRUE(s->server_side());
  const milliseconds timeout(2000), slack(3000);

  proxy.black_hole();
  // Larger than every socket buffer on the way (the proxy reads nothing more): its write stays in
  // progress. It is on its way once the io thread has run its flush, posted when it was queued —
  // two turns, in case the flush had to wait behind the connection's strand for one more.
  cortex::test::Completions large;
  s->async_call(rpc::query("RETURN string::len($blob)", {{"blob", Value(std::string(std::size_t{24} << 20, 'x'))}}),
                cortex::test::within(timeout), large.handler(1));
  io_turn(s->io_context());
  io_turn(s->io_context());
  // Queued behind it, unwritten, when the connection drops: not_connected, so it is sent again.
  cortex::test::Completions resent;
  const auto t0 = Clock::now();
  s->async_call(rpc::query("CREATE note SET text = 'resent'"), cortex::test::within(timeout), resent.handler(2));
  proxy.drop_all();
  const auto got = resent.wait_for(1)[0];
  const auto took = since(t0);
  EXPECT_EQ(got.ec, make_error_code(Errc::pool_timeout)) << got.ec.message();  // never sent: safe to retry
  EXPECT_LT(took, timeout + slack) << took.count() << " ms";                     // before: the 20 s connect
  EXPECT_TRUE(large.wait_for(1)[0].ec);  // it failed (its connection went), typed

  // The rebind still waits for that connect: a live query waiting for it ends by its own deadline.
  const auto t1 = Clock::now();
  const auto live_ec = cortex::test::error_of([&] { s->live("note", [](const Notification&) {}, timeout); });
  const auto live_took = since(t1);
  EXPECT_EQ(live_ec, make_error_code(Errc::pool_timeout)) << live_ec.message();
  EXPECT_LT(live_took, timeout + slack) << live_took.count() << " ms";  // before: no deadline at all

  // Healed, the session works again, its deadline kept.
  proxy.heal();
  EXPECT_EQ(m.execute_with_retry([&] { return s->query("RETURN 7", {}).at(0); }), Value(std::int64_t{7}));
}
