// Large frames are decoded off the io thread (ConnectOptions::background_decode_bytes): while one
// is being decoded, the io thread's deadlines still fire, and frames that arrive behind it are
// handled after it, in order. The background decoder is held at a gate by its test hook, so no
// timing decides the outcome: were the frame decoded on the io thread, the gate would hold the io
// thread itself and the short deadline could not fire before the gate opens.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <vector>

#include "background_decoder.hpp"
#include "fake_transport.hpp"

using namespace cortex::storage;
using cortex::Errc;

namespace {

std::string reply(std::uint64_t id, const Value& result) { return cortex::test::reply_frame(static_cast<std::int64_t>(id), result); }

struct Gate {  // holds the background decoder until opened
  std::promise<void> reached, open;
  std::shared_future<void> opened = open.get_future().share();
  Gate() {
    detail::set_background_hook_for_testing([this, once = std::make_shared<bool>(false)] {
      if (!*once) {
        *once = true;
        reached.set_value();
      }
      opened.wait();
    });
  }
  ~Gate() { detail::set_background_hook_for_testing(nullptr); }
};

// A connection over the fake transport that decodes frames of 1 KiB or more in the background and
// records the ids of the requests it sends.
class RpcBackgroundDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    ConnectOptions options;
    options.background_decode_bytes = 1024;
    conn = cortex::test::connect_fake(io, options, &transport);
    ASSERT_TRUE(conn);
    transport->held = [this](std::uint64_t tag) {
      ids.push_back(tag);
      return false;
    };
  }
  asio::io_context io;
  std::shared_ptr<cortex::test::FakeTransport> transport;
  std::shared_ptr<RpcConnection> conn;
  std::vector<std::uint64_t> ids;  // request ids, in the order sent
};

}  // namespace

TEST_F(RpcBackgroundDecode, DeadlinesFireAndOrderHoldsWhileALargeFrameDecodes) {
  std::vector<std::string> order;  // which requests ended, in order
  std::optional<std::error_code> large_ec, small_ec, short_ec;
  Value large_value;
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value v) {
    large_ec = ec;
    large_value = std::move(v);
    order.push_back("large");
  });
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value) {
    small_ec = ec;
    order.push_back("small");
  });
  RequestOptions short_deadline;
  short_deadline.timeout = std::chrono::milliseconds(1);
  conn->async_call(rpc::ping(), short_deadline, [&](std::error_code ec, Value) {
    short_ec = ec;
    order.push_back("short");
  });
  ASSERT_EQ(ids.size(), 3u);

  Gate gate;
  const std::string big(4096, 'x');
  transport->deliver(reply(ids[0], Value(big)));  // large: to the background decoder
  transport->deliver(reply(ids[1], Value("s")));  // small: must wait behind it
  auto reached = gate.reached.get_future();
  ASSERT_EQ(reached.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "the large frame was not decoded in the background";
  // The io thread is free: the 1 ms deadline fires while the large frame is held at the gate.
  while (!short_ec) io.run_one();
  EXPECT_EQ(*short_ec, cortex::make_error_code(Errc::timeout));
  EXPECT_FALSE(large_ec);
  EXPECT_FALSE(small_ec) << "a frame overtook the large one ahead of it";

  gate.open.set_value();
  while (!small_ec) io.run_one();
  EXPECT_EQ(order, (std::vector<std::string>{"short", "large", "small"}));
  EXPECT_FALSE(*large_ec);
  EXPECT_EQ(large_value, Value(big));
  EXPECT_FALSE(*small_ec);
}

TEST_F(RpcBackgroundDecode, AnUndecodableLargeFrameFailsOnlyItsRequest) {
  std::optional<std::error_code> bad_ec, good_ec;
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value) { bad_ec = ec; });
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value) { good_ec = ec; });
  ASSERT_EQ(ids.size(), 2u);
  std::string bad = reply(ids[0], Value(std::string(4096, 'x')));
  bad[bad.size() - 1] = '\xff';  // the text's last byte: invalid UTF-8
  transport->deliver(std::move(bad));
  transport->deliver(reply(ids[1], Value(1)));
  while (!good_ec) io.run_one();
  ASSERT_TRUE(bad_ec);
  EXPECT_EQ(*bad_ec, cortex::make_error_code(Errc::decode_error));
  EXPECT_FALSE(*good_ec);
  EXPECT_TRUE(conn->is_open());
}
