// The README's "storage layer in five minutes", whole: a local engine signed in as root, one
// multiplexed connection, variables instead of string-built SurrealQL, blocking, future and
// callback forms. Run: build/examples/example_storage_basics
#include <cstdio>
#include <future>

// [readme]
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/rpc_connection.hpp"
using namespace cortex::storage;
// [/readme]

int main() {
  // [readme]
  LocalServerOptions opts;                 // the embedded engine, signed in like a production server
  opts.user = "root";
  opts.pass = "example-secret";            // example only: read it from your secret store
  LocalServer server(opts);                // or dial any SurrealDB: "ws://host:8000/rpc"
  IoRunner io(1);                          // an io_context with its own thread (or bring your own)
  auto db = RpcConnection::connect(io.context(), server.url());
  db->call(rpc::signin(Credentials{"", "", "", "root", "example-secret", "", {}}));
  db->call(rpc::use("agents", "memory"));
  // Values travel as variables — never paste user input into SurrealQL.
  auto q = db->query("CREATE memory:x SET text = $t", {{"t", Value("hello")}});
  q.throw_if_error();                      // statement errors are not RPC errors: check them
  Value row = db->call(rpc::select(record("memory", Value("x"))));
  auto fut = db->call_future(rpc::query("RETURN 1"));               // std::future form
  std::promise<std::error_code> pinged;
  db->async_call(rpc::ping(), {}, [&](std::error_code ec, Value) {  // callback form, on the io thread
    pinged.set_value(ec);
  });
  // [/readme]
  fut.get();
  const bool ok = !pinged.get_future().get() && row["text"].get<std::string>() == "hello";
  std::printf("%s\n", ok ? "storage example: ok" : "storage example: FAILED");
  return ok ? 0 : 1;
}
