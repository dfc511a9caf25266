#pragma once
// Test support: a real SurrealDB engine (tools/surrealdb-local, or `surreal` on PATH) per test
// process, started on a free port by a GoogleTest environment, plus an io thread to drive clients.
// CORTEX_TEST_ENDPOINT=ws://… points the tests at an already running `surreal start` instead.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cortex/pool/database_config.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::test {

/// The root user every test engine is started with (guests refused, as `surreal start`). With
/// CORTEX_TEST_ENDPOINT, CORTEX_TEST_USER/CORTEX_TEST_PASS name that server's root user.
const storage::Credentials& root_credentials();
/// Record-access credentials: access `ac` of database `db` in namespace `ns`, with its variables.
storage::Credentials record_credentials(const std::string& ns, const std::string& db, const std::string& ac,
                                        storage::Object vars);
/// Connects and signs in as root_credentials().
std::shared_ptr<storage::RpcConnection> connect_signed_in(asio::io_context& io, const std::string& url,
                                                          storage::ConnectOptions options = {});

/// URL of the shared engine of this test process.
const std::string& engine_url();
/// The io context (one thread) shared by this process's clients.
asio::io_context& io();
/// A signed-in connection to the shared engine with `use` set to a namespace/database unique to the caller.
std::shared_ptr<storage::RpcConnection> connect_fresh(std::string* ns_out = nullptr,
                                                      storage::ConnectOptions options = {});
/// A unique name for namespaces, tables and records of one test.
std::string unique_name(const std::string& prefix);

/// A manager's config for one endpoint in Local mode, signed in as root_credentials(), in a
/// namespace unique to the caller (named after `ns_prefix`), no connection opened up front.
pool::DatabaseConfig local_config(const std::string& url, const std::string& ns_prefix);

/// Options for a private engine (for tests that kill or pause it), with the root user set.
storage::LocalServerOptions private_engine_options();

}  // namespace cortex::test

namespace cortex::test {
/// Options for tests/support/fault-server.js in `mode` (no-subprotocol, http-error, garbage,
/// idless-error, v2).
storage::LocalServerOptions fault_server_options(const std::string& mode);
}  // namespace cortex::test
