#pragma once
// resident_bytes(): this process's resident set size (Linux /proc/self/statm), for tests that bound
// memory growth and benches that report it.
#include <unistd.h>

#include <cstddef>
#include <fstream>

namespace cortex::test {

inline std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace cortex::test
