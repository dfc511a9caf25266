// TokenCache's single flight of password signins: of a burst of new connections' setups, one
// signs in and the others wait for its token and authenticate with it; a failed signin lets them
// go on by themselves, and nobody waits when a token is known or no signin is needed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connection_setup.hpp"

using cortex::pool::detail::TokenCache;

namespace {

struct Outcome {
  bool called = false;
  std::string token;
  bool signer = false;
};

TokenCache::Then record(Outcome& o) {
  return [&o](const std::string& token, bool signer) {
    o.called = true;
    o.token = token;
    o.signer = signer;
  };
}

}  // namespace

TEST(TokenCache, OneSetupSignsInAndTheOthersAuthenticateWithItsToken) {
  TokenCache cache;
  Outcome first, second, third;
  cache.before_setup(true, record(first));
  ASSERT_TRUE(first.called);
  EXPECT_TRUE(first.signer);
  EXPECT_EQ(first.token, "");
  cache.before_setup(true, record(second));
  cache.before_setup(true, record(third));
  EXPECT_FALSE(second.called);  // waiting for the signin in flight
  EXPECT_FALSE(third.called);
  cache.learn_token("tok-1");  // the signer's setup succeeded
  for (const auto* o : {&second, &third}) {
    EXPECT_TRUE(o->called);
    EXPECT_FALSE(o->signer);
    EXPECT_EQ(o->token, "tok-1");
  }
  Outcome later;
  cache.before_setup(true, record(later));  // a token is known now: no wait, no signin
  EXPECT_TRUE(later.called);
  EXPECT_FALSE(later.signer);
  EXPECT_EQ(later.token, "tok-1");
  EXPECT_EQ(cache.get(), "tok-1");
}

TEST(TokenCache, AFailedSigninLetsTheWaitersSignInThemselves) {
  TokenCache cache;
  Outcome first, second;
  cache.before_setup(true, record(first));
  cache.before_setup(true, record(second));
  ASSERT_FALSE(second.called);
  cache.signin_failed();
  EXPECT_TRUE(second.called);
  EXPECT_FALSE(second.signer);
  EXPECT_EQ(second.token, "");
  Outcome next;
  cache.before_setup(true, record(next));  // no signin in flight any more: this one signs in
  EXPECT_TRUE(next.signer);
}

TEST(TokenCache, SetupsThatDoNotSignInNeverWait) {
  TokenCache cache;
  Outcome signer, anonymous;
  cache.before_setup(true, record(signer));
  cache.before_setup(false, record(anonymous));
  EXPECT_TRUE(anonymous.called);
  EXPECT_FALSE(anonymous.signer);
  EXPECT_EQ(anonymous.token, "");
  cache.learn_token("");  // a setup that ended without a token still ends the signin in flight
  Outcome after;
  cache.before_setup(true, record(after));
  EXPECT_TRUE(after.signer);
}
