#include "fault_proxy.hpp"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

#include "cortex/storage/url.hpp"

namespace cortex::test {

using asio::ip::tcp;

struct FaultProxy::Impl : std::enable_shared_from_this<FaultProxy::Impl> {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  tcp::acceptor acceptor{io};
  tcp::endpoint upstream;
  std::uint16_t port = 0;
  bool holding = false;  // black hole
  std::chrono::milliseconds delay{0};
  std::thread thread;

  struct Link;
  std::set<std::shared_ptr<Link>> links;

  // One proxied connection: two sockets, a pump each way.
  struct Link : std::enable_shared_from_this<Link> {
    Link(Impl& p, tcp::socket c) : proxy(p), client(std::move(c)), server(p.io) {}
    Impl& proxy;
    tcp::socket client, server;
    void close() {
      std::error_code ignored;
      client.close(ignored);
      server.close(ignored);
    }
  };

  void listen() {
    acceptor.open(tcp::v4());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    accept();
  }

  void accept() {
    acceptor.async_accept([self = shared_from_this()](std::error_code ec, tcp::socket s) {
      if (ec) return;  // closed (refuse) or stopping
      auto link = std::make_shared<Link>(*self, std::move(s));
      self->links.insert(link);
      link->server.async_connect(self->upstream, [self, link](std::error_code cec) {
        if (cec) return self->drop(link);
        self->pump(link, link->client, link->server);
        self->pump(link, link->server, link->client);
      });
      self->accept();
    });
  }

  void drop(const std::shared_ptr<Link>& link) {
    link->close();
    links.erase(link);
  }

  void pump(std::shared_ptr<Link> link, tcp::socket& from, tcp::socket& to) {
    auto buf = std::make_shared<std::vector<char>>(64 * 1024);
    from.async_read_some(asio::buffer(*buf), [self = shared_from_this(), link, buf, &from, &to](std::error_code ec, std::size_t n) {
      if (ec) return self->drop(link);
      buf->resize(n);
      self->forward(link, buf, from, to);
    });
  }

  // Holds the chunk while black-holed (checked every few ms: this is the proxy's own pacing, not a
  // test's synchronisation), delays it by the latency, then writes it and reads the next.
  void forward(std::shared_ptr<Link> link, std::shared_ptr<std::vector<char>> buf, tcp::socket& from, tcp::socket& to) {
    if (holding || delay.count() > 0) {
      auto timer = std::make_shared<asio::steady_timer>(io, holding ? std::chrono::milliseconds(5) : delay);
      const bool was_holding = holding;
      timer->async_wait([self = shared_from_this(), link, buf, &from, &to, timer, was_holding](std::error_code) {
        if (!self->links.count(link)) return;
        if (was_holding || self->holding) return self->forward(link, buf, from, to);
        self->write(link, buf, from, to);
      });
      return;
    }
    write(link, buf, from, to);
  }

  void write(std::shared_ptr<Link> link, std::shared_ptr<std::vector<char>> buf, tcp::socket& from, tcp::socket& to) {
    asio::async_write(to, asio::buffer(*buf), [self = shared_from_this(), link, buf, &from, &to](std::error_code ec, std::size_t) {
      if (ec) return self->drop(link);
      self->pump(link, from, to);
    });
  }

  template <class F>
  void run(F&& f) {
    std::promise<void> done;
    asio::post(io, [&] {
      f();
      done.set_value();
    });
    done.get_future().get();
  }
};

FaultProxy::FaultProxy(const std::string& upstream_url) : impl_(std::make_shared<Impl>()) {
  const auto ep = storage::parse_endpoint(upstream_url);
  tcp::resolver resolver(impl_->io);
  impl_->upstream = *resolver.resolve(ep.host, std::to_string(ep.port)).begin();
  impl_->listen();
  impl_->thread = std::thread([io = &impl_->io] { io->run(); });
}

FaultProxy::~FaultProxy() {
  impl_->run([&] {
    std::error_code ignored;
    impl_->holding = false;
    impl_->delay = std::chrono::milliseconds(0);
    impl_->acceptor.close(ignored);
    for (auto& l : impl_->links) l->close();
    impl_->links.clear();
  });
  // No stop(): the cancelled handlers (which hold the Impl) must run to be freed; run() returns
  // once the last one has.
  impl_->guard.reset();
  impl_->thread.join();
}

std::string FaultProxy::url() const { return "ws://127.0.0.1:" + std::to_string(impl_->port) + "/rpc"; }

void FaultProxy::drop_all() {
  impl_->run([&] {
    for (auto& l : impl_->links) l->close();
    impl_->links.clear();
  });
}

void FaultProxy::black_hole(bool on) {
  impl_->run([&] { impl_->holding = on; });
}

void FaultProxy::latency(std::chrono::milliseconds d) {
  impl_->run([&] { impl_->delay = d; });
}

void FaultProxy::refuse(bool on) {
  impl_->run([&] {
    std::error_code ignored;
    if (on) {
      impl_->acceptor.close(ignored);
    } else if (!impl_->acceptor.is_open()) {
      impl_->listen();  // the same port again
    }
  });
}

void FaultProxy::heal() {
  impl_->run([&] {
    impl_->holding = false;
    impl_->delay = std::chrono::milliseconds(0);
  });
  refuse(false);
}

std::size_t FaultProxy::open_connections() const {
  std::size_t n = 0;
  impl_->run([&] { n = impl_->links.size(); });
  return n;
}

}  // namespace cortex::test
