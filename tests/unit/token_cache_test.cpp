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
  cache->learn_token("");  // a setup that ended without a token still ends the signin in flight
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

// A turn ended by another setup's token (learn) does not end a newer signin when its own signer
// fails or is abandoned later.
TEST(TokenCache, ALateEndOfAnOldSigninLeavesTheNewOneInFlight) {
  auto cache = std::make_shared<TokenCache>();
  Outcome old_signer;
  cache->before_setup(true, record(old_signer));
  cache->learn_token("");  // another setup ended it (without a usable token)
  Outcome new_signer, waiter;
  cache->before_setup(true, record(new_signer));
  ASSERT_TRUE(new_signer.signer);
  cache->before_setup(true, record(waiter));
  old_signer.turn->failed();  // late: must not release the new turn's waiter
  EXPECT_FALSE(waiter.called);
  old_signer.turn.reset();
  EXPECT_FALSE(waiter.called);
  new_signer.turn->succeeded("tok-2");
  EXPECT_TRUE(waiter.called);
  EXPECT_EQ(waiter.token, "tok-2");
}
