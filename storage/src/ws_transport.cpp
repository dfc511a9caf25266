// The WebSocket transport (ws://, wss://): our own Asio stream (stream_socket.hpp), with
// websocketpp's sans-I/O parts doing the protocol — its HTTP parser and hybi13 processor for the
// upgrade and for reading frames, its frame helpers for writing them. Owning the socket is what
// makes a round trip cheap: every frame of a read is handled in that one turn, the frames sent
// meanwhile go out in one write at its end, and a write never waits for a hand-off to another
// handler (websocketpp's own transport posts a handler per frame read and per write). The only
// translation unit that includes websocketpp (slow to compile, and not C++20-clean).
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#define _WEBSOCKETPP_CPP11_STL_
#include <websocketpp/close.hpp>
#include <websocketpp/config/core_client.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/uri.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>

#include <asio/bind_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "cortex/storage/error.hpp"
#include "stream_socket.hpp"
#include "tls_client.hpp"
#include "transport.hpp"

namespace cortex::storage {
namespace {

using Config = websocketpp::config::core_client;
using Processor = websocketpp::processor::hybi13<Config>;
namespace frame = websocketpp::frame;

constexpr std::size_t kReadBuffer = 16 * 1024;
constexpr auto kCloseHandshake = std::chrono::seconds(2);
constexpr std::size_t kMaxErrorBody = 200;

// The transport whose frames the current thread is handling (in on_read): a send made from a
// handler then joins the one write at the end of that turn instead of posting one of its own.
thread_local const void* tl_reading = nullptr;

class WsTransport : public Transport, public std::enable_shared_from_this<WsTransport> {
 public:
  WsTransport(asio::io_context& io, Endpoint endpoint, TransportOptions options)
      : io_(io), strand_(asio::make_strand(io)), endpoint_(std::move(endpoint)), options_(std::move(options)),
        processor_(endpoint_.is_tls(), /*server=*/false, std::make_shared<Config::con_msg_manager_type>(), rng_),
        close_timer_(io) {
    processor_.set_max_message_size(options_.max_message_size);
  }

  void start(TransportCallbacks cb) override {
    cb_ = std::move(cb);
    asio::post(strand_, [self = shared_from_this()] { self->open(); });
  }

  // Queued (framed and masked into the output buffer at once) and written by the one write in
  // progress, or by the write at the end of the current read turn, or by one posted here.
  std::error_code send(std::string&& payload, std::uint64_t tag, Request&&) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!open_ || gave_up_) return make_error_code(Errc::not_connected);
      append_frame(frame::opcode::binary, payload);
      out_tags_.push_back(tag);
      if (write_busy_) return {};
      write_busy_ = true;
    }
    schedule_flush();
    return {};
  }

  std::vector<std::uint64_t> take_unsent() override {
    std::lock_guard<std::mutex> lock(mu_);
    gave_up_ = true;
    out_.clear();
    return std::move(out_tags_);
  }

  void close() override {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->state_ != State::open) return self->terminate("closed by the client");
      self->send_close(websocketpp::close::status::normal, "client closing", "closed by the client");
    });
  }

  void abort() override {
    fd_.store(-1);
    asio::post(strand_, [self = shared_from_this()] { self->terminate("aborted by the client"); });
  }

  // The kernel's view of the socket: it sees data of a frame still being received, and how much of
  // a large send the peer has yet to acknowledge.
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

 private:
  enum class State { connecting, upgrading, open, closing, closed };

  // -- opening (on the strand) -----------------------------------------------------------------

  void open() {
    if (state_ != State::connecting) return;
    if (endpoint_.is_tls()) tls_ = detail::make_tls_client_context(options_, endpoint_.host);
    socket_ = std::make_shared<detail::StreamSocket>(io_, tls_.get());
    detail::async_open(socket_, endpoint_, strand_, [self = shared_from_this()](std::error_code ec, const std::string& why) {
      if (self->state_ != State::connecting) {  // aborted meanwhile: a connect that completed anyway is closed
        std::error_code ignored;
        self->socket_->lowest().close(ignored);
        return;
      }
      if (ec) return self->fail_open(Errc::connect_failed, why);
      std::error_code ignored;
      self->socket_->lowest().non_blocking(true, ignored);  // flush() writes without blocking
      self->fd_.store(self->socket_->lowest().native_handle());
      self->upgrade();
    });
  }

  void upgrade() {
    state_ = State::upgrading;
    try {
      auto uri = std::make_shared<websocketpp::uri>(endpoint_.websocket_url());
      if (auto ec = processor_.client_handshake_request(request_, uri, {"cbor"})) return fail_open(Errc::connect_failed, ec.message());
      request_.replace_header("User-Agent", "cortex-storage");
    } catch (const std::exception& e) {
      return fail_open(Errc::connect_failed, std::string("bad upgrade request: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      out_ = request_.raw();
      write_busy_ = true;
    }
    flush();
    read();
  }

  // Bytes of the server's answer to the upgrade; what follows it are the first frames.
  void on_upgrade_bytes(const char* data, std::size_t n) {
    std::size_t used = 0;
    try {
      used = response_.consume(data, n);
    } catch (const std::exception& e) {
      return fail_open(Errc::handshake_failed, std::string("malformed upgrade response: ") + e.what());
    }
    if (!response_.headers_ready()) return;
    if (response_.get_status_code() != websocketpp::http::status_code::switching_protocols) {
      // The status says enough; the body is only read for the error's excerpt, and no further:
      // websocketpp's response parser would keep whatever Content-Length the server claims.
      if (response_.ready() || response_.get_body().size() >= kMaxErrorBody) refused_upgrade();
      return;
    }
    if (auto ec = processor_.validate_server_handshake_response(request_, response_)) {
      return fail_open(Errc::handshake_failed, "invalid upgrade response: " + ec.message());
    }
    if (response_.get_header("Sec-WebSocket-Protocol") != "cbor") {
      // The server ignored our only offer: it would speak JSON, which this client does not.
      return fail_open(Errc::handshake_failed, "server did not accept the `cbor` subprotocol");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    state_ = State::open;
    opened_ = true;
    if (cb_.on_open) cb_.on_open({}, "");
    if (n > used && state_ == State::open) on_frame_bytes(data + used, n - used);
  }

  // The server answered HTTP but refused the upgrade (401 bad credentials, 400, 404…): said with
  // its status and the start of its body.
  void refused_upgrade() {
    std::string why = "HTTP " + std::to_string(static_cast<int>(response_.get_status_code())) + " " + response_.get_status_msg();
    const std::string& body = response_.get_body();
    if (!body.empty()) why += ": " + body.substr(0, kMaxErrorBody);
    fail_open(Errc::handshake_failed, why);
  }

  void fail_open(Errc code, const std::string& why) {
    if (state_ == State::closed) return;
    close_socket();
    if (cb_.on_open) cb_.on_open(make_error_code(code), why);
  }

  // -- reading (on the strand) -----------------------------------------------------------------

  void read() {
    socket_->with_stream([&](auto& stream) {
      stream.async_read_some(asio::buffer(rbuf_), asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec, std::size_t n) {
                               self->on_read(ec, n);
                             }));
    });
  }

  void on_read(std::error_code ec, std::size_t n) {
    if (state_ == State::closed) return;
    if (ec) {
      if (state_ == State::upgrading && response_.headers_ready()) return refused_upgrade();  // its body ended with the socket
      if (state_ == State::connecting || state_ == State::upgrading) return fail_open(Errc::connect_failed, "closed during connect: " + ec.message());
      if (state_ == State::closing) return terminate(closing_reason_);
      return terminate(ec == asio::error::eof ? std::string("closed by server (no close frame)") : ec.message());
    }
    tl_reading = this;
    if (state_ == State::upgrading) on_upgrade_bytes(rbuf_.data(), n);
    else on_frame_bytes(rbuf_.data(), n);
    tl_reading = nullptr;
    if (flush_after_read_) {
      flush_after_read_ = false;
      flush();
    }
    if (state_ != State::closed) read();
  }

  void on_frame_bytes(const char* data, std::size_t n) {
    auto* p = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data));
    std::size_t used = 0;
    // After a protocol error the processor's state is undefined: nothing more is parsed (the
    // socket closes as soon as our close frame is out).
    while (used < n && !broken_ && (state_ == State::open || state_ == State::closing)) {
      websocketpp::lib::error_code ec;
      const std::size_t step = processor_.consume(p + used, n - used, ec);
      used += step;
      if (ec || processor_.get_error()) {
        const bool too_big = ec == websocketpp::processor::error::make_error_code(websocketpp::processor::error::message_too_big);
        const auto code = too_big ? websocketpp::close::status::message_too_big : websocketpp::close::status::protocol_error;
        const std::string why = (too_big ? "frame larger than max_message_size" : "protocol error: " + ec.message());
        if (too_big && cb_.on_frame_too_large) cb_.on_frame_too_large();
        broken_ = true;
        close_after_write_ = true;
        return send_close(code, too_big ? "message too big" : "protocol error", why);
      }
      if (processor_.ready()) on_frame(processor_.get_message());
      else if (step == 0) return;  // (cannot happen: consume takes bytes until a frame is ready)
    }
  }

  void on_frame(const Config::message_type::ptr& msg) {
    if (!msg) return;
    switch (msg->get_opcode()) {
      case frame::opcode::text:
      case frame::opcode::binary:
        if (state_ == State::open && cb_.on_message) cb_.on_message(std::move(msg->get_raw_payload()));
        return;
      case frame::opcode::ping:
        if (state_ == State::open && pong_allowed()) queue_control(frame::opcode::pong, msg->get_payload());
        return;
      case frame::opcode::close: {
        if (state_ == State::closing) return terminate(closing_reason_);  // the answer to ours
        websocketpp::lib::error_code ignored;
        const auto code = websocketpp::close::extract_code(msg->get_payload(), ignored);
        std::string why = "closed by server";
        if (code != websocketpp::close::status::no_status) why += " (" + std::to_string(code) + ")";
        // Echoed as RFC 6455 asks; the socket closes once the echo is written.
        close_after_write_ = true;
        return send_close(code == websocketpp::close::status::no_status ? websocketpp::close::status::normal : code, "", why);
      }
      default:
        return;
    }
  }

  // A token bucket: kPongBurst pongs at once, then kPongBurst per second. A server may ping faster
  // than it reads our pongs; pongs beyond the rate are skipped (a pong answers any earlier ping too).
  static constexpr double kPongBurst = 16;
  bool pong_allowed() {
    const auto now = std::chrono::steady_clock::now();
    pong_tokens_ = std::min(kPongBurst, pong_tokens_ + std::chrono::duration<double>(now - pong_refill_).count() * kPongBurst);
    pong_refill_ = now;
    if (pong_tokens_ < 1) return false;
    pong_tokens_ -= 1;
    return true;
  }

  // -- writing ---------------------------------------------------------------------------------

  // Under mu_: one masked frame at the end of out_.
  void append_frame(frame::opcode::value op, const std::string& payload) {
    frame::masking_key_type key;
    key.i = rng_();
    const frame::basic_header head(op, payload.size(), /*fin=*/true, /*masked=*/true);
    const frame::extended_header ext(payload.size(), key.i);
    out_ += frame::prepare_header(head, ext);
    const std::size_t at = out_.size();
    out_ += payload;
    mask(&out_[at], payload.size(), key);
  }

  // RFC 6455 masking (byte i ^= key[i % 4]), eight bytes at a time: websocketpp's byte_mask goes
  // byte by byte, which was ~300 instructions of a typical request's frame, and its
  // word_mask_exact reads the payload through a size_t* at whatever offset the frame starts in
  // out_ (a misaligned access, undefined behaviour); memcpy words are safe at any offset.
  static void mask(char* p, std::size_t n, const frame::masking_key_type& key) {
    std::uint64_t k8 = 0;
    std::memcpy(&k8, key.c, 4);
    std::memcpy(reinterpret_cast<char*>(&k8) + 4, key.c, 4);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= k8;
      std::memcpy(p + i, &w, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key.c[i % 4]);
  }

  // On the strand: a control frame, written with whatever is queued.
  void queue_control(frame::opcode::value op, const std::string& payload) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      append_frame(op, payload.substr(0, 125));
      if (write_busy_) return;
      write_busy_ = true;
    }
    schedule_flush();
  }

  // write_busy_ was just set by this caller: the write at the end of the read turn this thread is
  // in takes the frames, or a flush is posted.
  void schedule_flush() {
    if (tl_reading == this) {
      flush_after_read_ = true;
      return;
    }
    asio::post(strand_, [self = shared_from_this()] { self->flush(); });
  }

  // On the strand, with write_busy_ set: writes what is queued, then again while more came. Over
  // plain TCP the bytes go straight to the (non-blocking) socket, which takes a batch of RPC frames
  // whole: no completion handler and no reactor turn per write; what it does not take, and every
  // TLS write, goes through async_write.
  void flush() {
    for (;;) {
      bool idle = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (out_.empty() || state_ == State::closed) {
          write_busy_ = false;
          idle = true;
        } else {
          writing_.swap(out_);
          out_tags_.clear();  // handed to the socket: no longer unsent
        }
      }
      if (idle) {
        if (close_after_write_ && state_ == State::closing) terminate(closing_reason_);  // our echo is out
        return;
      }
      if (socket_->plain) {
        std::error_code ec;
        const std::size_t n = socket_->plain->write_some(asio::buffer(writing_), ec);
        if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return write_failed(ec);
        if (!ec && n == writing_.size()) {
          writing_.clear();  // keeps its capacity: the next batch reuses it
          continue;
        }
        writing_.erase(0, ec ? 0 : n);
      }
      break;
    }
    socket_->with_stream([&](auto& stream) {
      asio::async_write(stream, asio::buffer(writing_), asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec, std::size_t) {
                          self->writing_.clear();
                          if (ec) return self->write_failed(ec);
                          self->flush();
                        }));
    });
  }

  void write_failed(std::error_code ec) {
    writing_.clear();
    if (state_ == State::closing) return terminate(closing_reason_);
    terminate("writing failed: " + ec.message());
  }

  // On the strand: our close frame after what is queued; the socket closes when the server
  // answers, or after kCloseHandshake.
  void send_close(websocketpp::close::status::value code, const std::string& reason, const std::string& why) {
    if (state_ == State::closed || state_ == State::closing) return;
    state_ = State::closing;
    closing_reason_ = why;
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = false;
    }
    std::string payload(2, '\0');
    payload[0] = static_cast<char>((code >> 8) & 0xff);
    payload[1] = static_cast<char>(code & 0xff);
    payload += reason;
    queue_control(frame::opcode::close, payload);
    close_timer_.expires_after(kCloseHandshake);
    close_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec) {
      if (!ec) self->terminate(self->closing_reason_);
    }));
  }

  // -- the end (on the strand) -----------------------------------------------------------------

  void close_socket() {
    state_ = State::closed;
    fd_.store(-1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = false;
    }
    close_timer_.cancel();
    if (socket_) {
      std::error_code ignored;
      socket_->lowest().close(ignored);
    }
  }

  void terminate(const std::string& why) {
    if (state_ == State::closed) return;
    if (!opened_) return fail_open(Errc::connect_failed, why.empty() ? std::string("closed during connect") : why);
    close_socket();
    if (cb_.on_close) cb_.on_close(why);
  }

  asio::io_context& io_;
  detail::Strand strand_;
  Endpoint endpoint_;
  TransportOptions options_;
  TransportCallbacks cb_;
  Config::rng_type rng_;  // masking keys and the upgrade's key; locks itself

  // On the strand:
  std::shared_ptr<asio::ssl::context> tls_;
  std::shared_ptr<detail::StreamSocket> socket_;
  Processor processor_;
  Config::request_type request_;
  Config::response_type response_;
  std::array<char, kReadBuffer> rbuf_{};
  std::string writing_;  // the bytes of the write in progress
  asio::steady_timer close_timer_;
  State state_ = State::connecting;
  bool opened_ = false;
  bool flush_after_read_ = false;
  bool close_after_write_ = false;  // closing: the socket closes once our close frame is written
  bool broken_ = false;             // the server broke the protocol: its bytes are no longer read
  std::string closing_reason_;
  double pong_tokens_ = kPongBurst;
  std::chrono::steady_clock::time_point pong_refill_ = std::chrono::steady_clock::now();

  // Any thread:
  std::mutex mu_;
  std::string out_;                     // under mu_: frames not yet handed to the socket
  std::vector<std::uint64_t> out_tags_;  // under mu_: the tags of out_'s data frames
  bool write_busy_ = false;             // under mu_: a flush is scheduled or a write in progress
  bool open_ = false;                   // under mu_: sends accepted
  bool gave_up_ = false;                // under mu_: take_unsent() ran, nothing more is written
  std::atomic<int> fd_{-1};             // the TCP socket while open, for progress()
};

}  // namespace

std::shared_ptr<Transport> make_websocket_transport(asio::io_context& io, const Endpoint& endpoint,
                                                    const TransportOptions& options) {
  return std::make_shared<WsTransport>(io, endpoint, options);
}

}  // namespace cortex::storage
