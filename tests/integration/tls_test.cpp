// wss:// and https:// (HTTP RPC) against the local server with a self-signed certificate made for
// the test: verification is on by default (an unknown CA is refused, typed), a CA file makes it
// pass, and it can be off.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cortex/storage/error.hpp"
#include "engine.hpp"

using namespace cortex::storage;
namespace fs = std::filesystem;

class Tls : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / cortex::test::unique_name("cortex_tls");
    fs::create_directories(dir_);
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                            "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + (dir_ / "key.pem").string() +
                            " -out " + (dir_ / "cert.pem").string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
    auto o = cortex::test::private_engine_options();
    o.extra_args = {"--web-crt", (dir_ / "cert.pem").string(), "--web-key", (dir_ / "key.pem").string()};
    server_ = std::make_unique<LocalServer>(o);
    url_ = std::string(GetParam()) + "://localhost:" + std::to_string(server_->port()) + "/rpc";
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<LocalServer> server_;
  std::string url_;
  IoRunner io_{1};
};

TEST_P(Tls, VerifiedWithTheCaFile) {
  ConnectOptions o;
  o.ca_file = (dir_ / "cert.pem").string();
  auto c = cortex::test::connect_signed_in(io_.context(), url_, o);
  EXPECT_EQ(c->query("RETURN 'over tls'").at(0), Value("over tls"));
}

TEST_P(Tls, UnknownCertificateIsRefusedByDefault) {
  ConnectOptions o;
  o.connect_timeout = std::chrono::minutes(5);  // the refusal is immediate, not a timeout
  try {
    cortex::test::connect_signed_in(io_.context(), url_, o);
    FAIL() << "self-signed certificate accepted without a CA file";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(cortex::Errc::connect_failed)) << e.what();
  }
}

TEST_P(Tls, VerificationCanBeTurnedOff) {
  ConnectOptions o;
  o.verify_peer = false;
  auto c = cortex::test::connect_signed_in(io_.context(), url_, o);
  EXPECT_TRUE(c->call(rpc::ping()).is_none());
}

INSTANTIATE_TEST_SUITE_P(Schemes, Tls, ::testing::Values("wss", "https"));
