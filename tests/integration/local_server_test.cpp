// LocalServer: a surrealkv:// store keeps its data across a restart (kill -9 included); SIGTERM
// stops the server cleanly; the engine lives as long as its LocalServer, whichever thread made it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "cortex/pool/connection_manager.hpp"
#include "engine.hpp"

using namespace cortex::storage;
namespace fs = std::filesystem;

TEST(LocalServer, SurrealKvStoreSurvivesRestartAndKill) {
  const fs::path dir = fs::temp_directory_path() / cortex::test::unique_name("cortex_kv");
  auto o = cortex::test::private_engine_options();
  o.store = "surrealkv://" + dir.string();
  {
    LocalServer server(o);
    IoRunner io(1);
    auto c = cortex::test::connect_signed_in(io.context(), server.url());
    c->call(rpc::use("kv", "db"));
    c->call(rpc::create(record("memory", Value("kept")), Value(Object{{"text", Value("durable")}})));
    server.restart();  // SIGTERM, then start on the same port and store
    auto again = cortex::test::connect_signed_in(io.context(), server.url());
    again->call(rpc::use("kv", "db"));
    EXPECT_EQ(again->call(rpc::select(record("memory", Value("kept"))))["text"], Value("durable"));
    again->call(rpc::create(record("memory", Value("second")), Value(Object{{"text", Value("also")}})));
    server.kill();  // no clean shutdown this time
    server.restart();
    auto third = cortex::test::connect_signed_in(io.context(), server.url());
    third->call(rpc::use("kv", "db"));
    EXPECT_EQ(third->call(rpc::select(Value(Table{"memory"}))).get<Array>().size(), 2u);
    server.stop();
    EXPECT_FALSE(server.running());
  }
  fs::remove_all(dir);
}

// Before: the child asked for SIGKILL when its parent died (PR_SET_PDEATHSIG), and its parent was
// the *thread* that forked it: a manager built on a std::thread that then ended lost its embedded
// engine, and the next query failed with connect_failed.
TEST(LocalServer, TheEngineOutlivesTheThreadThatStartedIt) {
  auto c = cortex::test::local_config("mem://", "thread_engine");
  std::unique_ptr<cortex::pool::ConnectionManager> m;
  long tid = 0;
  std::thread([&] {
    tid = ::syscall(SYS_gettid);
    m = std::make_unique<cortex::pool::ConnectionManager>(c);
  }).join();
  ASSERT_TRUE(m);
  // join() returns when the thread has run, not when the kernel has finished its exit — which is
  // when the death signal is sent, before the thread's /proc entry goes. Wait for that (an event,
  // not a time; the bound only guards against a hang).
  const std::string task = "/proc/self/task/" + std::to_string(tid);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::access(task.c_str(), F_OK) == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_NE(::access(task.c_str(), F_OK), 0) << "the thread never finished exiting";
  EXPECT_EQ(m->query("RETURN 1").at(0), Value(std::int64_t{1}));
  auto again = cortex::test::connect_signed_in(cortex::test::io(), m->endpoint_url());  // a new connection
  EXPECT_NO_THROW(again->call(rpc::ping()));
}

namespace {

std::string contents(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

// Before: the engine inherited this process's stderr, so whatever it printed — the embedded
// engine's Rust panics among it — landed in the middle of the demo's output in the user's terminal.
// Now it goes to the file log_path() names (the README's $TMPDIR/cortex-surrealdb-<port>.log).
TEST(LocalServer, TheEnginesStderrGoesToItsLogFileNotToOurs) {
  // A stand-in engine that writes to stderr before it says where it listens, so that the line is
  // written by the time the constructor returns (Node writes files and pipes synchronously).
  const std::string marker = cortex::test::unique_name("engine_stderr_marker");
  const fs::path script = fs::temp_directory_path() / (cortex::test::unique_name("stderr_engine") + ".js");
  std::ofstream(script) << "process.stderr.write('" << marker << "\\n');\n"
                        << "const s = require('node:http').createServer((q, r) => r.end());\n"
                        << "s.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${s.address().port}\\n`));\n"
                        << "process.on('SIGTERM', () => process.exit(0));\n";
  LocalServerOptions o;
  o.script = script.string();
  // This process's stderr goes to a file while the engine starts (the child would inherit it).
  const fs::path ours = fs::temp_directory_path() / (cortex::test::unique_name("our_stderr") + ".txt");
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int capture = ::open(ours.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(saved, 0);
  ASSERT_GE(capture, 0);
  ::dup2(capture, STDERR_FILENO);
  ::close(capture);
  auto server = std::make_unique<LocalServer>(o);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);

  const char* tmp = std::getenv("TMPDIR");
  const std::string log = server->log_path();
  EXPECT_EQ(log, std::string(tmp && *tmp ? tmp : "/tmp") + "/cortex-surrealdb-" + std::to_string(server->port()) + ".log");
  EXPECT_NE(contents(log).find(marker), std::string::npos) << log;
  EXPECT_EQ(contents(ours.string()).find(marker), std::string::npos);  // nothing of the engine's in our stderr
  server.reset();
  EXPECT_NE(contents(log).find(marker), std::string::npos) << "a log with something in it outlives the server";
  fs::remove(log);
  fs::remove(ours);
  fs::remove(script);
}
