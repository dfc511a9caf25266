// MetricsServer: accept → read one request head (bounded, with a deadline) → answer → close.
// Every handler (accept, read, write, the deadline's timer, stop) runs on one strand: a manager may
// run several io threads, and the socket set, the count and the sockets themselves (which a timer
// closes while a read uses them) are then touched from all of them.
#include <mutex>
#include <set>
#include <string>

#include <asio/bind_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/pool/metrics_server.hpp"
#include "cortex/storage/error.hpp"

namespace cortex::pool {

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
  State(asio::io_context& io, ConnectionManager& m, MetricsServerOptions o)
      : strand(asio::make_strand(io)), acceptor(strand), manager(&m), options(std::move(o)) {}

  // Everything below but `mu`, `manager` and `port` is touched only on this strand; the acceptor
  // and every socket and timer are made on it too, so no handler can slip off it.
  asio::strand<asio::io_context::executor_type> strand;
  asio::ip::tcp::acceptor acceptor;
  std::uint16_t port = 0;
  // Held while a request reads the manager; close() takes it to clear `manager`, so once it
  // returns no request can touch the manager.
  std::mutex mu;
  ConnectionManager* manager;
  MetricsServerOptions options;
  std::size_t open = 0;  // connections being served
  std::set<std::shared_ptr<asio::ip::tcp::socket>> sockets;

  struct Reply {
    int status;
    const char* reason;
    const char* content_type;
    std::string body;
  };

  Reply answer(const std::string& method, const std::string& target) {
    const auto path = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD") return {405, "Method Not Allowed", "text/plain", "GET or HEAD only\n"};
    std::lock_guard<std::mutex> lock(mu);
    if (!manager) return {503, "Service Unavailable", "text/plain", "closed\n"};
    if (path == "/metrics") {
      return {200, "OK", "text/plain; version=0.0.4; charset=utf-8", manager->metrics().snapshot().to_prometheus(options.prometheus)};
    }
    if (path == "/health") {
      const auto h = manager->health_status();
      return {h.healthy ? 200 : 503, h.healthy ? "OK" : "Service Unavailable", "application/json", h.to_json() + "\n"};
    }
    return {404, "Not Found", "text/plain", "try /metrics or /health\n"};
  }

  void accept() {
    acceptor.async_accept(asio::bind_executor(strand, [self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket s) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) {
        if (self->open >= self->options.max_connections) {
          std::error_code ignored;
          s.close(ignored);  // over the cap: the scraper retries later
        } else {
          self->serve(std::make_shared<asio::ip::tcp::socket>(std::move(s)));
        }
      }
      self->accept();  // a failed accept (e.g. out of descriptors) does not stop the server
    }));
  }

  void serve(std::shared_ptr<asio::ip::tcp::socket> sock) {
    ++open;
    sockets.insert(sock);
    auto buf = std::make_shared<asio::streambuf>(8192);  // the request head may not be longer
    auto timer = std::make_shared<asio::steady_timer>(strand, options.request_timeout);
    timer->async_wait(asio::bind_executor(strand, [sock](std::error_code ec) {
      if (ec) return;  // done in time
      std::error_code ignored;
      sock->close(ignored);  // too slow: whatever is pending fails and ends the exchange
    }));
    asio::async_read_until(*sock, *buf, "\r\n\r\n", asio::bind_executor(strand, [self = shared_from_this(), sock, buf, timer](std::error_code ec, std::size_t) {
      if (ec) return self->finish(sock, timer);
      std::istream in(buf.get());
      std::string method, target;
      in >> method >> target;
      auto reply = std::make_shared<std::string>();
      try {
        const auto r = self->answer(method, target);
        *reply = "HTTP/1.1 " + std::to_string(r.status) + " " + r.reason + "\r\nContent-Type: " + r.content_type +
                 "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n";
        if (method != "HEAD") *reply += r.body;
      } catch (const std::exception&) {  // a failure to render must not take the io thread down
        *reply = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      }
      asio::async_write(*sock, asio::buffer(*reply), asio::bind_executor(self->strand, [self, sock, reply, timer](std::error_code, std::size_t) {
        std::error_code ignored;
        sock->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        self->finish(sock, timer);
      }));
    }));
  }

  void finish(const std::shared_ptr<asio::ip::tcp::socket>& sock, const std::shared_ptr<asio::steady_timer>& timer) {
    timer->cancel();
    std::error_code ignored;
    sock->close(ignored);
    if (sockets.erase(sock)) --open;
  }

  void stop() {
    std::error_code ignored;
    acceptor.close(ignored);
    for (const auto& s : sockets) s->close(ignored);
  }
};

MetricsServer::MetricsServer(ConnectionManager& manager, MetricsServerOptions options) {
  std::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) throw Error(Errc::invalid_argument, "MetricsServer: '" + options.address + "' is not an IP address");
  const asio::ip::tcp::endpoint where(address, options.port);
  const std::string at = options.address + ":" + std::to_string(options.port);
  state_ = std::make_shared<State>(manager.io_context(), manager, std::move(options));
  auto& a = state_->acceptor;
  a.open(where.protocol(), ec);
  if (!ec) a.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(where, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Error(Errc::server_start_failed, "MetricsServer: cannot listen on " + at + ": " + ec.message());
  state_->port = a.local_endpoint().port();
  // From here on only the strand touches the acceptor.
  asio::post(state_->strand, [s = state_] { s->accept(); });
}

MetricsServer::~MetricsServer() { close(); }

std::uint16_t MetricsServer::port() const noexcept { return state_->port; }

void MetricsServer::close() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->manager) return;
    state_->manager = nullptr;
  }
  asio::post(state_->strand, [s = state_] { s->stop(); });
}

}  // namespace cortex::pool
