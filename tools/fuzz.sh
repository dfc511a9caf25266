#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with Clang — coverage, ASan, UBSan — into build-fuzz
# and runs each from its seed corpus with its dictionary for SECONDS (default 30), printing
# libFuzzer's final statistics (executions, coverage). A finding fails the run; its reproducer is
# left in build-fuzz as crash-*/leak-*/timeout-*.
#   tools/fuzz.sh [--no-build] [SECONDS] [TARGET…]      TARGET: cbor_decode reply_path url_parse
# --no-build runs what BUILD_DIR already holds (tools/test.sh: the Clang ASan tree builds them).
# A long run, e.g. for a release: tools/fuzz.sh 3600 (the corpus grows in build-fuzz/corpus/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD=1
if [[ "${1:-}" == "--no-build" ]]; then BUILD=0; shift; fi
SECONDS_EACH="${1:-30}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(cbor_decode reply_path url_parse)
B="${BUILD_DIR:-$ROOT/build-fuzz}"
if [[ $BUILD == 1 ]]; then
  cmake -S "$ROOT" -B "$B" -DCMAKE_CXX_COMPILER="$(command -v clang++)" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCORTEX_BUILD_FUZZERS=ON -DCORTEX_BUILD_TESTS=OFF -DCORTEX_BUILD_BENCHES=OFF -DCORTEX_BUILD_DEMO=OFF \
        -DCORTEX_BUILD_EXAMPLES=OFF -DCORTEX_INSTALL=OFF >/dev/null
  cmake --build "$B" -j"$(nproc)" --target "${TARGETS[@]/#/fuzz_}" >/dev/null
fi
for t in "${TARGETS[@]}"; do
  dict="$ROOT/tests/fuzz/dict/cbor.dict"
  [[ "$t" == url_parse ]] && dict="$ROOT/tests/fuzz/dict/url.dict"
  mkdir -p "$B/corpus/$t"
  echo "== fuzz_$t: ${SECONDS_EACH}s"
  log="$B/fuzz_$t.log"
  if ! (cd "$B" && "$B/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
          -max_len=65536 -dict="$dict" -print_final_stats=1 "$B/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1); then
    tail -n 60 "$log"
    echo "fuzz: fuzz_$t found a problem (reproducer in $B)"
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|DONE" "$log" || true
done
echo "fuzz: every target ran ${SECONDS_EACH}s without a finding"
