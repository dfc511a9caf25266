// FairQueue: one greedy agent against ten polite ones on a small capacity. A deterministic drive
// (submit everything, then complete one operation at a time) checks counts and order, no timing.
#include "fair_queue.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using cortex::sessions::FairQueue;

TEST(FairQueue, AGreedyAgentCannotStarveThePoliteOnes) {
  FairQueue<std::string> q(2);
  std::vector<std::string> started;
  auto submit = [&](const std::string& agent) {
    if (auto t = q.submit(agent, agent)) started.push_back(*t);
  };
  for (int i = 0; i < 1000; ++i) submit("greedy");  // first in line, by far
  for (int p = 0; p < 10; ++p) {
    for (int i = 0; i < 10; ++i) submit("polite" + std::to_string(p));
  }
  ASSERT_EQ(started.size(), 2u);  // capacity 2: both greedy, the rest wait
  EXPECT_EQ(q.waiting(), 998u + 100u);
  while (auto t = q.done()) started.push_back(*t);
  ASSERT_EQ(started.size(), 1100u);
  EXPECT_EQ(q.running(), 1u);  // the last one started is still "running"
  // Every polite agent finished all 10 of its operations within the first 2 + 11 × 10 starts:
  // turns rotate over the 11 agents with work waiting.
  std::map<std::string, int> done_by;
  for (std::size_t i = 0; i < 2 + 11 * 10; ++i) ++done_by[started[i]];
  for (int p = 0; p < 10; ++p) EXPECT_EQ(done_by["polite" + std::to_string(p)], 10) << p;
  EXPECT_EQ(done_by["greedy"], 12);
  // And in order: after the first two, every window of 11 starts holds each agent once.
  for (std::size_t w = 2; w + 11 <= 2 + 11 * 10; w += 11) {
    std::map<std::string, int> in_window;
    for (std::size_t i = w; i < w + 11; ++i) ++in_window[started[i]];
    EXPECT_EQ(in_window.size(), 11u) << "window at " << w;
  }
}

TEST(FairQueue, RunsAtOnceWhileThereIsRoomAndKeepsTheCap) {
  FairQueue<int> q(3);
  EXPECT_TRUE(q.submit("a", 1));
  EXPECT_TRUE(q.submit("a", 2));
  EXPECT_TRUE(q.submit("b", 3));
  EXPECT_FALSE(q.submit("b", 4));  // full
  EXPECT_EQ(q.running(), 3u);
  EXPECT_EQ(q.done(), std::optional<int>(4));
  EXPECT_EQ(q.running(), 3u);
  EXPECT_FALSE(q.done());
  EXPECT_EQ(q.running(), 2u);
  EXPECT_TRUE(q.submit("c", 5));  // room again, nobody waiting
}

}  // namespace
