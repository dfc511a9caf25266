#include "stream_socket.hpp"

#include <asio/bind_executor.hpp>
#include <asio/connect.hpp>

#include "tls_client.hpp"

namespace cortex::storage::detail {

void async_open(const std::shared_ptr<StreamSocket>& s, const Endpoint& endpoint, const Strand& strand, Opened done) {
  using tcp = asio::ip::tcp;
  auto resolver = std::make_shared<tcp::resolver>(strand);
  resolver->async_resolve(
      endpoint.host, std::to_string(endpoint.port),
      asio::bind_executor(strand, [s, resolver, strand, host = endpoint.host, done = std::move(done)](
                                      std::error_code ec, const tcp::resolver::results_type& r) mutable {
        if (ec) return done(ec, "resolve: " + ec.message());
        asio::async_connect(s->lowest(), r, asio::bind_executor(strand, [s, strand, host, done = std::move(done)](
                                                                             std::error_code cec, const tcp::endpoint&) {
          if (cec) return done(cec, cec.message());
          std::error_code ignored;
          s->lowest().set_option(tcp::no_delay(true), ignored);
          if (!s->tls) return done({}, "");
          set_server_name(*s->tls, host);
          s->tls->async_handshake(asio::ssl::stream_base::client, asio::bind_executor(strand, [done](std::error_code hec) {
                                    if (hec) return done(hec, "TLS handshake: " + hec.message());
                                    done({}, "");
                                  }));
        }));
      }));
}

}  // namespace cortex::storage::detail
