#pragma once
// The one TLS client set-up of wss:// and https://: TLS 1.2 or later, the peer verified against the
// system store or TransportOptions::ca_file with its host name checked (unless verify_peer is
// off), and SNI set on each stream.
#include <memory>
#include <string>

#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>

#include "transport.hpp"

namespace cortex::storage::detail {

std::shared_ptr<asio::ssl::context> make_tls_client_context(const TransportOptions& options, const std::string& host);

/// Names `host` in the ClientHello (SNI), before the handshake.
void set_server_name(asio::ssl::stream<asio::ip::tcp::socket>& stream, const std::string& host);

}  // namespace cortex::storage::detail
