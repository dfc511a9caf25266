#pragma once
// within(t): RequestOptions with a per-request deadline of t.
#include <chrono>

#include "cortex/storage/rpc_connection.hpp"

namespace cortex::test {

inline storage::RequestOptions within(std::chrono::milliseconds t) {
  storage::RequestOptions o;
  o.timeout = t;
  return o;
}

}  // namespace cortex::test
