#include "tls_client.hpp"

namespace cortex::storage::detail {

std::shared_ptr<asio::ssl::context> make_tls_client_context(const TransportOptions& options, const std::string& host) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (options.verify_peer) {
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (options.ca_file.empty()) ctx->set_default_verify_paths();
    else ctx->load_verify_file(options.ca_file);
    ctx->set_verify_callback(asio::ssl::host_name_verification(host));
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

void set_server_name(asio::ssl::stream<asio::ip::tcp::socket>& stream, const std::string& host) {
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
}

}  // namespace cortex::storage::detail
