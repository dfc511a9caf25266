// Load-balancing strategies as pure functions: each distribution matches its definition, and
// HealthBased moves traffic away from a failing or slow endpoint and back once it recovers.
#include "cortex/pool/load_balancer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>

namespace {

using cortex::pool::EndpointView;
using cortex::pool::HealthScore;
using cortex::pool::LoadBalancer;
using cortex::pool::LoadBalancingStrategy;
using ms = std::chrono::milliseconds;

std::array<int, 3> distribute(LoadBalancer& lb, std::vector<EndpointView> eps, int calls) {
  std::array<int, 3> counts{};
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < calls; ++i) {
    auto pick = lb.choose(eps, u(rng));
    if (pick) ++counts[*pick];
  }
  return counts;
}

TEST(LoadBalancer, RoundRobinCyclesAndSkipsUnavailable) {
  LoadBalancer lb(LoadBalancingStrategy::RoundRobin);
  std::vector<EndpointView> eps(3);
  EXPECT_EQ(*lb.choose(eps, 0), 0u);
  EXPECT_EQ(*lb.choose(eps, 0), 1u);
  EXPECT_EQ(*lb.choose(eps, 0), 2u);
  EXPECT_EQ(*lb.choose(eps, 0), 0u);
  eps[1].available = false;
  EXPECT_EQ(*lb.choose(eps, 0), 2u);
  EXPECT_EQ(*lb.choose(eps, 0), 0u);
  EXPECT_EQ(distribute(lb, std::vector<EndpointView>(3), 3000), (std::array<int, 3>{1000, 1000, 1000}));
}

TEST(LoadBalancer, NoneAvailableMeansNoChoice) {
  for (auto s : {LoadBalancingStrategy::RoundRobin, LoadBalancingStrategy::LeastConnections,
                 LoadBalancingStrategy::Random, LoadBalancingStrategy::HealthBased}) {
    LoadBalancer lb(s);
    std::vector<EndpointView> eps(3);
    for (auto& e : eps) e.available = false;
    EXPECT_FALSE(lb.choose(eps, 0.5));
    std::vector<EndpointView> one(3);
    std::vector<bool> tried{true, true, false};
    EXPECT_EQ(*lb.choose(one, 0.1, &tried), 2u);  // the one not yet tried
  }
}

TEST(LoadBalancer, LeastConnectionsPicksTheLeastActiveAndRotatesTies) {
  LoadBalancer lb(LoadBalancingStrategy::LeastConnections);
  std::vector<EndpointView> eps(3);
  eps[0].active = 5;
  eps[1].active = 2;
  eps[2].active = 7;
  EXPECT_EQ(*lb.choose(eps, 0), 1u);
  eps[1].active = 9;
  EXPECT_EQ(*lb.choose(eps, 0), 0u);
  // Equal counts: every endpoint in turn.
  EXPECT_EQ(distribute(lb, std::vector<EndpointView>(3), 300), (std::array<int, 3>{100, 100, 100}));
}

TEST(LoadBalancer, RandomIsUniformOverTheAvailable) {
  LoadBalancer lb(LoadBalancingStrategy::Random);
  std::vector<EndpointView> eps(3);
  eps[2].available = false;
  const auto c = distribute(lb, eps, 10000);
  EXPECT_EQ(c[2], 0);
  EXPECT_NEAR(c[0], 5000, 250);  // binomial: sd 50, so 5 sd
  EXPECT_NEAR(c[1], 5000, 250);
}

TEST(LoadBalancer, HealthBasedShiftsAwayFromAFailingOrSlowEndpointAndBack) {
  using Clock = HealthScore::Clock;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  std::array<HealthScore, 3> scores{};
  for (int i = 0; i < 50; ++i) {
    scores[0].record(true, ms(2), t0);
    scores[1].record(i % 2 == 0, ms(2), t0);  // half its calls fail
    scores[2].record(true, ms(50), t0);       // 48 ms slower: slowness 48 / (2 + 5)
  }
  auto views = [&](Clock::time_point now) {
    std::vector<EndpointView> v(3);
    for (std::size_t i = 0; i < 3; ++i) {
      v[i].error_rate = scores[i].error_rate(now);
      v[i].latency_ms = scores[i].latency_ms(now);
    }
    return v;
  };
  LoadBalancer lb(LoadBalancingStrategy::HealthBased);
  const auto bad = distribute(lb, views(t0), 10000);
  EXPECT_GT(bad[0], 8 * bad[1]);  // weight 1 against 1/11
  EXPECT_GT(bad[0], 5 * bad[2]);  // weight 1 against 1/7.9
  // They recover: new calls succeed fast, and the old record fades.
  const auto later = t0 + std::chrono::seconds(60);
  for (int i = 0; i < 50; ++i) {
    for (auto& s : scores) s.record(true, ms(2), later);
  }
  const auto good = distribute(lb, views(later), 9000);
  for (int c : good) EXPECT_NEAR(c, 3000, 300);
}

TEST(HealthScore, ABadPastFadesWithoutTraffic) {
  using Clock = HealthScore::Clock;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  HealthScore s(ms(1000));
  for (int i = 0; i < 100; ++i) s.record(false, ms(50), t0);
  EXPECT_GT(s.error_rate(t0), 0.95);
  EXPECT_LT(s.error_rate(t0 + std::chrono::seconds(20)), 0.01);  // 20 half-lives, no new calls
  EXPECT_LT(s.latency_ms(t0 + std::chrono::seconds(20)), 1.0);
}

}  // namespace
