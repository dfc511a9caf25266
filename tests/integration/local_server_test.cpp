// LocalServer: a surrealkv:// store keeps its data across a restart (kill -9 included); SIGTERM
// stops the server cleanly.
#include <gtest/gtest.h>

#include <filesystem>

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
