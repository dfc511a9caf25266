#pragma once
// A clock that never moves by itself: tests pass explicit time points to the sans-I/O cores.
#include <chrono>

namespace cortex::test {

struct FakeClock {
  using duration = std::chrono::milliseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FakeClock>;
  static constexpr bool is_steady = true;
};

}  // namespace cortex::test
