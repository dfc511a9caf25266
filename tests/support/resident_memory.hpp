#pragma once
// resident_bytes(): this process's resident set size (Linux /proc/self/statm), for tests that bound
// memory growth and benches that report it.
#include <unistd.h>

#include <cstddef>
#include <fstream>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORTEX_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORTEX_TEST_SANITIZED 1
#endif

namespace cortex::test {

/// Whether the resident set says anything about our allocations: not under ASan (its quarantine
/// keeps freed memory resident) nor TSan (its shadow grows with every touched page). Tests bound
/// memory growth only when it does; the normal build checks the bounds.
#ifdef CORTEX_TEST_SANITIZED
inline constexpr bool kResidentMemoryIsMeaningful = false;
#else
inline constexpr bool kResidentMemoryIsMeaningful = true;
#endif

inline std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace cortex::test
