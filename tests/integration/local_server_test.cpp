// LocalServer: a surrealkv:// store keeps its data across a restart (kill -9 included); SIGTERM
// stops the server cleanly; the engine lives as long as its LocalServer, whichever thread made it.
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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
