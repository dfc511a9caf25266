// KeepaliveMonitor: a busy socket is never declared dead; a silent one is, one timeout after its ping.
#include <gtest/gtest.h>

#include "keepalive_monitor.hpp"

using cortex::storage::detail::KeepaliveMonitor;
using Action = KeepaliveMonitor::Action;
using std::chrono::milliseconds;

namespace {
const KeepaliveMonitor::Clock::time_point t0{};
}

TEST(KeepaliveMonitor, RecentTrafficNeedsNoPing) {
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1000), t0 + milliseconds(900), 0), Action::none);
  EXPECT_FALSE(m.ping_outstanding());
}

TEST(KeepaliveMonitor, SilenceAfterAPingIsDeath) {
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1000), std::nullopt, 0), Action::send_ping);
  EXPECT_EQ(m.next_tick(t0 + milliseconds(1000)), t0 + milliseconds(1500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1200), std::nullopt, 0), Action::none);  // early: not yet
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1500), t0, 0), Action::declare_dead);
}

TEST(KeepaliveMonitor, AnAnsweredPingKeepsTheSocket) {
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1000), std::nullopt, 0), Action::send_ping);
  m.on_ping_done();
  EXPECT_FALSE(m.ping_outstanding());
  EXPECT_EQ(m.next_tick(t0 + milliseconds(1100)), t0 + milliseconds(2100));
}

TEST(KeepaliveMonitor, DataArrivingAfterThePingIsProofOfLifeEvenWithoutTheReply) {
  // A busy peer sends a large reply before our pong: the pong is late, the peer is alive.
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1000), std::nullopt, 0), Action::send_ping);
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1500), t0 + milliseconds(1499), 0), Action::none);
  EXPECT_FALSE(m.ping_outstanding());
}

TEST(KeepaliveMonitor, APingQueuedBehindADrainingSendGetsItsDeadlineFromProgress) {
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1000), std::nullopt, 40 << 20), Action::send_ping);
  // Half a second later 10 MiB of our 40 MiB frame went out: not dead, the deadline restarts.
  EXPECT_EQ(m.on_tick(t0 + milliseconds(1500), std::nullopt, 30 << 20), Action::none);
  EXPECT_TRUE(m.ping_outstanding());
  EXPECT_EQ(m.next_tick(t0 + milliseconds(1500)), t0 + milliseconds(2000));
  // Then nothing moves for a whole timeout: dead.
  EXPECT_EQ(m.on_tick(t0 + milliseconds(2000), std::nullopt, 30 << 20), Action::declare_dead);
}

TEST(KeepaliveMonitor, OldTrafficDoesNotExcuseAMissedPing) {
  KeepaliveMonitor m(milliseconds(1000), milliseconds(500));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(2000), t0 + milliseconds(900), 0), Action::send_ping);
  EXPECT_EQ(m.on_tick(t0 + milliseconds(2500), t0 + milliseconds(900), 0), Action::declare_dead);
}

TEST(KeepaliveMonitor, ARequestTimeoutProbesAtOnceButNeverTwice) {
  KeepaliveMonitor m(milliseconds(10000), milliseconds(500));
  EXPECT_EQ(m.on_request_timeout(t0 + milliseconds(100), 0), Action::send_ping);
  EXPECT_EQ(m.on_request_timeout(t0 + milliseconds(200), 0), Action::none);  // one ping out is enough
  EXPECT_EQ(m.next_tick(t0 + milliseconds(200)), t0 + milliseconds(600));
  EXPECT_EQ(m.on_tick(t0 + milliseconds(600), std::nullopt, 0), Action::declare_dead);
}
