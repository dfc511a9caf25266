// The only translation unit that includes websocketpp (slow to compile, and not C++20-clean).
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#define _WEBSOCKETPP_CPP11_STL_
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <iterator>
#include <mutex>

#include "cortex/storage/error.hpp"
#include "tls_client.hpp"
#include "transport.hpp"

namespace cortex::storage {
namespace {

using TlsContext = std::shared_ptr<asio::ssl::context>;

template <class Config>
class WsTransport : public Transport, public std::enable_shared_from_this<WsTransport<Config>> {
 public:
  using Client = websocketpp::client<Config>;

  WsTransport(asio::io_context& io, Endpoint endpoint, TransportOptions options)
      : endpoint_(std::move(endpoint)), options_(std::move(options)) {
    client_.clear_access_channels(websocketpp::log::alevel::all);
    client_.clear_error_channels(websocketpp::log::elevel::all);
    client_.init_asio(&io);
    client_.set_max_message_size(options_.max_message_size);
    client_.set_open_handshake_timeout(0);  // RpcConnection enforces its own connect deadline
    client_.set_close_handshake_timeout(2000);
    configure_socket();
  }

  void start(TransportCallbacks cb) override {
    cb_ = std::move(cb);
    websocketpp::lib::error_code ec;
    auto con = client_.get_connection(endpoint_.websocket_url(), ec);
    if (ec) {
      open_once(make_error_code(Errc::connect_failed), ec.message());
      return;
    }
    con->add_subprotocol("cbor");
    auto weak = this->weak_from_this();
    con->set_tcp_post_init_handler([weak](websocketpp::connection_hdl) {
      if (auto self = weak.lock()) self->on_tcp_ready();
    });
    con->set_open_handler([weak](websocketpp::connection_hdl h) {
      if (auto self = weak.lock()) self->on_open(h);
    });
    con->set_fail_handler([weak](websocketpp::connection_hdl h) {
      if (auto self = weak.lock()) self->on_fail(h);
    });
    con->set_close_handler([weak](websocketpp::connection_hdl) {
      if (auto self = weak.lock()) self->on_closed();
    });
    // A server may ping faster than it reads our pongs: websocketpp would queue a pong per ping
    // without limit. Pongs beyond a small rate are skipped (a pong answers any earlier ping too).
    con->set_ping_handler([weak](websocketpp::connection_hdl, std::string) {
      auto self = weak.lock();
      return self && self->pong_allowed();
    });
    con->set_message_handler([weak](websocketpp::connection_hdl, typename Client::message_ptr msg) {
      if (auto self = weak.lock()) {
        if (self->cb_.on_message) self->cb_.on_message(std::move(msg->get_raw_payload()));
      }
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      con_ = con;
    }
    client_.connect(con);
  }

  // Sends are queued here and written by one drain on the connection's strand, where websocketpp
  // runs its own handlers: a send can then never race its terminate() (which writes the state
  // without the lock send() reads it under), whatever thread the caller is on, and a burst of
  // sends from many threads costs one hand-off.
  std::error_code send(std::string&& payload, std::uint64_t tag, Request&&) override {
    typename Client::connection_ptr con;
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      con = con_;
      if (!con || !open_.load() || gave_up_) return make_error_code(Errc::not_connected);
      out_.push_back({tag, std::move(payload)});
      post = !drain_posted_;
      drain_posted_ = true;
    }
    if (post) on_strand(con, [](WsTransport& self, const typename Client::connection_ptr&) { self.drain(); });
    return {};
  }

  std::vector<std::uint64_t> take_unsent() override {
    std::lock_guard<std::mutex> lock(mu_);
    gave_up_ = true;
    std::vector<std::uint64_t> tags;
    for (const auto& o : out_) tags.push_back(o.tag);
    out_.clear();
    return tags;
  }

  void close() override {
    on_strand(connection(), [](WsTransport& self, const typename Client::connection_ptr& con) {
      websocketpp::lib::error_code ec;
      if (self.open_.load()) con->close(websocketpp::close::status::normal, "client closing", ec);
      else con->terminate(ec);
    });
  }

  // The kernel's view of the socket: it sees data of a frame still being received, and how much of
  // a large send the peer has yet to acknowledge, which websocketpp does not expose thread-safely.
  TransportProgress progress() const override {
    TransportProgress p;
    const int fd = fd_.load();
    if (fd < 0) return p;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
      p.since_data_received = std::chrono::milliseconds(info.tcpi_last_data_recv);
    }
    int outq = 0;
    if (::ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0) p.unacked_bytes = static_cast<std::size_t>(outq);
    return p;
  }

  void abort() override {
    fd_.store(-1);
    on_strand(connection(), [](WsTransport&, const typename Client::connection_ptr& con) {
      websocketpp::lib::error_code ec;
      con->terminate(ec);
    });
  }

 private:
  typename Client::connection_ptr connection() {
    std::lock_guard<std::mutex> lock(mu_);
    return con_;
  }

  void configure_socket();  // TLS context (wss) and TCP_NODELAY

  /// The one hand-off to the connection's strand (sends, close, abort): runs fn(*this, con) there,
  /// or at once when the connection has no strand yet (not connected); nothing without one.
  template <class F>
  void on_strand(typename Client::connection_ptr con, F fn) {
    if (!con) return;
    auto strand = con->get_strand();
    if (!strand) return fn(*this, con);
    strand->post([weak = this->weak_from_this(), con, fn] {
      if (auto self = weak.lock()) fn(*self, con);
    });
  }

  /// On the strand: writes what is queued, in order. A frame the socket refuses, and every frame
  /// after it, is reported through take_unsent's path: the owner learns it was never written.
  void drain() {
    std::deque<Out> batch;
    typename Client::connection_ptr con;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(out_);
      drain_posted_ = false;
      con = con_;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      websocketpp::lib::error_code ec;
      if (con) ec = con->send(batch[i].payload, websocketpp::frame::opcode::binary);
      if (!con || ec) {  // closing: put the rest back for take_unsent (at the front, in order)
        std::lock_guard<std::mutex> lock(mu_);
        out_.insert(out_.begin(), std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(i)),
                    std::make_move_iterator(batch.end()));
        return;
      }
    }
  }

  struct Out {
    std::uint64_t tag;
    std::string payload;
  };
  std::deque<Out> out_;       // under mu_
  bool drain_posted_ = false;  // under mu_
  bool gave_up_ = false;       // under mu_: take_unsent() ran, nothing more is written

  // A token bucket: kPongBurst pongs at once, then kPongBurst per second. Read handlers of one
  // connection never run concurrently, so it needs no lock.
  static constexpr double kPongBurst = 16;
  bool pong_allowed() {
    const auto now = std::chrono::steady_clock::now();
    pong_tokens_ = std::min(kPongBurst, pong_tokens_ + std::chrono::duration<double>(now - pong_refill_).count() * kPongBurst);
    pong_refill_ = now;
    if (pong_tokens_ < 1) return false;
    pong_tokens_ -= 1;
    return true;
  }
  double pong_tokens_ = kPongBurst;
  std::chrono::steady_clock::time_point pong_refill_ = std::chrono::steady_clock::now();

  // TCP (and TLS) is up, the upgrade not yet sent: the socket is open now, not at socket init.
  void on_tcp_ready() {
    auto con = connection();
    if (!con) return;
    const int fd = con->get_raw_socket().native_handle();
    const int one = 1;  // small RPC frames must not wait for Nagle's algorithm
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_.store(fd);
  }

  void on_open(websocketpp::connection_hdl) {
    auto con = connection();
    // websocketpp does not record the subprotocol a server chose; read the response header.
    if (!con || con->get_response_header("Sec-WebSocket-Protocol") != "cbor") {
      // The server ignored our only offer: it would speak JSON, which this client does not.
      open_once(make_error_code(Errc::handshake_failed), "server did not accept the `cbor` subprotocol");
      abort();
      return;
    }
    open_.store(true);
    open_once({}, "");
  }

  void on_fail(websocketpp::connection_hdl) {
    auto con = connection();
    std::string why = con ? con->get_ec().message() : "connect failed";
    std::error_code ec = make_error_code(Errc::connect_failed);
    if (con && con->get_response_code() != websocketpp::http::status_code::uninitialized) {
      // The server answered HTTP but refused the upgrade (401 bad credentials, 400, 404…).
      ec = make_error_code(Errc::handshake_failed);
      why = "HTTP " + std::to_string(static_cast<int>(con->get_response_code())) + " " + con->get_response_msg();
      const auto& body = con->get_response().get_body();
      if (!body.empty()) why += ": " + body.substr(0, 200);
    }
    open_once(ec, why);
  }

  void on_closed() {
    fd_.store(-1);
    const bool was_open = open_.exchange(false);
    if (!was_open) {
      open_once(make_error_code(Errc::connect_failed), "closed during connect");
      return;
    }
    std::string why = "closed";
    if (auto con = connection()) {
      if (con->get_remote_close_code() != websocketpp::close::status::blank) {
        why = "closed by server (" + std::to_string(con->get_remote_close_code()) + ")";
      } else if (con->get_ec()) {
        why = con->get_ec().message();
      }
    }
    if (cb_.on_close) cb_.on_close(why);
  }

  void open_once(std::error_code ec, const std::string& why) {
    if (opened_.exchange(true)) return;
    if (cb_.on_open) cb_.on_open(ec, why);
  }

  Endpoint endpoint_;
  TransportOptions options_;
  Client client_;
  TransportCallbacks cb_;
  std::mutex mu_;
  typename Client::connection_ptr con_;
  std::atomic<bool> open_{false};
  std::atomic<bool> opened_{false};
  std::atomic<int> fd_{-1};  // the TCP socket while open, for progress()
};

template <>
void WsTransport<websocketpp::config::asio_client>::configure_socket() {
  // Nothing before the TCP connect: the socket is not open yet (see on_tcp_ready).
}

template <>
void WsTransport<websocketpp::config::asio_tls_client>::configure_socket() {
  client_.set_tls_init_handler(
      [this](websocketpp::connection_hdl) { return detail::make_tls_client_context(options_, endpoint_.host); });
  client_.set_socket_init_handler([this](websocketpp::connection_hdl, asio::ssl::stream<asio::ip::tcp::socket>& s) {
    detail::set_server_name(s, endpoint_.host);
  });
}

}  // namespace

std::shared_ptr<Transport> make_websocket_transport(asio::io_context& io, const Endpoint& endpoint,
                                                    const TransportOptions& options) {
  if (endpoint.is_tls()) {
    return std::make_shared<WsTransport<websocketpp::config::asio_tls_client>>(io, endpoint, options);
  }
  return std::make_shared<WsTransport<websocketpp::config::asio_client>>(io, endpoint, options);
}

}  // namespace cortex::storage
