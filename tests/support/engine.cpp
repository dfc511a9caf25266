#include "engine.hpp"

#include <atomic>
#include <cstdlib>

namespace cortex::test {
namespace {

class EngineEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* ext = std::getenv("CORTEX_TEST_ENDPOINT");
    if (ext && *ext) {
      url_ = ext;
    } else {
      server_ = std::make_unique<storage::LocalServer>(private_engine_options());
      url_ = server_->url();
    }
    runner_ = std::make_unique<storage::IoRunner>(1);
  }
  void TearDown() override {
    runner_.reset();
    server_.reset();
  }
  std::string url_;
  std::unique_ptr<storage::LocalServer> server_;
  std::unique_ptr<storage::IoRunner> runner_;
};

EngineEnvironment* env() {
  static EngineEnvironment* e = static_cast<EngineEnvironment*>(::testing::AddGlobalTestEnvironment(new EngineEnvironment));
  return e;
}
// Registered before main() runs the tests.
[[maybe_unused]] const bool registered = (env(), true);

}  // namespace

const std::string& engine_url() { return env()->url_; }
asio::io_context& io() { return env()->runner_->context(); }

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

pool::DatabaseConfig local_config(const std::string& url, const std::string& ns_prefix) {
  pool::DatabaseConfig c;
  c.credentials = root_credentials();
  c.connection_mode.mode = pool::ConnectionMode::Local{url};
  c.pool_config.min_connections = 0;
  c.namespace_ = unique_name(ns_prefix);
  return c;
}

const storage::Credentials& root_credentials() {
  static const storage::Credentials creds = [] {
    storage::Credentials c;
    const char* user = std::getenv("CORTEX_TEST_USER");
    const char* pass = std::getenv("CORTEX_TEST_PASS");
    c.user = user && *user ? user : "root";
    c.pass = pass && *pass ? pass : "cortex-test-secret";
    return c;
  }();
  return creds;
}

storage::Credentials record_credentials(const std::string& ns, const std::string& db, const std::string& ac,
                                        storage::Object vars) {
  storage::Credentials c;
  c.ns = ns;
  c.db = db;
  c.ac = ac;
  c.vars = std::move(vars);
  return c;
}

std::shared_ptr<storage::RpcConnection> connect_signed_in(asio::io_context& io, const std::string& url,
                                                          storage::ConnectOptions options) {
  auto c = storage::RpcConnection::connect(io, url, options);
  c->call(storage::rpc::signin(root_credentials()));
  return c;
}

std::shared_ptr<storage::RpcConnection> connect_fresh(std::string* ns_out, storage::ConnectOptions options) {
  auto c = connect_signed_in(io(), engine_url(), options);
  const std::string ns = unique_name("ns");
  c->call(storage::rpc::use(ns, "test"));
  if (ns_out) *ns_out = ns;
  return c;
}

storage::LocalServerOptions private_engine_options() {
  storage::LocalServerOptions o;
  o.quiet = true;
  o.user = root_credentials().user;
  o.pass = root_credentials().pass;
  return o;
}

}  // namespace cortex::test

namespace cortex::test {
storage::LocalServerOptions fault_server_options(const std::string& mode) {
  storage::LocalServerOptions o;
  o.script = CORTEX_TEST_SUPPORT_DIR "/fault-server.js";
  o.extra_args = {"--mode", mode};
  return o;
}
}  // namespace cortex::test
