// A reply refused by the client's own limits — its decoded form over the decode budget, or its
// frame over max_message_size — fails with reply_too_large: the request reached a server that is
// fine, so no circuit breaker counts it and the shared path does not report its connection lost.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/circuit_breaker.hpp"
#include "fake_transport.hpp"
#include "shared_path.hpp"

using namespace cortex::storage;
using cortex::Errc;
using cortex::make_error_code;

namespace {

const std::error_code kTooLarge = make_error_code(Errc::reply_too_large);

// A transport that answers the version probe, records the ids of the requests written, and can
// close as the WebSocket transport does on a frame over max_message_size.
class OwnLimitTransport : public Transport {
 public:
  explicit OwnLimitTransport(asio::io_context& io) : io_(io) {}
  void start(TransportCallbacks cb) override {
    cb_ = std::move(cb);
    asio::post(io_, [this] { cb_.on_open({}, ""); });
  }
  std::error_code send(std::string&& payload, std::uint64_t tag, Request&&) override {
    if (closed_) return make_error_code(Errc::not_connected);
    if (!probed_) {
      probed_ = true;
      std::string reply = cortex::test::reply_frame(cbor::peek_id(payload).value_or(1), Value("surrealdb-3.0.2"));
      asio::post(io_, [this, reply] { cb_.on_message(std::string(reply)); });
    } else {
      sent.push_back(tag);
    }
    return {};
  }
  void close() override { abort(); }
  void abort() override {
    if (closed_) return;
    closed_ = true;
    asio::post(io_, [this] { cb_.on_close("closed"); });
  }
  /// As WsTransport::on_frame_bytes does when a frame's header says it is over max_message_size.
  void refuse_frame_too_large() {
    closed_ = true;
    if (cb_.on_frame_too_large) cb_.on_frame_too_large();
    cb_.on_close("frame larger than max_message_size");
  }
  void deliver(std::string frame) { cb_.on_message(std::move(frame)); }
  std::vector<std::uint64_t> sent;  // request ids written, in order

 private:
  asio::io_context& io_;
  TransportCallbacks cb_;
  bool probed_ = false, closed_ = false;
};

/// Installs a factory making OwnLimitTransports (the latest in `*latest`) for the test's life.
struct UseOwnLimitTransport {
  explicit UseOwnLimitTransport(std::shared_ptr<OwnLimitTransport>* latest) {
    set_transport_factory_for_testing([latest](asio::io_context& ctx, const Endpoint&, const TransportOptions&) {
      *latest = std::make_shared<OwnLimitTransport>(ctx);
      return *latest;
    });
  }
  ~UseOwnLimitTransport() { set_transport_factory_for_testing(nullptr); }
};

/// Runs the io context's ready handlers until `done()` (bounded: the transport answers at once).
template <class F>
bool poll_until(asio::io_context& io, F done) {
  for (int i = 0; i < 1000 && !done(); ++i) {
    io.poll();
    io.restart();
  }
  return done();
}

std::shared_ptr<RpcConnection> connect(asio::io_context& io, ConnectOptions options) {
  options.keepalive_interval = std::chrono::milliseconds(0);
  std::shared_ptr<RpcConnection> conn;
  RpcConnection::async_connect(io, "ws://fake:1/rpc", options, [&conn](std::error_code ec, std::shared_ptr<RpcConnection> c) {
    if (!ec) conn = std::move(c);
  });
  poll_until(io, [&] { return conn != nullptr; });
  return conn;
}

}  // namespace

TEST(RpcOwnLimits, ReplyTooLargeIsNoEndpointFailureAndMayHaveRun) {
  EXPECT_FALSE(cortex::pool::is_endpoint_failure(kTooLarge));
  EXPECT_FALSE(cortex::surely_not_sent(kTooLarge));  // it reached the server: never replayed as unsent
  EXPECT_FALSE(cortex::is_safe_to_retry(kTooLarge));
}

// Before: decode_error, which the breaker counts as a failure of the endpoint.
TEST(RpcOwnLimits, AReplyOverTheDecodeBudgetFailsItsRequestOnlyAsReplyTooLarge) {
  asio::io_context io;
  std::shared_ptr<OwnLimitTransport> transport;
  UseOwnLimitTransport use(&transport);
  ConnectOptions o;
  o.decode.min_budget = 4096;  // the budget: max(4 KiB, 64 × the frame)
  auto conn = connect(io, o);
  ASSERT_TRUE(conn);
  std::optional<std::error_code> big_ec, small_ec;
  Value big_value;
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value v) {
    big_ec = ec;
    big_value = std::move(v);
  });
  conn->async_call(rpc::ping(), {}, [&](std::error_code ec, Value) { small_ec = ec; });
  ASSERT_EQ(transport->sent.size(), 2u);
  // A thousand 1-byte integers: ~1 KB on the wire, 72 KB of Values (over 64 × 1 KB).
  transport->deliver(cortex::test::reply_frame(static_cast<std::int64_t>(transport->sent[0]), Value(Array(1000, Value(1)))));
  transport->deliver(cortex::test::reply_frame(static_cast<std::int64_t>(transport->sent[1]), Value(1)));
  ASSERT_TRUE(poll_until(io, [&] { return big_ec && small_ec; }));
  EXPECT_EQ(*big_ec, kTooLarge) << big_ec->message();
  ASSERT_TRUE(big_value.is<std::string>());
  EXPECT_NE(big_value.get<std::string>().find("max_amplification"), std::string::npos) << big_value.get<std::string>();
  EXPECT_FALSE(*small_ec);
  EXPECT_TRUE(conn->is_open());
  EXPECT_FALSE(conn->close_code());
}

// Before: connection_lost, which the breaker counts, and the shared path reported the connection
// lost to its endpoint (unhealthy until a call succeeded).
TEST(RpcOwnLimits, AFrameOverMaxMessageSizeClosesTheConnectionAsReplyTooLarge) {
  asio::io_context io;
  std::shared_ptr<OwnLimitTransport> transport;
  UseOwnLimitTransport use(&transport);
  auto conn = connect(io, {});
  ASSERT_TRUE(conn);
  std::optional<std::error_code> ec;
  conn->async_call(rpc::ping(), {}, [&](std::error_code e, Value) { ec = e; });
  ASSERT_EQ(transport->sent.size(), 1u);
  transport->refuse_frame_too_large();
  ASSERT_TRUE(poll_until(io, [&] { return ec.has_value(); }));
  EXPECT_EQ(*ec, kTooLarge) << ec->message();
  EXPECT_FALSE(conn->is_open());
  EXPECT_EQ(conn->close_code(), kTooLarge);
}

TEST(RpcOwnLimits, TheSharedPathDoesNotReportAConnectionClosedByItsOwnLimitAsLost) {
  asio::io_context io;
  std::shared_ptr<OwnLimitTransport> transport;
  UseOwnLimitTransport use(&transport);
  cortex::pool::SharedPathParams p;
  p.url = "ws://fake:1/rpc";
  p.connections = 1;
  p.connect.keepalive_interval = std::chrono::milliseconds(0);
  p.metrics = std::make_shared<cortex::metrics::PoolMetrics>();
  int lost = 0;
  p.on_connection_lost = [&lost](const std::string&) { ++lost; };
  auto path = cortex::pool::SharedPath::create(io, p);
  std::optional<std::error_code> ec;
  path->async_call(rpc::ping(), {}, [&](std::error_code e, Value) { ec = e; });
  ASSERT_TRUE(poll_until(io, [&] { return transport && transport->sent.size() == 1; }));  // opened, set up, sent
  transport->refuse_frame_too_large();
  ASSERT_TRUE(poll_until(io, [&] { return ec.has_value(); }));
  EXPECT_EQ(*ec, kTooLarge) << ec->message();
  io.poll();
  EXPECT_EQ(lost, 0);
  // A connection the server drops is still reported (the next call opens a new one).
  const auto first = transport;
  std::optional<std::error_code> second;
  path->async_call(rpc::ping(), {}, [&](std::error_code e, Value) { second = e; });
  ASSERT_TRUE(poll_until(io, [&] { return transport != first && transport->sent.size() == 1; }));
  transport->abort();  // as a socket the server closed
  ASSERT_TRUE(poll_until(io, [&] { return second.has_value(); }));
  EXPECT_EQ(*second, make_error_code(Errc::connection_lost));
  EXPECT_EQ(lost, 1);
  path->close();
  io.poll();
}
