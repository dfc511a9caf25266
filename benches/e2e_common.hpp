#pragma once
// What the end-to-end `RETURN 1` benches share: their command line and the CPU this process has
// used (getrusage user+sys, every thread included), which their per-query figures divide.
#include <sys/resource.h>

#include <cstdlib>
#include <string>

struct E2eArgs {
  std::string url, label = "cpp", path = "connection";
  long queries = 20000;
  int inflight = 64;
  /// --url URL [--queries N] [--inflight K] [--label NAME] [--path connection|manager]; false
  /// when the URL is missing or a count is not positive.
  bool parse(int argc, char** argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string k = argv[i];
      if (k == "--url") url = argv[i + 1];
      else if (k == "--queries") queries = std::atol(argv[i + 1]);
      else if (k == "--inflight") inflight = std::atoi(argv[i + 1]);
      else if (k == "--label") label = argv[i + 1];
      else if (k == "--path") path = argv[i + 1];
    }
    return !url.empty() && queries > 0 && inflight > 0;
  }
};

inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
