#pragma once
// Benches run signed in, as against a production server (guests refused). The root user comes from
// SURREAL_USER / SURREAL_PASS when set (a --url server started by someone else, or by e2e.mjs);
// otherwise it is made up here for the engines the bench starts itself. Never printed.
#include <cstdlib>
#include <random>
#include <string>

#include "cortex/storage/local_server.hpp"
#include "cortex/storage/rpc.hpp"

inline const cortex::storage::Credentials& bench_credentials() {
  static const cortex::storage::Credentials creds = [] {
    cortex::storage::Credentials c;
    const char* user = std::getenv("SURREAL_USER");
    const char* pass = std::getenv("SURREAL_PASS");
    c.user = user && *user ? user : "root";
    c.pass = pass && *pass ? pass : "bench-" + std::to_string(std::random_device{}());
    return c;
  }();
  return creds;
}

/// Options for an engine a bench starts itself, with bench_credentials()' root user.
inline cortex::storage::LocalServerOptions bench_server_options() {
  cortex::storage::LocalServerOptions o;
  o.user = bench_credentials().user;
  o.pass = bench_credentials().pass;
  return o;
}
