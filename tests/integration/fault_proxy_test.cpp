// The fault proxy itself, so the failover tests can trust it: each fault shows up at the client
// as the typed error it should, and heal() restores service.
#include "fault_proxy.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_connection.hpp"
#include "engine.hpp"
#include "error_of.hpp"
#include "latch.hpp"

using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;
using cortex::test::error_of;
using cortex::test::FaultProxy;

namespace {

std::shared_ptr<RpcConnection> open(const std::string& url) {
  auto c = cortex::test::connect_signed_in(cortex::test::io(), url);
  c->call(rpc::use(cortex::test::unique_name("proxy"), "main"));
  return c;
}

}  // namespace

TEST(FaultProxy, ForwardsAndInjectsEachFault) {
  FaultProxy proxy(cortex::test::engine_url());
  auto conn = open(proxy.url());
  EXPECT_TRUE(conn->call(rpc::ping()).is_none());
  EXPECT_EQ(proxy.open_connections(), 1u);

  // Black hole: the request is held, so it times out; after heal the connection carries on.
  proxy.black_hole();
  RequestOptions quick;
  quick.timeout = std::chrono::milliseconds(200);
  EXPECT_EQ(error_of([&] { conn->call(rpc::ping(), quick); }), make_error_code(Errc::timeout));
  proxy.heal();
  EXPECT_TRUE(conn->call(rpc::ping()).is_none());

  // Drop: the client sees its connection lost.
  cortex::test::Completions closed;
  conn->on_closed([h = closed.handler()](const std::string&) mutable { h({}, Value()); });
  proxy.drop_all();
  closed.wait_for(1);
  EXPECT_EQ(error_of([&] { conn->call(rpc::ping()); }), make_error_code(Errc::not_connected));

  // Refuse: new connections fail to connect; heal listens again on the same port.
  proxy.refuse();
  EXPECT_EQ(error_of([&] { open(proxy.url()); }), make_error_code(Errc::connect_failed));
  proxy.heal();
  EXPECT_TRUE(open(proxy.url())->call(rpc::ping()).is_none());
}
