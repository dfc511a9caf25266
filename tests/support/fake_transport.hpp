#pragma once
// FakeTransport: an RpcConnection transport with no socket (installed through
// set_transport_factory_for_testing), for unit tests and fuzzers of the RPC logic. It opens at
// once, answers the version probe as SurrealDB 3.0.2, lets the test deliver any frame, and keeps
// the frames `held` picks as "queued, never written" for take_unsent(). Single-threaded: drive
// its io_context with poll().
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_connection.hpp"
#include "transport.hpp"

namespace cortex::test {

/// {id, result}: a server's reply frame.
inline std::string reply_frame(std::int64_t id, const storage::Value& result) {
  std::string out;
  storage::cbor::write_head(out, 5, 2);
  storage::cbor::write_text(out, "id");
  storage::cbor::write_int(out, id);
  storage::cbor::write_text(out, "result");
  storage::cbor::encode(result, out);
  return out;
}

class FakeTransport : public storage::Transport {
 public:
  explicit FakeTransport(asio::io_context& io, std::string version = "surrealdb-3.0.2")
      : io_(io), version_(std::move(version)) {}
  /// Which frames (by tag) stay queued instead of being written; none by default.
  std::function<bool(std::uint64_t tag)> held;

  void start(storage::TransportCallbacks cb) override {
    cb_ = std::move(cb);
    asio::post(io_, [this] { cb_.on_open({}, ""); });
  }
  std::error_code send(std::string&& payload, std::uint64_t tag, cortex::storage::Request&&) override {
    if (closed_) return make_error_code(Errc::not_connected);
    if (!probed_) {  // the version probe: answered, so that the connection opens
      probed_ = true;
      std::string reply = reply_frame(storage::cbor::peek_id(payload).value_or(1), storage::Value(version_));
      asio::post(io_, [this, reply] { cb_.on_message(std::string(reply)); });
    } else if (held && held(tag)) {
      queued_.push_back(tag);
    }
    return {};
  }
  std::vector<std::uint64_t> take_unsent() override { return std::move(queued_); }
  void close() override { abort(); }
  void abort() override {
    if (closed_) return;
    closed_ = true;
    asio::post(io_, [this] { cb_.on_close("closed"); });
  }
  /// A frame from the "server", delivered now (on the caller's thread: call it from the io loop's).
  void deliver(std::string frame) { cb_.on_message(std::move(frame)); }

 private:
  asio::io_context& io_;
  std::string version_;
  storage::TransportCallbacks cb_;
  bool probed_ = false, closed_ = false;
  std::vector<std::uint64_t> queued_;
};

/// Connects an RpcConnection over a FakeTransport on `io` (polling it until open); the transport
/// is left in `*transport`. nullptr if it did not open.
inline std::shared_ptr<storage::RpcConnection> connect_fake(asio::io_context& io, storage::ConnectOptions options,
                                                            std::shared_ptr<FakeTransport>* transport,
                                                            const std::string& version = "surrealdb-3.0.2") {
  storage::set_transport_factory_for_testing([transport, version](asio::io_context& ctx, const storage::Endpoint&,
                                                                  const storage::TransportOptions&) {
    *transport = std::make_shared<FakeTransport>(ctx, version);
    return *transport;
  });
  options.keepalive_interval = std::chrono::milliseconds(0);
  std::shared_ptr<storage::RpcConnection> conn;
  storage::RpcConnection::async_connect(io, "ws://fake:1/rpc", options,
                                        [&conn](std::error_code ec, std::shared_ptr<storage::RpcConnection> c) {
                                          if (!ec) conn = std::move(c);
                                        });
  for (int i = 0; i < 100 && !conn; ++i) {  // the fake answers at once: ready handlers only
    io.poll();
    io.restart();
  }
  storage::set_transport_factory_for_testing(nullptr);
  return conn;
}

}  // namespace cortex::test
