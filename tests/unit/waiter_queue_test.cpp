// WaiterQueue with a fake clock: FIFO hand-off, per-waiter deadlines, cancellation, drain, and
// the burst of seed 003 (more callers than items) where every waiter must be served.
#include <gtest/gtest.h>

#include <deque>

#include "fake_clock.hpp"

#include "waiter_queue.hpp"

using cortex::pool::WaiterQueue;

namespace {

using cortex::test::FakeClock;

using Queue = WaiterQueue<int, FakeClock>;
using ms = std::chrono::milliseconds;
const FakeClock::time_point t0{ms(1000)};
const std::error_code kTimeout = std::make_error_code(std::errc::timed_out);
const std::error_code kCancelled = std::make_error_code(std::errc::operation_canceled);

struct Log {
  std::vector<std::pair<int, int>> got;  // (waiter, item or -1 on error)
  Queue::Handler waiter(int who) {
    return [this, who](std::error_code ec, int item) { got.emplace_back(who, ec ? -1 : item); };
  }
};

}  // namespace

TEST(WaiterQueue, HandsOffToTheOldestWaiterFirst) {
  Queue q;
  Log log;
  q.push(t0 + ms(500), log.waiter(1));
  q.push(t0 + ms(100), log.waiter(2));  // earlier deadline, but later arrival
  q.push(t0 + ms(300), log.waiter(3));
  for (int item : {10, 20, 30}) {
    auto c = q.hand_off(item);
    ASSERT_TRUE(c);
    (*c)();
  }
  EXPECT_EQ(log.got, (std::vector<std::pair<int, int>>{{1, 10}, {2, 20}, {3, 30}}));
  int spare = 40;
  EXPECT_FALSE(q.hand_off(spare));  // nobody waits: the item stays with the caller
  EXPECT_EQ(spare, 40);
}

TEST(WaiterQueue, EachWaiterHasItsOwnDeadline) {
  Queue q;
  Log log;
  q.push(t0 + ms(300), log.waiter(1));
  q.push(t0 + ms(100), log.waiter(2));
  q.push(t0 + ms(200), log.waiter(3));
  EXPECT_EQ(q.next_deadline(), t0 + ms(100));
  for (auto& c : q.expire(t0 + ms(200), kTimeout)) c();
  EXPECT_EQ(log.got, (std::vector<std::pair<int, int>>{{2, -1}, {3, -1}}));
  ASSERT_EQ(q.size(), 1u);
  int item = 7;
  auto c = q.hand_off(item);
  ASSERT_TRUE(c);
  (*c)();
  EXPECT_EQ(log.got.back(), std::make_pair(1, 7));
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.next_deadline());
}

TEST(WaiterQueue, CancelledWaitersAreSkippedNotServed) {
  Queue q;
  Log log;
  const auto a = q.push(t0 + ms(100), log.waiter(1));
  q.push(t0 + ms(100), log.waiter(2));
  auto c = q.cancel(a, kCancelled);
  ASSERT_TRUE(c);
  (*c)();
  EXPECT_FALSE(q.cancel(a, kCancelled));  // twice is harmless
  int item = 5;
  auto h = q.hand_off(item);
  ASSERT_TRUE(h);
  (*h)();
  EXPECT_EQ(log.got, (std::vector<std::pair<int, int>>{{1, -1}, {2, 5}}));
  EXPECT_TRUE(q.expire(t0 + ms(1000), kTimeout).empty());  // nothing left to expire
}

TEST(WaiterQueue, DrainWakesEveryoneOldestFirst) {
  Queue q;
  Log log;
  for (int i = 1; i <= 4; ++i) q.push(t0 + ms(100 * (5 - i)), log.waiter(i));
  for (auto& c : q.drain(kCancelled)) c();
  EXPECT_EQ(log.got, (std::vector<std::pair<int, int>>{{1, -1}, {2, -1}, {3, -1}, {4, -1}}));
  EXPECT_TRUE(q.empty());
}

TEST(WaiterQueue, BurstAboveCapacityServesEveryWaiter) {
  // Seed 003: 100 callers, 50 items. Every release goes to a waiter, so with items cycling back
  // all 100 are served and none times out.
  Queue q;
  std::deque<int> free_items;
  for (int i = 0; i < 50; ++i) free_items.push_back(i);
  int served = 0, timed_out = 0;
  std::deque<int> in_use;
  auto acquire = [&](int who) {
    if (!free_items.empty()) {
      in_use.push_back(free_items.front());
      free_items.pop_front();
      ++served;
      return;
    }
    q.push(t0 + ms(30000), [&, who](std::error_code ec, int item) {
      (void)who;
      if (ec) { ++timed_out; return; }
      in_use.push_back(item);
      ++served;
    });
  };
  for (int who = 0; who < 100; ++who) acquire(who);
  EXPECT_EQ(served, 50);
  EXPECT_EQ(q.size(), 50u);
  while (!in_use.empty()) {  // each holder releases once
    int item = in_use.front();
    in_use.pop_front();
    if (auto c = q.hand_off(item)) (*c)();
    else free_items.push_back(item);
  }
  EXPECT_EQ(served, 100);
  EXPECT_EQ(timed_out, 0);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(free_items.size(), 50u);
}
