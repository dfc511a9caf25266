// IdleBag: the pool's lock-free fast lane. Outcomes only: items are never lost or duplicated, the
// gate stops the lane, and a drain after closing the gate leaves nothing parked behind it.
#include "idle_bag.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace {

using cortex::pool::IdleBag;
using Item = std::shared_ptr<int>;

TEST(IdleBag, ParkedItemsComeBackOnce) {
  IdleBag<Item> bag(4);
  std::vector<Item> items;
  for (int i = 0; i < 4; ++i) {
    items.push_back(std::make_shared<int>(i));
    Item copy = items.back();
    ASSERT_TRUE(bag.try_park(copy));
    EXPECT_EQ(copy, nullptr);  // moved into the bag
  }
  EXPECT_EQ(bag.parked(), 4u);
  Item extra = std::make_shared<int>(99);
  EXPECT_FALSE(bag.try_park(extra));  // full: the caller keeps it
  EXPECT_NE(extra, nullptr);
  std::set<int> seen;
  while (auto got = bag.try_take()) seen.insert(**got);
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(bag.parked(), 0u);
}

TEST(IdleBag, ClosedGateStopsTheLaneUntilEveryCloseIsOpened) {
  IdleBag<Item> bag(2);
  Item a = std::make_shared<int>(1);
  ASSERT_TRUE(bag.try_park(a));
  bag.close_gate();
  bag.close_gate();
  EXPECT_FALSE(bag.try_take());
  Item b = std::make_shared<int>(2);
  EXPECT_FALSE(bag.try_park(b));
  EXPECT_NE(b, nullptr);
  bag.open_gate();
  EXPECT_FALSE(bag.try_take());  // one close still holds it shut
  int drained = 0;
  bag.drain([&](Item it) { drained += *it; });
  EXPECT_EQ(drained, 1);
  bag.open_gate();
  EXPECT_TRUE(bag.try_park(b));
  auto back = bag.try_take();
  ASSERT_TRUE(back);
  EXPECT_EQ(**back, 2);
}

// Many threads take and park the same few items: none is lost or held twice.
TEST(IdleBag, ConcurrentTakeAndParkConserveItems) {
  constexpr int kItems = 4, kThreads = 4, kRounds = 20000;
  IdleBag<Item> bag(kItems);
  for (int i = 0; i < kItems; ++i) {
    Item it = std::make_shared<int>(0);
    ASSERT_TRUE(bag.try_park(it));
  }
  std::vector<std::thread> threads;
  std::atomic<long> taken{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        auto got = bag.try_take();
        if (!got) continue;
        ++**got;  // exclusive: a duplicate holder would race here (TSan) and lose increments
        taken.fetch_add(1);
        Item it = std::move(*got);
        ASSERT_TRUE(bag.try_park(it));
      }
    });
  }
  for (auto& th : threads) th.join();
  long sum = 0;
  int count = 0;
  while (auto got = bag.try_take()) {
    sum += **got;
    ++count;
  }
  EXPECT_EQ(count, kItems);
  EXPECT_EQ(sum, taken.load());
}

// The no-lost-wakeup property: a parker racing with close_gate + drain either has its item
// drained, or sees the gate and gets it back — never is it left parked behind the sweep.
TEST(IdleBag, NothingStaysParkedBehindADrain) {
  constexpr int kRounds = 5000;
  IdleBag<Item> bag(8);
  int left_behind = 0, accounted = 0;
  for (int r = 0; r < kRounds; ++r) {
    std::atomic<bool> go{false};
    Item item = std::make_shared<int>(r);
    bool parked = false;
    std::thread parker([&] {
      while (!go.load()) {
      }
      parked = bag.try_park(item);
    });
    int drained = 0;
    go.store(true);
    bag.close_gate();
    bag.drain([&](Item) { ++drained; });
    parker.join();
    // Parked and not drained: it must not still be in the bag (the parker would have taken it back).
    if (bag.parked() != 0) ++left_behind;
    accounted += (drained == 1) + (!parked && item != nullptr);
    bag.drain([](Item) {});
    bag.open_gate();
  }
  EXPECT_EQ(left_behind, 0);
  EXPECT_EQ(accounted, kRounds);  // each item ended exactly in the drain or back with its parker
}

}  // namespace
