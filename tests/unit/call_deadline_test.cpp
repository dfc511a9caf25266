// CallDeadline: a call waiting to be sent races its deadline; exactly one of them settles it. The
// state alone, then with its timer on an io_context run here (no server).
#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include "call_deadline.hpp"

using cortex::pool::detail::arm_deadline;
using cortex::pool::detail::CallDeadline;

TEST(CallDeadline, TheDeadlineCatchesAnUnsentCallAndItIsNeverSent) {
  CallDeadline d;
  EXPECT_TRUE(d.try_expire());
  EXPECT_FALSE(d.try_send());
  EXPECT_TRUE(d.claim_answer());
  EXPECT_FALSE(d.claim_answer());  // the outcome, if any came, finds the caller answered
}

TEST(CallDeadline, ASentCallOutrunsTheDeadlineAndCancelsItsTimer) {
  CallDeadline d;
  int cancelled = 0;
  d.cancel_timer = [&] { ++cancelled; };
  EXPECT_TRUE(d.try_send());
  EXPECT_EQ(cancelled, 1);
  EXPECT_FALSE(d.try_expire());
  EXPECT_TRUE(d.try_send());  // sent again (a retry): nothing to cancel twice
  EXPECT_EQ(cancelled, 1);
}

TEST(CallDeadline, ACallUnsentAgainIsCaughtByTheDeadline) {
  CallDeadline d;
  EXPECT_TRUE(d.try_send());
  d.unsend();  // its connection closed before it was written: it waits for another
  EXPECT_TRUE(d.try_expire());
  EXPECT_FALSE(d.try_send());
}

TEST(CallDeadline, TheTimerExpiresAWaitingCallOnce) {
  asio::io_context io;
  auto d = std::make_shared<CallDeadline>();
  d->at = std::chrono::steady_clock::now();  // already due
  int expired = 0;
  arm_deadline(io, d, [&] { ++expired; });
  io.run();
  EXPECT_EQ(expired, 1);
  EXPECT_FALSE(d->try_send());
}

TEST(CallDeadline, SendingInTimeCancelsTheTimerWithoutWaitingForIt) {
  asio::io_context io;
  auto d = std::make_shared<CallDeadline>();
  d->at = std::chrono::steady_clock::now() + std::chrono::hours(1);
  int expired = 0;
  arm_deadline(io, d, [&] { ++expired; });
  ASSERT_TRUE(d->try_send());
  io.run();  // returns at once: the timer was cancelled, not waited out
  EXPECT_EQ(expired, 0);
  EXPECT_FALSE(d->try_expire());
}

TEST(CallDeadline, ACallSentBeforeItsTimerIsArmedGetsNoTimer) {
  asio::io_context io;
  auto d = std::make_shared<CallDeadline>();
  d->at = std::chrono::steady_clock::now() + std::chrono::hours(1);
  ASSERT_TRUE(d->try_send());
  int expired = 0;
  arm_deadline(io, d, [&] { ++expired; });
  io.run();  // nothing armed: returns at once
  EXPECT_EQ(expired, 0);
}
