// C++20 coroutines on cortex-storage's completion tokens: asio::use_awaitable against the real
// engine (built with CXX_STANDARD 20; the library itself is C++17). Exit 0 on success.
#include <cstdio>
#include <exception>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include "cortex/pool/async.hpp"
#include "cortex/sessions/async.hpp"
#include "engine.hpp"

using namespace cortex;

// (String literals are named first: GCC 12 rejects a literal argument inside co_await.)
asio::awaitable<int> agent_work(pool::ConnectionManager& m) {
  const std::string sum = "RETURN $a + $b", ns = "RETURN session::ns()", bad = "SELEC nonsense";
  storage::Object vars{{"a", storage::Value(2)}, {"b", storage::Value(3)}};
  auto r = co_await pool::async_query(m, sum, vars, asio::use_awaitable);
  if (r.at(0) != storage::Value(5)) co_return 1;
  auto agent = sessions::AgentSession::create("co", m, test::unique_name("co"));
  auto mine = co_await sessions::async_query(*agent, ns, {}, asio::use_awaitable);
  if (mine.at(0) != storage::Value(agent->ns())) co_return 2;
  std::vector<storage::Request> steps{storage::rpc::query(sum, vars), storage::rpc::query(ns)};
  auto both = co_await sessions::async_transaction(*agent, std::move(steps), asio::use_awaitable);
  if (both.size() != 2) co_return 5;
  bool threw = false;
  try {
    co_await pool::async_query(m, bad, {}, asio::use_awaitable);
  } catch (const Error&) {  // the typed error a blocking call would throw, in the coroutine
    threw = true;
  }
  if (!threw) co_return 4;
  auto lease = co_await pool::async_acquire(m, asio::use_awaitable);
  co_return lease ? 0 : 3;
}

int main() {
  pool::DatabaseConfig c;
  c.credentials = test::root_credentials();
  c.connection_mode.mode = pool::ConnectionMode::Local{"mem://"};  // its own engine, root signed in
  c.pool_config.min_connections = 0;
  pool::ConnectionManager m(c);
  asio::io_context io;  // the coroutine runs here; the library's handlers hop back to it
  int rc = 99;
  asio::co_spawn(io, agent_work(m), [&](std::exception_ptr e, int result) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "coroutine failed: %s\n", ex.what());
      }
    }
    rc = e ? 98 : result;
  });
  io.run();
  std::printf("cxx20 coroutines: %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
