#pragma once
// The one way a transport opens a byte stream to a remote endpoint: resolve, TCP connect with
// TCP_NODELAY (small RPC frames must not wait for Nagle), and for wss:// and https:// a TLS
// handshake (tls_client.hpp's context, SNI set). Used by the WebSocket and HTTP transports.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/strand.hpp>

#include "cortex/storage/url.hpp"

namespace cortex::storage::detail {

using Strand = asio::strand<asio::io_context::executor_type>;

/// A TCP socket, or a TLS stream over one. Not thread-safe: used on its owner's strand.
struct StreamSocket {
  StreamSocket(asio::io_context& io, asio::ssl::context* tls_ctx) {
    if (tls_ctx) tls = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io, *tls_ctx);
    else plain.emplace(io);
  }
  asio::ip::tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
  /// Runs f(stream) on the stream to read and write: the TLS stream, or the plain socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls) f(*tls);
    else f(*plain);
  }
  std::optional<asio::ip::tcp::socket> plain;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls;
};

/// `done(ec, why)` runs on `strand` once: connected (and handshaken) when ec is empty; `why` says
/// which step failed. Closing s->lowest() cancels it (done then gets operation_aborted).
using Opened = std::function<void(std::error_code, const std::string& why)>;
void async_open(const std::shared_ptr<StreamSocket>& s, const Endpoint& endpoint, const Strand& strand, Opened done);

}  // namespace cortex::storage::detail
