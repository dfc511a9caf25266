// ConnectionNode and ConnectBackoff driven by hand with a fake clock: every lifecycle transition,
// the one retire predicate at each of its checkpoints, and the reconnect schedule.
#include <gtest/gtest.h>

#include "fake_clock.hpp"

#include "connection_node.hpp"

using namespace cortex::pool;
using cortex::metrics::CloseReason;

namespace {

using cortex::test::FakeClock;
using ms = std::chrono::milliseconds;
using Node = ConnectionNode<FakeClock>;
const FakeClock::time_point t0{ms(1000)};
const FakeClock::time_point never = FakeClock::time_point::max();
const auto refused = std::make_error_code(std::errc::connection_refused);

Node idle_node(FakeClock::time_point at = t0, FakeClock::time_point retire_at = never) {
  Node n;
  EXPECT_EQ(n.connected({}), NodeAction::setup);
  EXPECT_EQ(n.set_up({}, at, retire_at), NodeAction::park);
  return n;
}

}  // namespace

TEST(ConnectionNode, ConnectSetupThenIdle) {
  Node n;
  EXPECT_EQ(n.state(), NodeState::connecting);
  EXPECT_EQ(n.connected({}), NodeAction::setup);
  EXPECT_EQ(n.state(), NodeState::setting_up);
  EXPECT_EQ(n.set_up({}, t0, t0 + ms(500)), NodeAction::park);
  EXPECT_EQ(n.state(), NodeState::idle);
  EXPECT_EQ(n.created(), t0);
  EXPECT_EQ(n.last_used(), t0);
  EXPECT_EQ(n.retire_at(), t0 + ms(500));
  EXPECT_EQ(n.uses(), 0u);
}

TEST(ConnectionNode, FailedConnectOrSetupRetiresAsBroken) {
  Node a;
  EXPECT_EQ(a.connected(refused), NodeAction::close);
  EXPECT_EQ(a.state(), NodeState::retired);
  EXPECT_EQ(a.close_reason(), CloseReason::broken);
  Node b;
  b.connected({});
  EXPECT_EQ(b.set_up(refused, t0, never), NodeAction::close);
  EXPECT_EQ(b.close_reason(), CloseReason::broken);
}

TEST(ConnectionNode, LeaseWithoutSessionChangeGoesStraightBackToIdle) {
  Node n = idle_node();
  n.lent();
  EXPECT_EQ(n.uses(), 1u);
  EXPECT_EQ(n.check_out(true, t0 + ms(1), ms(0)), NodeAction::hand_out);
  EXPECT_EQ(n.state(), NodeState::leased);
  EXPECT_EQ(n.returned(true, false, t0 + ms(9), {}), NodeAction::park);
  EXPECT_EQ(n.state(), NodeState::idle);
  EXPECT_EQ(n.last_used(), t0 + ms(9));
}

TEST(ConnectionNode, SessionChangeAsksForARestoreAndAFailedRestoreRetires) {
  Node n = idle_node();
  n.lent();
  n.check_out(true, t0, ms(0));
  EXPECT_EQ(n.returned(true, true, t0 + ms(1), {}), NodeAction::restore);
  EXPECT_EQ(n.state(), NodeState::restoring);
  EXPECT_EQ(n.restored({}, t0 + ms(2), {}), NodeAction::park);
  n.lent();
  n.check_out(true, t0 + ms(3), ms(0));
  n.returned(true, true, t0 + ms(4), {});
  EXPECT_EQ(n.restored(refused, t0 + ms(5), {}), NodeAction::close);
  EXPECT_EQ(n.close_reason(), CloseReason::broken);
}

TEST(ConnectionNode, IdleLongerThanTheLimitIsValidatedFirst) {
  Node n = idle_node();
  n.lent();
  EXPECT_EQ(n.check_out(true, t0 + ms(100), ms(100)), NodeAction::hand_out);  // exactly the limit: no ping
  n.returned(true, false, t0 + ms(100), {});
  n.lent();
  EXPECT_EQ(n.check_out(true, t0 + ms(201), ms(100)), NodeAction::validate);
  EXPECT_EQ(n.state(), NodeState::validating);
  EXPECT_EQ(n.validated({}), NodeAction::hand_out);
  n.returned(true, false, t0 + ms(300), {});
  n.lent();
  n.check_out(true, t0 + ms(500), ms(100));
  EXPECT_EQ(n.validated(refused), NodeAction::close);
  EXPECT_EQ(n.close_reason(), CloseReason::broken);
}

TEST(ConnectionNode, AnUncheckedValidationGoesBackAsItWas) {
  Node n = idle_node();
  n.lent();
  n.check_out(true, t0 + ms(500), ms(100));
  n.unlend();
  EXPECT_EQ(n.state(), NodeState::idle);
  EXPECT_EQ(n.uses(), 0u);
  EXPECT_EQ(n.last_used(), t0);  // still due for a check next time
}

TEST(ConnectionNode, CheckOutRefusesADeadOrExpiredConnection) {
  Node dead = idle_node();
  dead.lent();
  EXPECT_EQ(dead.check_out(false, t0, ms(0)), NodeAction::close);
  EXPECT_EQ(dead.close_reason(), CloseReason::broken);
  Node old = idle_node(t0, t0 + ms(50));
  old.lent();
  EXPECT_EQ(old.check_out(true, t0 + ms(50), ms(0)), NodeAction::close);
  EXPECT_EQ(old.close_reason(), CloseReason::lifetime);
}

TEST(ConnectionNode, RetirePredicateAtEachCheckpoint) {
  const RetireRules rules{ms(100), 2};
  Node n = idle_node(t0, t0 + ms(1000));
  n.lent();
  n.lent();  // two uses begun: the limit
  // Before lending, uses do not count (the lease about to start is one of them).
  EXPECT_FALSE(n.retire_reason(true, t0, RetireCheck::before_lending, rules, true));
  EXPECT_EQ(n.retire_reason(true, t0, RetireCheck::on_return, rules, false), CloseReason::max_uses);
  Node fresh = idle_node(t0, t0 + ms(1000));
  // Idle time counts only while idle, and only above the minimum.
  EXPECT_FALSE(fresh.retire_reason(true, t0 + ms(150), RetireCheck::on_return, rules, true));
  EXPECT_FALSE(fresh.retire_reason(true, t0 + ms(150), RetireCheck::while_idle, rules, false));
  EXPECT_EQ(fresh.retire_reason(true, t0 + ms(150), RetireCheck::while_idle, rules, true), CloseReason::idle);
  // Lifetime applies at every checkpoint, surplus or not; broken before anything else.
  EXPECT_EQ(fresh.retire_reason(true, t0 + ms(1000), RetireCheck::before_lending, rules, false), CloseReason::lifetime);
  EXPECT_EQ(fresh.retire_reason(false, t0, RetireCheck::while_idle, rules, true), CloseReason::broken);
  EXPECT_EQ(fresh.next_idle_deadline(rules, true), t0 + ms(100));
  EXPECT_EQ(fresh.next_idle_deadline(rules, false), t0 + ms(1000));
}

TEST(ConnectionNode, ReturnPastItsLifetimeOrUsesCloses) {
  const RetireRules rules{ms(0), 1};
  Node n = idle_node(t0, t0 + ms(1000));
  n.lent();
  EXPECT_EQ(n.returned(true, true, t0 + ms(1), rules), NodeAction::close);  // used up: no restore needed
  EXPECT_EQ(n.close_reason(), CloseReason::max_uses);
  Node b = idle_node(t0, t0 + ms(10));
  b.lent();
  EXPECT_EQ(b.returned(true, false, t0 + ms(10), {}), NodeAction::close);
  EXPECT_EQ(b.close_reason(), CloseReason::lifetime);
  Node c = idle_node();
  c.lent();
  EXPECT_EQ(c.returned(false, false, t0, {}), NodeAction::close);
  EXPECT_EQ(c.close_reason(), CloseReason::broken);
}

TEST(ConnectionNode, TheFirstRetireReasonSticks) {
  Node n = idle_node();
  n.retire(CloseReason::broken);
  n.retire(CloseReason::shutdown);
  EXPECT_EQ(n.close_reason(), CloseReason::broken);
}

TEST(ConnectBackoff, FollowsTheRetryPolicyAndResetsOnSuccess) {
  RetryPolicy p;
  p.initial_backoff = ms(100);
  p.max_backoff = ms(1000);
  p.multiplier = 2.0;
  p.jitter = 0.0;
  ConnectBackoff<FakeClock> b;
  EXPECT_TRUE(b.may_attempt(t0));
  b.failed(t0, p, 0.5);
  EXPECT_EQ(b.retry_at(), t0 + p.backoff(1, 0.5));
  EXPECT_FALSE(b.may_attempt(t0 + ms(1)));
  b.failed(t0, p, 0.5);
  EXPECT_EQ(b.retry_at(), t0 + p.backoff(2, 0.5));
  EXPECT_GT(*b.retry_at(), t0 + p.backoff(1, 0.5));  // grows with the failures in a row
  EXPECT_TRUE(b.may_attempt(*b.retry_at()));
  EXPECT_FALSE(b.retry_at());  // the wait is over
  for (int i = 0; i < 1000; ++i) b.failed(t0, p, 0.5);
  EXPECT_EQ(b.failures(), 64u);  // bounded
  EXPECT_EQ(b.retry_at(), t0 + p.max_backoff);
  b.succeeded();
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_TRUE(b.may_attempt(t0));
}
