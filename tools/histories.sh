#!/usr/bin/env bash
# The checker's long run (docs/invariants.md): runs the seeded random histories of
# tests/history for a range of seeds (default 1-40) and sums what they checked. Needs a built tree
# ($BUILD_DIR, default build; tools/setup.sh builds it). Exit status: 0 when no history failed.
# Usage: tools/histories.sh [FIRST-LAST]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
RANGE="${1:-1-40}"
LOG="$(mktemp)"
start=$(date +%s)
CORTEX_HISTORY_SEEDS="$RANGE" "$BUILD_DIR/tests/cortex_history_tests" --gtest_filter='Seeds/*' | tee "$LOG" | grep -E '^history |FAILED  \]'
status=${PIPESTATUS[0]}
awk -v secs=$(( $(date +%s) - start )) '
  /^history / { n++; for (i = 3; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } }
  END { printf "histories=%d operations=%d faults=%d violations=%d seconds=%d\n", n, sum["calls"] + sum["steps"], sum["faults"], sum["violations"], secs }' "$LOG"
rm -f "$LOG"
exit "$status"
