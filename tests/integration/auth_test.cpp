// Authentication against an engine started with a root user.
#include <gtest/gtest.h>

#include "cortex/storage/error.hpp"
#include <fstream>
#include <iterator>

#include "engine.hpp"
#include "error_of.hpp"

using namespace cortex::storage;
using cortex::Errc;

namespace {
const char* kPassword = "s3cret-Pa55";  // test-only credential, never printed by the library
}

TEST(Auth, RootSigninSucceedsAndWrongPasswordFailsTyped) {
  auto opts = cortex::test::private_engine_options();
  opts.user = "root";
  opts.pass = kPassword;
  LocalServer server(opts);
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), server.url());
  Credentials good;
  good.user = "root";
  good.pass = kPassword;
  const Value token = c->call(rpc::signin(good));
  EXPECT_TRUE(token.is<std::string>() || token.is<Object>());

  Credentials bad = good;
  bad.pass = "wrong-password";
  try {
    c->call(rpc::signin(bad));
    FAIL() << "wrong password accepted";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(cortex::ServerErrc::not_allowed));
    EXPECT_EQ(e.server_code(), -32002);
    EXPECT_EQ(std::string(e.what()).find("wrong-password"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find(kPassword), std::string::npos);
  }
  // Authenticate with the token from the good signin, then invalidate.
  const std::string jwt = token.is<std::string>() ? token.get<std::string>() : token["access"].get<std::string>();
  auto c2 = RpcConnection::connect(io.context(), server.url());
  c2->call(rpc::authenticate(jwt));
  c2->call(rpc::invalidate());
  EXPECT_THROW(c2->call(rpc::authenticate("not-a-token")), cortex::Error);
}

TEST(Auth, RecordAccessSignupAndSignin) {
  IoRunner io(1);
  std::string ns;
  auto admin = cortex::test::connect_fresh(&ns);
  admin->query(
           "DEFINE TABLE user SCHEMAFULL PERMISSIONS FOR select, update WHERE id = $auth.id;"
           "DEFINE FIELD email ON user TYPE string; DEFINE FIELD pass ON user TYPE string;"
           "DEFINE ACCESS account ON DATABASE TYPE RECORD "
           "SIGNUP (CREATE user SET email = $email, pass = crypto::argon2::generate($pass)) "
           "SIGNIN (SELECT * FROM user WHERE email = $email AND crypto::argon2::compare(pass, $pass))")
      .throw_if_error();
  Credentials c = cortex::test::record_credentials(ns, "test", "account",
                                                   {{"email", Value("ada@example.com")}, {"pass", Value("pw1")}});
  auto user = RpcConnection::connect(io.context(), cortex::test::engine_url());
  EXPECT_FALSE(user->call(rpc::signup(c)).is_none());
  auto again = RpcConnection::connect(io.context(), cortex::test::engine_url());
  EXPECT_FALSE(again->call(rpc::signin(c)).is_none());
  const Value me = again->call(rpc::info());
  EXPECT_EQ(me["email"], Value("ada@example.com"));

  c.vars["pass"] = Value("wrong");
  auto intruder = RpcConnection::connect(io.context(), cortex::test::engine_url());
  EXPECT_THROW(intruder->call(rpc::signin(c)), cortex::Error);
}

// 3.x refresh tokens: an access method WITH REFRESH answers {access, refresh} at signin; refresh
// trades the pair for a new one (whose access token the session now holds), revoke ends the refresh
// token, after which refreshing with it fails typed.
TEST(Auth, RefreshTradesTheTokenPairAndRevokeEndsIt) {
  IoRunner io(1);
  std::string ns;
  auto admin = cortex::test::connect_fresh(&ns);
  admin->query(
           "DEFINE TABLE user SCHEMAFULL PERMISSIONS FOR select WHERE id = $auth.id;"
           "DEFINE FIELD email ON user TYPE string; DEFINE FIELD pass ON user TYPE string;"
           "DEFINE ACCESS account ON DATABASE TYPE RECORD "
           "SIGNUP (CREATE user SET email = $email, pass = crypto::argon2::generate($pass)) "
           "SIGNIN (SELECT * FROM user WHERE email = $email AND crypto::argon2::compare(pass, $pass)) "
           "WITH REFRESH DURATION FOR GRANT 1d")
      .throw_if_error();
  Credentials c = cortex::test::record_credentials(ns, "test", "account",
                                                   {{"email", Value("bo@example.com")}, {"pass", Value("pw2")}});
  auto user = RpcConnection::connect(io.context(), cortex::test::engine_url());
  const auto first = rpc::token_pair(user->call(rpc::signup(c)));
  ASSERT_TRUE(first) << "signup answered no {access, refresh} pair";
  EXPECT_EQ(user->auth_token(), first->access);

  const auto second = rpc::token_pair(user->call(rpc::refresh(*first)));
  ASSERT_TRUE(second);
  EXPECT_NE(second->refresh, first->refresh);
  EXPECT_EQ(user->auth_token(), second->access);
  EXPECT_EQ(user->call(rpc::info())["email"], Value("bo@example.com"));  // signed in as the user

  user->call(rpc::revoke(*second));
  const auto ec = cortex::test::error_of([&] { user->call(rpc::refresh(*second)); });
  EXPECT_TRUE(ec) << "a revoked refresh token was accepted";
  EXPECT_EQ(ec.category(), cortex::server_category()) << ec.message();
}

// The local server refuses guests like `surreal start`: an anonymous session may connect, choose a
// namespace and sign in, but not read or write; signed out again (invalidate), it is refused again.
TEST(Auth, AnonymousWritesAreRefusedUntilSignedIn) {
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), cortex::test::engine_url());
  const auto ns = cortex::test::unique_name("guest");
  c->call(rpc::use(ns, "db"));  // allowed for guests
  EXPECT_TRUE(c->call(rpc::ping()).is_none());
  const auto refused = cortex::make_error_code(cortex::ServerErrc::not_allowed);
  try {
    c->call(rpc::create(Value(Table{"note"}), Object{{"text", Value("anonymous")}}));
    FAIL() << "an anonymous CREATE was accepted";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), refused);
    EXPECT_EQ(e.server_kind(), "NotAllowed");
    EXPECT_NE(std::string(e.what()).find("Not enough permissions"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cortex::test::error_of([&] { c->query("SELECT * FROM note"); }), refused);
  EXPECT_EQ(cortex::test::error_of([&] { c->call(rpc::select(Value(Table{"note"}))); }), refused);

  c->call(rpc::signin(cortex::test::root_credentials()));
  c->call(rpc::create(Value(Table{"note"}), Object{{"text", Value("signed in")}}));
  EXPECT_EQ(c->call(rpc::select(Value(Table{"note"}))).get<Array>().size(), 1u);  // the refused write left nothing

  c->call(rpc::invalidate());
  EXPECT_EQ(cortex::test::error_of([&] { c->call(rpc::select(Value(Table{"note"}))); }), refused);
}

TEST(Auth, AllowGuestsLetsAnonymousSessionsWrite) {
  auto o = cortex::test::private_engine_options();
  o.allow_guests = true;
  LocalServer server(o);
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), server.url());
  c->call(rpc::use("guests", "db"));
  c->call(rpc::create(Value(Table{"note"}), Object{{"text", Value("guest")}}));
  EXPECT_EQ(c->call(rpc::select(Value(Table{"note"}))).get<Array>().size(), 1u);
}

// /proc/PID/cmdline is readable by every user of the machine: the password must not be there.
TEST(Auth, TheRootPasswordIsNotOnTheServersCommandLine) {
  auto o = cortex::test::private_engine_options();
  o.pass = "cmdline-canary-Pa55";
  LocalServer server(o);
  std::ifstream f("/proc/" + std::to_string(server.pid()) + "/cmdline", std::ios::binary);
  ASSERT_TRUE(f.good());
  const std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(cmdline.find("--bind"), std::string::npos);  // really the server's command line
  EXPECT_EQ(cmdline.find(o.pass), std::string::npos);
  // …and the server still has it: signin with it works.
  IoRunner io(1);
  auto c = RpcConnection::connect(io.context(), server.url());
  Credentials root;
  root.user = o.user;
  root.pass = o.pass;
  EXPECT_FALSE(c->call(rpc::signin(root)).is_none());
}
