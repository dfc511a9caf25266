// TokenCache's single flight of password signins: of a burst of new connections' setups, one
// signs in and the others wait for its token and authenticate with it; a failed signin lets them
// go on by themselves, and nobody waits when a token is known or no signin is needed.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "connection_setup.hpp"

using cortex::pool::detail::SigninTurn;
using cortex::pool::detail::TokenCache;

namespace {

struct Outcome {
  bool called = false;
  std::string token;
  bool signer = false;
  std::shared_ptr<SigninTurn> turn;  // the signer's
};

TokenCache::Then record(Outcome& o) {
  return [&o](const std::string& token, std::shared_ptr<SigninTurn> turn) {
    o.called = true;
    o.token = token;
    o.signer = turn != nullptr;
    o.turn = std::move(turn);
  };
}

}  // namespace

TEST(TokenCache, OneSetupSignsInAndTheOthersAuthenticateWithItsToken) {
  auto cache = std::make_shared<TokenCache>();
  Outcome first, second, third;
  cache->before_setup(true, record(first));
  ASSERT_TRUE(first.called);
  EXPECT_TRUE(first.signer);
  EXPECT_EQ(first.token, "");
  cache->before_setup(true, record(second));
  cache->before_setup(true, record(third));
  EXPECT_FALSE(second.called);  // waiting for the signin in flight
  EXPECT_FALSE(third.called);
  first.turn->succeeded("tok-1");
  for (const auto* o : {&second, &third}) {
    EXPECT_TRUE(o->called);
    EXPECT_FALSE(o->signer);
    EXPECT_EQ(o->token, "tok-1");
  }
  Outcome later;
  cache->before_setup(true, record(later));  // a token is known now: no wait, no signin
  EXPECT_TRUE(later.called);
  EXPECT_FALSE(later.signer);
  EXPECT_EQ(later.token, "tok-1");
  EXPECT_EQ(cache->get(), "tok-1");
}

TEST(TokenCache, AFailedSigninLetsTheWaitersSignInThemselves) {
  auto cache = std::make_shared<TokenCache>();
  Outcome first, second;
  cache->before_setup(true, record(first));
  cache->before_setup(true, record(second));
  ASSERT_FALSE(second.called);
  first.turn->failed();
  EXPECT_TRUE(second.called);
  EXPECT_FALSE(second.signer);
  EXPECT_EQ(second.token, "");
  Outcome next;
  cache->before_setup(true, record(next));  // no signin in flight any more: this one signs in
  EXPECT_TRUE(next.signer);
}

TEST(TokenCache, SetupsThatDoNotSignInNeverWait) {
  auto cache = std::make_shared<TokenCache>();
  Outcome signer, anonymous;
  cache->before_setup(true, record(signer));
  cache->before_setup(false, record(anonymous));
  EXPECT_TRUE(anonymous.called);
  EXPECT_FALSE(anonymous.signer);
  EXPECT_EQ(anonymous.token, "");
  signer.turn->failed();
  Outcome after;
  cache->before_setup(true, record(after));
  EXPECT_TRUE(after.signer);
}

// The signer's setup handler dropped uncalled (its io context stopped): the setups waiting for it
// are dropped too, so that nothing keeps the cache alive through a waiter that holds it.
TEST(TokenCache, AnAbandonedSignerDropsItsWaitersAndFreesTheCache) {
  auto cache = std::make_shared<TokenCache>();
  std::weak_ptr<TokenCache> watch = cache;
  auto signer = std::make_shared<Outcome>();
  cache->before_setup(true, record(*signer));
  ASSERT_TRUE(signer->signer);
  bool waiter_called = false;
  // Like a waiting setup, whose plan holds the cache.
  cache->before_setup(true, [held = cache, &waiter_called](const std::string&, std::shared_ptr<SigninTurn>) { waiter_called = true; });
  cache.reset();
  EXPECT_FALSE(watch.expired());  // the waiter holds it
  signer->turn.reset();           // the signer's handler is destroyed uncalled
  EXPECT_FALSE(waiter_called);
  EXPECT_TRUE(watch.expired());
}

// A setup whose plan was made before a signin began (it authenticated with the token then held,
// since due for renewal) finishes while that signin is in flight: the signin's waiters still wait
// for the signin's own token.
TEST(TokenCache, ASetupThatFinishesLateLeavesTheSigninInFlightAlone) {
  auto cache = std::make_shared<TokenCache>();
  std::uint64_t late_turn = 99;
  cache->get(&late_turn);  // the late setup's plan
  EXPECT_EQ(late_turn, 0u);
  Outcome signer, waiter;
  cache->before_setup(true, record(signer));
  ASSERT_TRUE(signer.signer);
  cache->before_setup(true, record(waiter));
  ASSERT_FALSE(waiter.called);
  cache->learn_token("old", late_turn);  // before: ended the signin, releasing the waiter with "old"
  EXPECT_FALSE(waiter.called);
  signer.turn->succeeded("new");
  EXPECT_TRUE(waiter.called);
  EXPECT_FALSE(waiter.signer);
  EXPECT_EQ(waiter.token, "new");
  EXPECT_EQ(cache->get(), "new");
}

// A setup that finishes after a newer signin does not put its older token back; one whose plan
// was made after that signin may replace the token.
TEST(TokenCache, ASetupThatFinishesLateDoesNotReplaceANewerToken) {
  auto cache = std::make_shared<TokenCache>();
  std::uint64_t old_turn = 99;
  cache->get(&old_turn);
  Outcome signer;
  cache->before_setup(true, record(signer));
  ASSERT_TRUE(signer.signer);
  signer.turn->succeeded("new");
  cache->learn_token("old", old_turn);  // before: the cache held "old" from here on
  EXPECT_EQ(cache->get(), "new");
  std::uint64_t now_turn = 0;
  EXPECT_EQ(cache->get(&now_turn), "new");
  EXPECT_EQ(now_turn, 1u);
  cache->learn_token("newer", now_turn);
  EXPECT_EQ(cache->get(), "newer");
}

// The signer's own turn still ends whichever way its setup reports it, and only once: a second
// success (its setup's end, after its signin step) changes nothing.
TEST(TokenCache, ASignersTurnEndsOnceWithItsOwnToken) {
  auto cache = std::make_shared<TokenCache>();
  Outcome signer, waiter;
  cache->before_setup(true, record(signer));
  cache->before_setup(true, record(waiter));
  signer.turn->succeeded("tok-1");
  ASSERT_TRUE(waiter.called);
  EXPECT_EQ(waiter.token, "tok-1");
  cache->learn_token("tok-2", 1);  // a setup of the same turn (the waiter, say) learns another
  signer.turn->succeeded("tok-1");  // the signer's setup ends: no-op, its turn is over
  EXPECT_EQ(cache->get(), "tok-2");
}
