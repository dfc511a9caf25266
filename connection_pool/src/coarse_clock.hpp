#pragma once
// coarse_now(): steady_clock's time read from the kernel's tick-granular monotonic clock
// (CLOCK_MONOTONIC_COARSE: about 5 ns to read instead of about 20, resolution one tick, ~4 ms).
// libstdc++'s steady_clock is CLOCK_MONOTONIC, the same timeline, so the two compare; a coarse
// reading may trail a precise one by up to a tick. For the pool's fast lane, whose times only meet
// lifetimes, idle windows and leak thresholds measured in seconds — never for timing waits.
#include <chrono>
#include <ctime>

namespace cortex::pool {

inline std::chrono::steady_clock::time_point coarse_now() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
  }
#endif
  return std::chrono::steady_clock::now();
}

}  // namespace cortex::pool
