#pragma once
// The byte pipe under RpcConnection: one WebSocket (ws:// or wss://) speaking the `cbor`
// subprotocol, or HTTP RPC (http://, https://: http_transport.cpp). An interface so the RPC logic never sees websocketpp (confined to ws_transport.cpp)
// and can be driven by a fake in tests.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cortex/storage/rpc.hpp"
#include "cortex/storage/url.hpp"

namespace asio {
class io_context;
}

namespace cortex::storage {

struct TransportOptions {
  std::size_t max_message_size = 128u * 1024u * 1024u;
  bool verify_peer = true;
  std::string ca_file;  ///< PEM bundle to trust instead of the system store ("" = system store)
};

struct TransportCallbacks {
  /// Once: the upgrade finished (ec empty) or failed (connect_failed / handshake_failed).
  std::function<void(std::error_code, const std::string& reason)> on_open;
  /// Each binary or text frame, in arrival order.
  std::function<void(std::string&& payload)> on_message;
  /// Once, after a successful open: the socket closed for any reason.
  std::function<void(const std::string& reason)> on_close;
  /// Before on_close, when the transport closes because a frame from the server exceeded
  /// TransportOptions::max_message_size: this client's own limit, not a fault of the server. May
  /// be empty (then the close reads as any other).
  std::function<void()> on_frame_too_large;
};

/// What the socket shows of life below whole frames (for keepalive; see KeepaliveMonitor).
struct TransportProgress {
  /// Time since the last data arrived on the socket, partial frames included; empty = unknown.
  std::optional<std::chrono::milliseconds> since_data_received;
  /// Bytes of ours written to the socket and not yet acknowledged by the peer.
  std::size_t unacked_bytes = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  /// Starts connecting. Callbacks run on the io_context's threads.
  virtual void start(TransportCallbacks callbacks) = 0;
  /// Queues one binary frame, thread-safe; it is written from the connection's own strand (so that
  /// no socket operation ever races another). An error means it was surely not written. `tag`
  /// names the frame for take_unsent(). `request` is what `payload` encodes, handed over for a
  /// transport that must read it (HTTP keeps the session client-side); others ignore it.
  virtual std::error_code send(std::string&& payload, std::uint64_t tag, Request&& request) = 0;
  /// The tags of frames queued and not yet handed to the socket, which will now never be: the
  /// owner calls it when it gives up on the connection, to tell never-sent requests apart.
  virtual std::vector<std::uint64_t> take_unsent() { return {}; }
  /// Thread-safe. The owner stopped waiting for request `tag` (its deadline passed): a transport
  /// that holds something for that request alone (HTTP: a socket, or a place in its queue) frees
  /// it now, so that a server that never answers cannot keep it; a reply that comes later is never
  /// delivered. A WebSocket, whose requests share one socket, ignores it.
  virtual void abandon(std::uint64_t tag) { (void)tag; }
  /// Closes gracefully (close frame) if open; cancels a connect in progress.
  virtual void close() = 0;
  /// Drops the socket at once (no close handshake): used for dead peers.
  virtual void abort() = 0;
  /// Thread-safe; a transport that cannot tell returns the defaults.
  virtual TransportProgress progress() const { return {}; }
  /// Why this transport cannot carry request `r` (sent in a session or transaction when
  /// `session_or_txn`), or nullptr when it can: RpcConnection then fails it before sending with
  /// unsupported_by_server.
  virtual const char* refusal(const Request& r, bool session_or_txn) const {
    (void)r;
    (void)session_or_txn;
    return nullptr;
  }
};

std::shared_ptr<Transport> make_websocket_transport(asio::io_context& io, const Endpoint& endpoint,
                                                    const TransportOptions& options);
/// HTTP RPC (http://, https://): POST /rpc per request, the session kept client-side.
std::shared_ptr<Transport> make_http_transport(asio::io_context& io, const Endpoint& endpoint, const TransportOptions& options);

/// The transport RpcConnection opens: the WebSocket one, unless a test or fuzzer installed a fake
/// with set_transport_factory_for_testing (nullptr restores the real one). Not for production.
using TransportFactory =
    std::function<std::shared_ptr<Transport>(asio::io_context&, const Endpoint&, const TransportOptions&)>;
void set_transport_factory_for_testing(TransportFactory factory);
std::shared_ptr<Transport> make_transport(asio::io_context& io, const Endpoint& endpoint, const TransportOptions& options);

}  // namespace cortex::storage
