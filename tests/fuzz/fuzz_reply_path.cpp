// libFuzzer: the reply path of RpcConnection through a fake transport (no socket). The input is a
// sequence of frames (2-byte big-endian length, then the bytes) that the "server" sends after the
// version probe, while four requests (ids 2-5) are pending. Whatever arrives: no crash, nothing
// thrown out of the io loop, every request's handler runs exactly once (after the close at the
// latest), and memory stays within the decode budget (ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_connection.hpp"
#include "transport.hpp"

using namespace cortex::storage;

namespace {

class FakeTransport : public Transport {
 public:
  explicit FakeTransport(asio::io_context& io) : io_(io) {}
  void start(TransportCallbacks cb) override {
    cb_ = std::move(cb);
    asio::post(io_, [this] { cb_.on_open({}, ""); });
  }
  std::error_code send(std::string&& payload, std::uint64_t) override {
    if (closed_) return cortex::make_error_code(cortex::Errc::not_connected);
    // Answer the version probe (the first request) so that the connection opens.
    if (!probed_) {
      probed_ = true;
      std::string reply;
      cbor::write_head(reply, 5, 2);
      cbor::write_text(reply, "id");
      cbor::write_int(reply, cbor::peek_id(payload).value_or(1));
      cbor::write_text(reply, "result");
      cbor::write_text(reply, "surrealdb-3.0.2");
      asio::post(io_, [this, reply] { cb_.on_message(std::string(reply)); });
    }
    return {};
  }
  void close() override { abort(); }
  void abort() override {
    if (closed_) return;
    closed_ = true;
    asio::post(io_, [this] { cb_.on_close("closed"); });
  }
  void deliver(std::string frame) { cb_.on_message(std::move(frame)); }

 private:
  asio::io_context& io_;
  TransportCallbacks cb_;
  bool probed_ = false, closed_ = false;
};

FakeTransport* current = nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool installed = [] {
    set_transport_factory_for_testing([](asio::io_context& io, const Endpoint&, const TransportOptions&) {
      auto t = std::make_shared<FakeTransport>(io);
      current = t.get();
      return t;
    });
    return true;
  }();
  (void)installed;
  asio::io_context io;
  ConnectOptions o;
  o.keepalive_interval = std::chrono::milliseconds(0);
  o.decode.min_budget = std::size_t{8} << 20;
  std::shared_ptr<RpcConnection> conn;
  RpcConnection::async_connect(io, "ws://fuzz:1/rpc", o, [&](std::error_code ec, std::shared_ptr<RpcConnection> c) {
    if (!ec) conn = std::move(c);
  });
  for (int i = 0; i < 100 && !conn; ++i) {  // the fake answers at once: ready handlers only, no waiting
    io.poll();
    io.restart();
  }
  if (!conn) std::abort();  // the fake always opens
  int calls[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    conn->async_call(rpc::ping(), {}, [&calls, i](std::error_code, Value) { ++calls[i]; });
  }
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t n = (static_cast<std::size_t>(data[at]) << 8) | data[at + 1];
    at += 2;
    const std::size_t take = std::min(n, size - at);
    current->deliver(std::string(reinterpret_cast<const char*>(data + at), take));
    at += take;
    io.poll();
    io.restart();
  }
  conn->close();
  io.poll();
  for (int c : calls) {
    if (c != 1) std::abort();  // a handler ran twice, or never
  }
  return 0;
}
