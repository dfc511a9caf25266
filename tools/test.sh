#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite (unit, integration,
# load; each integration test starts its own engine on a free port; the install check builds
# examples/consumer against a fresh install). Then, unless --quick, the whole suite again under
# ThreadSanitizer (GCC) and under AddressSanitizer+UBSan (Clang), and the libFuzzer targets for a
# bounded smoke run each (FUZZ_SECONDS, default 20; built in the Clang tree).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0; [[ "${1:-}" == "--quick" ]] && QUICK=1

run_suite() {  # $1 = build dir, $2 = ctest label regex
  (cd "$1" && ctest --output-on-failure -j"$(nproc)" -L "$2" --timeout 300)
}

"$ROOT/tools/setup.sh"
run_suite "$ROOT/build" "unit|integration|load|install"
if [[ $QUICK == 0 ]]; then
  # ThreadSanitizer with GCC; AddressSanitizer+UBSan with Clang, so both compilers build and run
  # the whole suite.
  for s in thread address; do
    cxx=g++; [[ $s == address ]] && cxx=clang++
    echo "== $s sanitizer ($cxx) =="
    CXX=$cxx BUILD_DIR="$ROOT/build-$s" "$ROOT/tools/setup.sh" --sanitize "$s"
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=1" \
      UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" run_suite "$ROOT/build-$s" "unit|integration|load"
  done
  BUILD_DIR="$ROOT/build-address" "$ROOT/tools/fuzz.sh" --no-build "${FUZZ_SECONDS:-20}"
fi
