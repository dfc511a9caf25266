// HTTP RPC for http:// and https:// endpoints: SurrealDB's `POST /rpc`, CBOR both ways, one request
// per POST, over a few keep-alive HTTP/1.1 connections (one request in flight on each).
//
// HTTP keeps no session on the server: each request is run in a fresh one built from headers
// (Surreal-NS, Surreal-DB, Authorization: Bearer). So the session lives here, as the official
// SDKs keep it for HTTP: `use`, `let`/`unset`, `invalidate` and `reset` are answered locally and
// change what the next requests carry; `signin`/`signup`/`authenticate` go to the server and their
// token is kept; `query` gets the kept variables (its own win). What HTTP cannot carry — live
// queries, sessions, transactions — RpcConnection refuses before sending (Transport::refusal).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/strand.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "cortex/storage/rpc.hpp"
#include "stream_socket.hpp"
#include "tls_client.hpp"
#include "transport.hpp"

namespace cortex::storage {
namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxSockets = 8;
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
// A keep-alive socket idle longer than this is not reused: servers close idle ones (Node after
// 5 s), and a POST written into a socket the server is closing cannot be told apart from one it ran.
constexpr auto kReuseWithin = std::chrono::seconds(2);

// One keep-alive HTTP/1.1 connection.
struct Socket : detail::StreamSocket {
  using StreamSocket::StreamSocket;
  std::unique_ptr<asio::streambuf> in;
  Clock::time_point idle_since;
  // Its request's deadline passed and it was closed for that (HttpTransport::drop): the handlers
  // still pending on it end quietly, the transport is not at fault.
  bool abandoned = false;
};

struct Job {
  std::uint64_t tag;
  std::string body;
  Request request;  // method and params, for the session kept here
};

struct Response {
  int status = 0;
  std::size_t content_length = 0;
  bool chunked = false, close = false;
  std::string body;
};

// Parses the status line and headers (without the final CRLF CRLF); false when malformed.
bool parse_head(const std::string& head, Response& r) {
  std::size_t pos = head.find("\r\n");
  const std::string status_line = head.substr(0, pos);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return false;
  r.status = std::atoi(status_line.c_str() + 9);
  if (r.status < 100 || r.status > 599) return false;
  r.close = status_line.compare(0, 8, "HTTP/1.0") == 0;
  bool has_length = false;
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    const auto colon = line.find(':');
    if (colon == std::string::npos) return false;
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-length") {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 18) return false;
      r.content_length = std::stoull(value);
      has_length = true;
    } else if (name == "transfer-encoding") {
      r.chunked = value.find("chunked") != std::string::npos;
    } else if (name == "connection") {
      r.close = value.find("close") != std::string::npos;
    }
  }
  if (!has_length && !r.chunked) r.close = true;  // body until EOF: not supported, and not reusable
  return has_length || r.chunked;
}

// {id: tag, field: value}: a reply made here.
std::string envelope(std::uint64_t tag, const char* field, const Value& value) {
  std::string out;
  cbor::write_head(out, 5, 2);
  cbor::write_text(out, "id");
  cbor::write_int(out, static_cast<std::int64_t>(tag));
  cbor::write_text(out, field);
  cbor::encode(value, out);
  return out;
}

// A reply envelope for request `tag`: the server's reply map with the id put in front when it has
// none (SurrealDB's HTTP replies carry no id), or an error map made from a reply that is not CBOR.
std::string envelope_for(std::uint64_t tag, const Response& r) {
  const bool is_map = !r.body.empty() && (static_cast<unsigned char>(r.body[0]) >> 5) == 5 &&
                      (static_cast<unsigned char>(r.body[0]) & 0x1f) < 24;
  if (is_map && cbor::peek_id(r.body)) return r.body;
  std::string out;
  if (is_map) {
    cbor::write_head(out, 5, (static_cast<unsigned char>(r.body[0]) & 0x1f) + 1u);
    cbor::write_text(out, "id");
    cbor::write_int(out, static_cast<std::int64_t>(tag));
    out.append(r.body, 1, std::string::npos);
    return out;
  }
  std::string excerpt;
  for (char c : r.body.substr(0, 200)) excerpt += (c >= 0x20 && c < 0x7f) ? c : '.';
  return envelope(tag, "error",
                  Object{{"code", Value(r.status == 401 || r.status == 403 ? -32002 : -32000)},
                         {"message", Value("HTTP " + std::to_string(r.status) + " from the server: " + excerpt)}});
}


bool header_safe(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

class HttpTransport : public Transport, public std::enable_shared_from_this<HttpTransport> {
 public:
  HttpTransport(asio::io_context& io, Endpoint endpoint, TransportOptions options)
      : io_(io), strand_(asio::make_strand(io)), endpoint_(std::move(endpoint)), options_(std::move(options)) {
    if (endpoint_.is_tls()) tls_ = detail::make_tls_client_context(options_, endpoint_.host);
    const bool v6 = endpoint_.host.find(':') != std::string::npos;
    host_header_ = (v6 ? "[" + endpoint_.host + "]" : endpoint_.host) + ":" + std::to_string(endpoint_.port);
  }

  void start(TransportCallbacks cb) override {
    cb_ = std::move(cb);
    // Opening is one connected (and, for https, handshaken) socket, kept for the first request.
    asio::post(strand_, [self = shared_from_this()] {
      auto first = std::make_shared<Socket>(self->io_, self->tls_.get());
      self->open_socket(first, [self](std::error_code ec, const std::string& why, std::shared_ptr<Socket> s) {
        if (ec) return self->cb_.on_open(make_error_code(Errc::connect_failed), why);
        s->idle_since = Clock::now();
        self->idle_.push_back(std::move(s));
        self->opened_ = true;
        self->cb_.on_open({}, "");
        self->pump();
      });
    });
  }

  const char* refusal(const Request& r, bool session_or_txn) const override {
    return session_or_txn || !rpc::method_facts(r.method).over_http ? "an http:// endpoint carries no live queries, sessions or transactions (SurrealDB's HTTP RPC runs "
                     "each request on its own): use ws://"
                   : nullptr;
  }

  std::error_code send(std::string&& payload, std::uint64_t tag, Request&& request) override {
    Job job{tag, std::move(payload), std::move(request)};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return make_error_code(Errc::not_connected);
      unsent_.insert(tag);
    }
    asio::post(strand_, [self = shared_from_this(), job = std::move(job)]() mutable { self->submit(std::move(job)); });
    return {};
  }

  std::vector<std::uint64_t> take_unsent() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::uint64_t> out(unsent_.begin(), unsent_.end());
    unsent_.clear();
    return out;
  }

  void abandon(std::uint64_t tag) override {
    asio::post(strand_, [self = shared_from_this(), tag] { self->drop(tag); });
  }

  void close() override { abort(); }
  void abort() override {
    asio::post(strand_, [self = shared_from_this()] { self->shut("closed by the client"); });
  }

 private:
  // -- the session kept here -------------------------------------------------------------------

  void submit(Job job) {
    if (is_closed()) return;
    const auto& m = job.request.method;
    const auto& p = job.request.params;
    const auto text = [](const Value& v) { return v.is<std::string>() ? v.get<std::string>() : std::string(); };
    const auto& facts = rpc::method_facts(m);
    // What changes the session kept here is answered here (SurrealDB's HTTP RPC would forget it).
    // (A method the table does not know goes to the server: its answer, not an emulation, says what it does.)
    if (!facts.name.empty() && (facts.changes_ns_db || facts.changes_vars || facts.auth == rpc::AuthEffect::cleared)) {
      if (facts.auth == rpc::AuthEffect::cleared) token_.clear();
      if (facts.changes_ns_db && m != "use") {  // reset
        ns_.clear();
        db_.clear();
      }
      if (facts.changes_ns_db && m == "use") {
        for (std::size_t i = 0; i < 2 && i < p.size(); ++i) {
          std::string& field = i == 0 ? ns_ : db_;
          if (p[i].is_null()) field.clear();
          else if (p[i].is<std::string>()) field = p[i].get<std::string>();
        }
        if (ns_.empty()) db_.clear();
        if (!header_safe(ns_) || !header_safe(db_)) {
          ns_.clear();
          db_.clear();
          return answer_locally(job.tag, envelope(job.tag, "error", Object{{"code", Value(-32602)}, {"message", Value("a namespace or database name holds a line break")}}));
        }
      }
      if (facts.changes_vars) {
        if (m == "unset") {
          if (!p.empty()) vars_.erase(text(p[0]));
        } else if (m == "let" || m == "set") {
          if (!p.empty()) vars_[text(p[0])] = p.size() > 1 ? p[1] : Value();
        } else {
          vars_.clear();  // reset
        }
      }
      return answer_locally(job.tag, envelope(job.tag, "result", Value()));
    }
    if (m == "query" && !vars_.empty()) {  // the kept variables, under the query's own
      Object vars = p.size() > 1 && p[1].is<Object>() ? p[1].get<Object>() : Object{};
      for (const auto& kv : vars_) vars.emplace(kv.first, kv.second);
      Array params{p.empty() ? Value("") : p[0], Value(std::move(vars))};
      Object request{{"id", Value(static_cast<std::int64_t>(job.tag))}, {"method", Value(m)}, {"params", Value(std::move(params))}};
      job.body = cbor::encode(Value(std::move(request)));
    }
    // Pings (the keepalive's among them) wait in a line of their own: see pump().
    const bool is_ping = m == "ping";
    (is_ping ? pings_ : queue_).push_back(std::move(job));
    pump();
  }

  void answer_locally(std::uint64_t tag, std::string reply) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      unsent_.erase(tag);
    }
    asio::post(strand_, [self = shared_from_this(), reply = std::move(reply)]() mutable {
      if (!self->is_closed()) self->cb_.on_message(std::move(reply));
    });
  }


  // -- sockets ---------------------------------------------------------------------------------

  void pump() {
    while (!is_closed()) {
      // Pings go first and may take one socket beyond kMaxSockets. Keepalive judges the server by
      // its ping, and over HTTP the other sockets may all be busy with slow requests (SLEEP, a big
      // import) on a server that is fine: a ping queued behind them would go unanswered and the
      // keepalive would kill the busy requests it exists to protect. On a socket of its own the
      // ping is answered by a live server and still goes unanswered by a dead one.
      const bool ping = !pings_.empty();
      std::deque<Job>& line = ping ? pings_ : queue_;
      if (line.empty()) return;
      if (working_.size() >= kMaxSockets + (ping ? 1 : 0)) return;  // waits for a socket to come free
      std::shared_ptr<Socket> s;
      while (!idle_.empty() && !s) {
        s = std::move(idle_.back());
        idle_.pop_back();
        if (Clock::now() - s->idle_since > kReuseWithin) s.reset();  // too old to trust: closed
      }
      Job job = std::move(line.front());
      line.pop_front();
      if (s) {
        exchange(std::move(s), std::move(job));
        continue;
      }
      s = std::make_shared<Socket>(io_, tls_.get());
      working_[job.tag] = s;  // from here abandon() can close it
      open_socket(s, [self = shared_from_this(), job = std::move(job)](std::error_code ec, const std::string& why,
                                                                        std::shared_ptr<Socket> fresh) mutable {
        if (fresh->abandoned) return;  // its request timed out while it connected
        if (ec) return self->shut("connect to " + self->endpoint_.to_string() + " failed: " + why);
        self->exchange(std::move(fresh), std::move(job));
      });
    }
  }

  using Opened = std::function<void(std::error_code, const std::string&, std::shared_ptr<Socket>)>;

  void open_socket(const std::shared_ptr<Socket>& s, Opened done) {
    all_.push_back(s);
    detail::async_open(s, endpoint_, strand_, [s, done](std::error_code ec, const std::string& why) { done(ec, why, s); });
  }

  void exchange(std::shared_ptr<Socket> s, Job job) {
    working_[job.tag] = s;
    std::string head = "POST " + endpoint_.path + " HTTP/1.1\r\nHost: " + host_header_ +
                       "\r\nContent-Type: application/cbor\r\nAccept: application/cbor\r\nContent-Length: " +
                       std::to_string(job.body.size()) + "\r\n";
    if (!ns_.empty()) head += "Surreal-NS: " + ns_ + "\r\n";
    if (!db_.empty()) head += "Surreal-DB: " + db_ + "\r\n";
    if (!token_.empty() && header_safe(token_)) head += "Authorization: Bearer " + token_ + "\r\n";
    head += "\r\n";
    {
      std::lock_guard<std::mutex> lock(mu_);
      unsent_.erase(job.tag);  // from here on it may reach the server
    }
    auto out = std::make_shared<std::pair<std::string, Job>>(std::move(head), std::move(job));
    s->with_stream([&](auto& stream) {
      asio::async_write(stream, std::vector<asio::const_buffer>{asio::buffer(out->first), asio::buffer(out->second.body)},
                        asio::bind_executor(strand_, [self = shared_from_this(), s, out](std::error_code ec, std::size_t) {
                          if (s->abandoned) return;
                          if (ec) return self->shut("writing a request failed: " + ec.message());
                          self->read_head(s, std::make_shared<Job>(std::move(out->second)));
                        }));
    });
  }

  // RpcConnection gave up on request `tag` (its deadline passed; its caller has the timeout). Not
  // sent yet: it never will be. On a socket: that socket is closed now, not when the server gets
  // round to answering — a slow server would otherwise hold every socket with requests nobody
  // awaits, and the requests behind them would time out unsent. The late answer is never read.
  void drop(std::uint64_t tag) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      unsent_.erase(tag);
    }
    for (auto* line : {&queue_, &pings_}) {
      line->erase(std::remove_if(line->begin(), line->end(), [tag](const Job& j) { return j.tag == tag; }), line->end());
    }
    const auto it = working_.find(tag);
    if (it == working_.end()) return;  // answered first, or answered locally
    const auto s = it->second;
    working_.erase(it);
    s->abandoned = true;  // the handlers still pending on it end without a word
    std::error_code ignored;
    s->lowest().close(ignored);
    pump();
  }

  void read_head(std::shared_ptr<Socket> s, std::shared_ptr<Job> j) {
    // The buffer's max_size bounds the read itself: read_until ends with not_found once 64 KiB
    // arrived without the blank line, instead of keeping whatever a server sends. Chunk-size lines
    // are read into the same buffer, so they are bounded alike.
    s->in = std::make_unique<asio::streambuf>(kMaxHeaderBytes);
    s->with_stream([&](auto& stream) {
      asio::async_read_until(stream, *s->in, "\r\n\r\n",
                             asio::bind_executor(strand_, [self = shared_from_this(), s, j](std::error_code ec, std::size_t n) {
                               if (s->abandoned) return;
                               if (ec == asio::error::not_found) return self->shut("reply headers larger than 64 KiB");
                               if (ec) return self->shut("reading a reply failed: " + ec.message());
                               std::string head(asio::buffers_begin(s->in->data()), asio::buffers_begin(s->in->data()) + n - 4);
                               s->in->consume(n);
                               auto r = std::make_shared<Response>();
                               if (!parse_head(head, *r)) return self->shut("malformed HTTP reply");
                               if (r->chunked) return self->read_chunk(s, j, r);
                               if (r->content_length > self->options_.max_message_size) {
                                 if (self->cb_.on_frame_too_large) self->cb_.on_frame_too_large();  // the client's own limit
                                 return self->shut("reply of " + std::to_string(r->content_length) + " bytes exceeds max_message_size");
                               }
                               self->read_exactly(s, r->content_length, [self, s, j, r](std::string bytes) {
                                 r->body = std::move(bytes);
                                 self->finish(s, *j, *r);
                               });
                             }));
    });
  }

  // Reads the next `n` bytes (those already buffered first) and hands them over. The string grows
  // as bytes arrive, so a length the server claims costs memory only once it is sent.
  void read_exactly(std::shared_ptr<Socket> s, std::size_t n, std::function<void(std::string)> then) {
    auto bytes = std::make_shared<std::string>();
    const std::size_t have = std::min(n, s->in->size());
    bytes->assign(asio::buffers_begin(s->in->data()), asio::buffers_begin(s->in->data()) + static_cast<std::ptrdiff_t>(have));
    s->in->consume(have);
    if (have == n) return then(std::move(*bytes));
    s->with_stream([&](auto& stream) {
      asio::async_read(stream, asio::dynamic_buffer(*bytes, n), asio::transfer_exactly(n - have),
                       asio::bind_executor(strand_, [self = shared_from_this(), s, bytes, then](std::error_code ec, std::size_t) {
                         if (s->abandoned) return;
                         if (ec) return self->shut("reading a reply body failed: " + ec.message());
                         then(std::move(*bytes));
                       }));
    });
  }

  void read_chunk(std::shared_ptr<Socket> s, std::shared_ptr<Job> j, std::shared_ptr<Response> r) {
    s->with_stream([&](auto& stream) {
      asio::async_read_until(stream, *s->in, "\r\n",
                             asio::bind_executor(strand_, [self = shared_from_this(), s, j, r](std::error_code ec, std::size_t n) {
                               if (s->abandoned) return;
                               if (ec) return self->shut("reading a reply chunk failed: " + ec.message());
                               const std::string line(asio::buffers_begin(s->in->data()), asio::buffers_begin(s->in->data()) + n - 2);
                               s->in->consume(n);
                               std::size_t size = 0;
                               std::size_t digits = 0;
                               for (char c : line) {
                                 const int d = std::isxdigit(static_cast<unsigned char>(c)) ? std::stoi(std::string(1, c), nullptr, 16) : -1;
                                 if (d < 0) break;
                                 if (++digits > 15) return self->shut("malformed chunk size");
                                 size = size * 16 + static_cast<std::size_t>(d);
                               }
                               if (digits == 0) return self->shut("malformed chunk size");
                               if (r->body.size() + size > self->options_.max_message_size) {
                                 if (self->cb_.on_frame_too_large) self->cb_.on_frame_too_large();  // the client's own limit
                                 return self->shut("reply exceeds max_message_size");
                               }
                               // The chunk and its CRLF; the last (empty) chunk is followed by a CRLF (no trailers sent).
                               self->read_exactly(s, size + 2, [self, s, j, r, size](std::string bytes) {
                                 r->body.append(bytes, 0, size);
                                 if (size == 0) return self->finish(s, *j, *r);
                                 self->read_chunk(s, j, r);
                               });
                             }));
    });
  }

  void finish(std::shared_ptr<Socket> s, const Job& job, const Response& r) {
    working_.erase(job.tag);
    all_.erase(std::remove_if(all_.begin(), all_.end(), [](const std::weak_ptr<Socket>& w) { return w.expired(); }), all_.end());
    if (!r.close && !is_closed()) {
      s->idle_since = Clock::now();
      idle_.push_back(std::move(s));
    }
    std::string reply = envelope_for(job.tag, r);
    keep_token(job, reply);
    if (!is_closed()) cb_.on_message(std::move(reply));
    pump();
  }

  // A successful signin, signup or authenticate leaves its token on the session kept here.
  void keep_token(const Job& job, const std::string& reply) {
    const auto& m = job.request.method;
    if (!rpc::method_facts(m).changes_auth()) return;
    try {
      const Value env = cbor::decode(reply);
      if (!env["error"].is_none()) return;
      if (auto token = rpc::token_after(job.request, env["result"])) token_ = *token;
    } catch (const Error&) {
      // undecodable: RpcConnection fails the request; the session keeps its token
    }
  }

  // -- end -------------------------------------------------------------------------------------

  bool is_closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  void shut(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      for (const auto* line : {&queue_, &pings_}) {
        for (const auto& j : *line) unsent_.insert(j.tag);
      }
    }
    queue_.clear();
    pings_.clear();
    idle_.clear();
    working_.clear();
    for (auto& weak : all_) {  // busy ones too: their handlers end with operation_aborted
      if (auto s = weak.lock()) {
        std::error_code ignored;
        s->lowest().close(ignored);
      }
    }
    all_.clear();
    if (opened_) cb_.on_close(why);
    else cb_.on_open(make_error_code(Errc::connect_failed), why);
  }

  asio::io_context& io_;
  detail::Strand strand_;
  Endpoint endpoint_;
  TransportOptions options_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::string host_header_;
  TransportCallbacks cb_;
  // On the strand:
  std::deque<Job> queue_;
  std::deque<Job> pings_;  // served before queue_, with a socket of their own (pump())
  std::vector<std::shared_ptr<Socket>> idle_;
  std::vector<std::weak_ptr<Socket>> all_;  // every socket opened, to close busy ones on shut
  std::map<std::uint64_t, std::shared_ptr<Socket>> working_;  // by request: connecting for it or exchanging it
  bool opened_ = false;
  std::string ns_, db_, token_;  // the session kept here; the token is a secret
  std::map<std::string, Value> vars_;
  // Any thread:
  std::mutex mu_;
  bool closed_ = false;
  std::set<std::uint64_t> unsent_;
};

}  // namespace

std::shared_ptr<Transport> make_http_transport(asio::io_context& io, const Endpoint& endpoint, const TransportOptions& options) {
  return std::make_shared<HttpTransport>(io, endpoint, options);
}

}  // namespace cortex::storage
