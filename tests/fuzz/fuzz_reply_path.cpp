// libFuzzer: the reply path of RpcConnection through a fake transport (no socket). The input is a
// sequence of frames (2-byte big-endian length, then the bytes) that the "server" sends after the
// version probe, while four requests (ids 2-5) are pending. Whatever arrives: no crash, nothing
// thrown out of the io loop, every request's handler runs exactly once (after the close at the
// latest), and memory stays within the decode budget (ASan+UBSan).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fake_transport.hpp"

using namespace cortex::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  asio::io_context io;
  ConnectOptions o;
  o.decode.min_budget = std::size_t{8} << 20;
  std::shared_ptr<cortex::test::FakeTransport> current;
  auto conn = cortex::test::connect_fake(io, o, &current);
  if (!conn) std::abort();  // the fake always opens
  int calls[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    conn->async_call(rpc::ping(), {}, [&calls, i](std::error_code, Value) { ++calls[i]; });
  }
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t n = (static_cast<std::size_t>(data[at]) << 8) | data[at + 1];
    at += 2;
    const std::size_t take = std::min(n, size - at);
    current->deliver(std::string(reinterpret_cast<const char*>(data + at), take));
    at += take;
    io.poll();
    io.restart();
  }
  conn->close();
  io.poll();
  for (int c : calls) {
    if (c != 1) std::abort();  // a handler ran twice, or never
  }
  return 0;
}
