// RpcConnection over a fake transport (the test seam): when the connection is given up, requests
// whose frames the transport never wrote fail with not_connected (safe to send elsewhere), those
// written with connection_lost (they may have run).
#include <gtest/gtest.h>

#include <map>

#include "fake_transport.hpp"

using namespace cortex::storage;
using cortex::Errc;

TEST(RpcUnsent, RequestsNeverWrittenFailNotConnectedTheOthersConnectionLost) {
  asio::io_context io;
  std::shared_ptr<cortex::test::FakeTransport> transport;
  auto conn = cortex::test::connect_fake(io, {}, &transport);
  ASSERT_TRUE(conn);
  transport->held = [](std::uint64_t tag) { return tag % 2 == 1; };  // odd ids stay queued
  std::map<int, std::error_code> outcome;
  for (int i = 0; i < 6; ++i) {  // ids 2..7 (the probe was 1)
    conn->async_call(rpc::ping(), {}, [&outcome, i](std::error_code ec, Value) { outcome[i] = ec; });
  }
  conn->abort();
  io.poll();
  ASSERT_EQ(outcome.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    const bool queued = (i + 2) % 2 == 1;
    EXPECT_EQ(outcome[i], cortex::make_error_code(queued ? Errc::not_connected : Errc::connection_lost)) << "request " << i + 2;
    EXPECT_EQ(cortex::surely_not_sent(outcome[i]), queued);
  }
}
