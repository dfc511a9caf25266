#pragma once
// error_of(f): the code of the cortex::Error that f throws, or an empty code when it returns — so a
// test states the expected failure in one EXPECT_EQ.
#include <functional>
#include <string>
#include <system_error>
#include <utility>

#include "cortex/storage/error.hpp"

namespace cortex::test {

inline std::error_code error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cortex::Error& e) {
    return e.code();
  }
  return {};
}

/// The code and the message of the cortex::Error that f throws ({} and "" when it returns).
inline std::pair<std::error_code, std::string> failure_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cortex::Error& e) {
    return {e.code(), e.what()};
  }
  return {};
}

}  // namespace cortex::test
