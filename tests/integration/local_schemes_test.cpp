// Every local scheme through DatabaseConfig, as users configure them: surrealkv://, rocksdb:// and
// file:// (its alias) keep their data when the manager goes and comes back and when the engine is
// killed with SIGKILL; mem://NAME is one engine per name in the process, plain mem:// a fresh one.
#include <gtest/gtest.h>

#include <filesystem>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/local_server.hpp"
#include "engine.hpp"

using namespace cortex::pool;
using namespace cortex::storage;
namespace fs = std::filesystem;

namespace {

// One namespace for the whole test: each scheme's data must be found again under the same name.
DatabaseConfig config_for(const std::string& url) {
  static const DatabaseConfig base = cortex::test::local_config("mem://", "schemes");
  DatabaseConfig c = base;
  c.connection_mode.mode = ConnectionMode::Local{url};
  return c;
}

std::size_t count(ConnectionManager& m) {
  // (3.x refuses to select from a table never defined: a fresh engine has none)
  return m.execute_with_retry([&] { return m.query("DEFINE TABLE IF NOT EXISTS note; SELECT * FROM note").at(1).get<Array>().size(); });
}

void write(ConnectionManager& m, const std::string& text) {
  m.execute_with_retry([&] { m.query("CREATE note SET text = $t", {{"t", Value(text)}}).throw_if_error(); });
}

}  // namespace

class PersistentScheme : public ::testing::TestWithParam<const char*> {};

TEST_P(PersistentScheme, KeepsItsDataAcrossAManagerRestartAndAKill) {
  const fs::path dir = fs::temp_directory_path() / cortex::test::unique_name("cortex_scheme");
  const std::string url = std::string(GetParam()) + "://" + dir.string();
  {
    ConnectionManager m(config_for(url));
    write(m, "before the restart");
  }  // the manager stops its engine
  {
    ConnectionManager m(config_for(url));
    EXPECT_EQ(count(m), 1u);
    write(m, "before the kill");
    // The same engine the manager runs (one per directory in the process): killed, no shutdown.
    auto engine = LocalServer::shared(parse_endpoint(url));
    engine->kill();
    engine->restart();
    EXPECT_EQ(count(m), 2u);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Schemes, PersistentScheme, ::testing::Values("surrealkv", "rocksdb", "file"));

TEST(LocalSchemes, NamedMemEnginesAreOnePerNameAndPlainMemIsFresh) {
  const std::string alpha = "mem://" + cortex::test::unique_name("alpha");
  const std::string beta = "mem://" + cortex::test::unique_name("beta");
  ConnectionManager a1(config_for(alpha));
  ConnectionManager a2(config_for(alpha));
  ConnectionManager b(config_for(beta));
  write(a1, "in alpha");
  EXPECT_EQ(a1.endpoint_url(), a2.endpoint_url());  // one engine
  EXPECT_EQ(count(a2), 1u);
  EXPECT_NE(b.endpoint_url(), a1.endpoint_url());
  EXPECT_EQ(count(b), 0u);
  ConnectionManager fresh1(config_for("mem://"));
  ConnectionManager fresh2(config_for("mem://"));
  write(fresh1, "in a fresh engine");
  EXPECT_EQ(count(fresh2), 0u);
  EXPECT_NE(fresh1.endpoint_url(), fresh2.endpoint_url());
}
