// The floor of client CPU per `RETURN 1` on this machine: the least any client can spend, measured
// by one that does nothing but the unavoidable — a blocking socket, one thread, frames written and
// parsed in place, every reply found in the last recv answered in one send (K in flight). No
// deadlines, no error handling beyond giving up, no reply decoding: not a client, a yardstick.
// benches/e2e.mjs prints the JS SDK's CPU over this floor — the best ratio any client could reach
// against the JS SDK here, kernel time included (a send and a recv per round trip, a wake-up per
// recv that sleeps) — and this client's throughput over the JS SDK's, the most any client could
// gain in throughput.
// Usage: bench_e2e_floor --url ws://127.0.0.1:PORT/rpc [--queries N] [--inflight K]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_auth.hpp"
#include "e2e_common.hpp"
#include "cortex/storage/cbor.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/url.hpp"

using namespace cortex::storage;

namespace {

// One masked binary frame (mask key 0: masking is then the identity, which RFC 6455 allows).
std::string frame(const Request& r, std::int64_t id) {
  const std::string p = cbor::encode(Value(Object{{"id", Value(id)}, {"method", Value(r.method)}, {"params", Value(r.params)}}));
  std::string f(1, static_cast<char>(0x82));
  if (p.size() < 126) {
    f.push_back(static_cast<char>(0x80 | p.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(p.size() >> 8));
    f.push_back(static_cast<char>(p.size() & 0xff));
  }
  f.append(4, '\0');
  return f + p;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_e2e_floor: %s\n", what);
  std::exit(1);
}

// Whole frames at the front of `in` (server frames are unmasked; 16-bit lengths suffice here).
std::size_t count_frames(std::string& in) {
  std::size_t pos = 0, n = 0;
  while (in.size() - pos >= 2) {
    std::size_t len = static_cast<unsigned char>(in[pos + 1]) & 0x7f, head = 2;
    if (len == 127) die("reply too large for the floor client");
    if (len == 126) {
      if (in.size() - pos < 4) break;
      len = static_cast<std::size_t>(static_cast<unsigned char>(in[pos + 2]) << 8 | static_cast<unsigned char>(in[pos + 3]));
      head = 4;
    }
    if (in.size() - pos < head + len) break;
    pos += head + len;
    ++n;
  }
  in.erase(0, pos);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  E2eArgs args;
  if (!args.parse(argc, argv)) die("usage: bench_e2e_floor --url ws://IPV4:PORT/rpc [--queries N] [--inflight K]");
  const long queries = args.queries;
  const int inflight = args.inflight;
  const Endpoint ep = parse_endpoint(args.url);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ep.port);
  if (::inet_pton(AF_INET, ep.host.c_str(), &addr.sin_addr) != 1) die("the floor client takes an IPv4 address");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect failed");
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string upgrade = "GET " + ep.path + " HTTP/1.1\r\nHost: " + ep.host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Protocol: cbor\r\n\r\n";
  std::string in;
  char buf[65536];
  auto exchange = [&](const std::string& out, std::size_t replies) {  // set-up only
    if (::send(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) die("send failed");
    for (std::size_t got = 0; got < replies;) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) die("the server closed");
      in.append(buf, static_cast<std::size_t>(r));
      got += count_frames(in);
    }
  };
  if (::send(fd, upgrade.data(), upgrade.size(), 0) <= 0) die("send failed");
  while (in.find("\r\n\r\n") == std::string::npos) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) die("no upgrade");
    in.append(buf, static_cast<std::size_t>(r));
  }
  if (in.rfind("HTTP/1.1 101", 0) != 0) die("upgrade refused");
  in.erase(0, in.find("\r\n\r\n") + 4);
  exchange(frame(rpc::signin(bench_credentials()), 1), 1);
  const std::string query = frame(rpc::query("RETURN 1"), 2);

  auto measure = [&](long total) {
    long issued = 0, done = 0;
    std::string out;
    for (; issued < inflight && issued < total; ++issued) out += query;
    while (done < total) {
      if (!out.empty() && ::send(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) die("send failed");
      out.clear();
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) die("the server closed");
      in.append(buf, static_cast<std::size_t>(r));
      for (std::size_t n = count_frames(in); n > 0; --n, ++done) {
        if (issued < total) out += query, ++issued;
      }
    }
  };
  measure(queries / 10 + 1);  // warm-up
  const double cpu0 = process_cpu_seconds();
  const auto wall0 = std::chrono::steady_clock::now();
  measure(queries);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  // The most any client gets from this server here: the one that spends least leaves the server
  // the most CPU (the two share the cores) and adds the least to each round trip.
  std::printf("{\"name\":\"floor.return1.inflight%d.throughput\",\"value\":%.1f,\"unit\":\"queries/s\"}\n", inflight,
              static_cast<double>(queries) / wall);
  std::printf("{\"name\":\"floor.return1.inflight%d.client_cpu\",\"value\":%.2f,\"unit\":\"us/query\"}\n", inflight,
              cpu / static_cast<double>(queries) * 1e6);
  ::close(fd);
  return 0;
}
