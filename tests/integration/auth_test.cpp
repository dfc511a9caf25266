// Authentication against an engine started with a root user.
#include <gtest/gtest.h>

#include "cortex/storage/error.hpp"
#include "engine.hpp"

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
  Credentials c;
  c.ns = ns;
  c.db = "test";
  c.ac = "account";
  c.vars = {{"email", Value("ada@example.com")}, {"pass", Value("pw1")}};
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
