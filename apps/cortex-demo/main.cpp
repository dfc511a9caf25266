// cortex-demo: starts the embedded local engine (or dials --endpoint), connects, and has a few
// "agents" write and recall memories through one multiplexed connection, printing what it did.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cortex/storage/error.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/rpc_connection.hpp"
#include "cortex/storage/url.hpp"
#include "cortex/storage/value_json.hpp"

using namespace cortex::storage;

namespace {

struct Args {
  std::string endpoint = "mem://";
  int memories = 5;
  std::string user, pass;
};

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "cortex-demo: %s\n", why);
  std::fprintf(stderr,
               "usage: cortex-demo [--endpoint URL] [--memories N] [--user U --pass P]\n"
               "  URL: mem:// (default: starts the embedded engine), surrealkv://DIR, or ws://HOST:PORT of any SurrealDB\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage((k + " needs a value").c_str());
      return argv[++i];
    };
    if (k == "--endpoint") a.endpoint = val();
    else if (k == "--memories") a.memories = std::max(1, std::atoi(val().c_str()));
    else if (k == "--user") a.user = val();
    else if (k == "--pass") a.pass = val();
    else if (k == "--help" || k == "-h") usage(nullptr);
    else usage(("unknown argument " + k).c_str());
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args args = parse(argc, argv);
  try {
    const Endpoint ep = parse_endpoint(args.endpoint);
    std::unique_ptr<LocalServer> local;
    std::string url = args.endpoint;
    if (ep.is_local()) {
      std::printf("starting the embedded SurrealDB engine (%s)...\n", ep.to_string().c_str());
      LocalServerOptions o;
      o.store = ep.scheme == Scheme::mem ? "mem://" : "surrealkv://" + ep.path;
      local = std::make_unique<LocalServer>(o);
      url = local->url();
    }
    IoRunner io(1);
    auto conn = RpcConnection::connect(io.context(), url);
    std::printf("connected to %s (%s)\n", url.c_str(), conn->server_version().c_str());
    if (!args.user.empty()) {
      Credentials c;
      c.user = args.user;
      c.pass = args.pass;
      conn->call(rpc::signin(c));
      std::printf("signed in as root user '%s'\n", args.user.c_str());
    }
    conn->call(rpc::use("cortex_demo", "memories"));

    // Live query first, so the demo shows notifications of its own writes.
    std::atomic<int> notified{0};
    conn->query("DEFINE TABLE IF NOT EXISTS memory SCHEMALESS").throw_if_error();
    const Uuid live = conn->live(Value(Table{"memory"}), [&](const Notification& n) {
      if (n.action == "CREATE") ++notified;
    });

    const char* agents[] = {"planner", "researcher", "critic"};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::future<Value>> writes;
    for (int i = 0; i < args.memories; ++i) {
      for (const char* agent : agents) {
        // Values travel as query variables, never pasted into SurrealQL.
        writes.push_back(conn->call_future(rpc::query(
            "CREATE memory CONTENT { agent: $agent, text: $text, importance: $importance, at: time::now() }",
            {{"agent", Value(agent)}, {"text", Value(std::string(agent) + " note #" + std::to_string(i))},
             {"importance", Value(static_cast<double>(i % 10) / 10.0)}})));
      }
    }
    for (auto& w : writes) QueryResult::parse(w.get()).throw_if_error();
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%zu memories written by %zu agents, all in flight at once on one socket, in %.1f ms\n", writes.size(),
                std::size(agents), ms);

    auto recall = conn->query("SELECT agent, count() AS memories FROM memory GROUP BY agent ORDER BY agent");
    for (const auto& row : recall.at(0).get<Array>()) {
      std::printf("  %-10s recalls %lld memories\n", row["agent"].get<std::string>().c_str(),
                  static_cast<long long>(row["memories"].get<std::int64_t>()));
    }
    auto top = conn->query("SELECT id, agent, text, importance FROM memory WHERE agent = $agent ORDER BY importance DESC LIMIT 1",
                           {{"agent", Value("critic")}});
    const auto& best = top.at(0)[std::size_t{0}];
    std::printf("  critic's most important memory: %s (id %s)\n", best["text"].get<std::string>().c_str(),
                to_json_text(best["id"]).c_str());

    // Invalid SurrealQL: the server's message reaches the caller as a typed error.
    try {
      conn->query("SELEKT * FROM memory");
    } catch (const cortex::Error& e) {
      std::printf("invalid SurrealQL is refused: [%s/%s] %.60s...\n", e.code().category().name(),
                  e.server_kind().c_str(), e.what());
    }
    conn->kill(live);
    std::printf("live query saw %d CREATE notifications\n", notified.load());
    conn->close();
    std::printf("done\n");
    return 0;
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-demo: failed: %s [%s]\n", e.what(), e.code().message().c_str());
    return 1;
  }
}
