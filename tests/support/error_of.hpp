#pragma once
// error_of(f): the code of the cortex::Error that f throws, or an empty code when it returns — so a
// test states the expected failure in one EXPECT_EQ.
#include <functional>
#include <system_error>

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

}  // namespace cortex::test
