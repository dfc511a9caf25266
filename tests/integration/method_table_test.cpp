// The table of RPC method facts against the real engine: the manager's shared path refuses exactly
// the methods that change who its session is, where it is or what it holds, and the HTTP transport
// exactly those HTTP cannot carry. And the defect that made the table: `refresh` on the shared
// path turned every caller's session into a record user's.
#include <gtest/gtest.h>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "cortex/storage/value_json.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "within.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

TEST(MethodTable, TheSharedPathRefusesExactlyTheMethodsThatChangeTheSessionsIdentity) {
  ConnectionManager m(cortex::test::local_config(cortex::test::engine_url(), "methods"));
  for (const auto& f : rpc::known_methods()) {
    // Empty parameters: a method let through fails at the server (or answers); only the refusal,
    // which comes before anything is sent, is asserted.
    const auto ec = cortex::test::error_of([&] { m.call(Request{std::string(f.name), {}}, cortex::test::within(std::chrono::seconds(10))); });
    EXPECT_EQ(ec == make_error_code(Errc::session_state_on_shared_path), f.changes_identity()) << f.name << ": " << ec.message();
  }
  // The shared session is still root's, in the configured namespace.
  const auto who = m.query("RETURN [session::ns(), session::ac(), $auth]").at(0);
  EXPECT_EQ(who[std::size_t{0}], Value(m.config().namespace_));
  EXPECT_TRUE(who[1].is_none() || who[1].is_null()) << to_json_text(who);
}

TEST(MethodTable, HttpRefusesExactlyWhatItCannotCarry) {
  IoRunner io(1);
  const std::string url = "http" + cortex::test::engine_url().substr(2);
  auto c = cortex::test::connect_signed_in(io.context(), url);
  for (const auto& f : rpc::known_methods()) {
    if (f.changes_auth()) continue;  // would sign this connection out or in as someone else
    const auto [ec, why] = cortex::test::failure_of([&] { c->call(Request{std::string(f.name), {}}, cortex::test::within(std::chrono::seconds(10))); });
    const bool refused = ec == make_error_code(Errc::unsupported_by_server) && why.find("http://") != std::string::npos;
    EXPECT_EQ(refused, !f.over_http) << f.name << ": " << why;
  }
}

// Before: refresh was let onto the shared path; afterwards session::ac() was "account", $auth the
// record user, and root's INFO FOR DB was refused.
TEST(MethodTable, RefreshOnTheSharedPathIsRefusedAndTheSharedIdentityStays) {
  auto cfg = cortex::test::local_config(cortex::test::engine_url(), "refresh");
  cfg.database = "test";
  ConnectionManager m(cfg);
  {
    auto lease = m.acquire();
    lease->query("DEFINE TABLE user SCHEMAFULL PERMISSIONS FOR select WHERE id = $auth.id;"
                 "DEFINE FIELD email ON user TYPE string; DEFINE FIELD pass ON user TYPE string;"
                 "DEFINE ACCESS account ON DATABASE TYPE RECORD "
                 "SIGNUP (CREATE user SET email = $email, pass = crypto::argon2::generate($pass)) "
                 "SIGNIN (SELECT * FROM user WHERE email = $email AND crypto::argon2::compare(pass, $pass)) "
                 "WITH REFRESH DURATION FOR GRANT 1d")
        .throw_if_error();
  }
  IoRunner io(1);
  auto user = RpcConnection::connect(io.context(), cortex::test::engine_url());
  const auto pair = rpc::token_pair(user->call(rpc::signup(cortex::test::record_credentials(
      cfg.namespace_, "test", "account", {{"email", Value("ann@example.com")}, {"pass", Value("pw")}}))));
  ASSERT_TRUE(pair);
  for (int i = 0; i < 4; ++i) {  // on every shared connection, were it let through
    EXPECT_EQ(cortex::test::error_of([&] { m.call(rpc::refresh(*pair)); }), make_error_code(Errc::session_state_on_shared_path));
  }
  for (int i = 0; i < 4; ++i) {
    const auto ac = m.query("RETURN session::ac()").at(0);
    EXPECT_FALSE(ac.is<std::string>()) << "the shared session runs as record access " << ac.get<std::string>();
    EXPECT_TRUE(m.query("INFO FOR DB").ok()) << "root's INFO FOR DB was refused";
  }
}
