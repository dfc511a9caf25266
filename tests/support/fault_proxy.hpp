#pragma once
// FaultProxy: a TCP proxy the tests put between the client and an engine, to inject network
// faults on demand: drop every connection, black-hole (accept and hold all traffic, never answer),
// add latency, refuse new connections (the port stops listening), heal. Runs its own io thread;
// every control call takes effect before it returns.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace cortex::test {

class FaultProxy {
 public:
  /// Listens on 127.0.0.1 (a free port) and forwards to `upstream_url`'s host:port.
  explicit FaultProxy(const std::string& upstream_url);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// ws://127.0.0.1:PORT/rpc
  std::string url() const;

  void drop_all();                           ///< closes every proxied connection now
  void black_hole(bool on = true);           ///< hold all bytes (both ways) until healed
  void latency(std::chrono::milliseconds d); ///< delay each forwarded chunk by d
  void refuse(bool on = true);               ///< stop listening: new connections are refused
  void heal();                               ///< no black hole, no latency, listening
  std::size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace cortex::test
