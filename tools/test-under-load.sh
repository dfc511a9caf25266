#!/usr/bin/env bash
# The whole test suite (tools/test.sh: normal, then ThreadSanitizer and AddressSanitizer+UBSan)
# beside N busy loops (default 2), as on a shared CI host or a busy laptop: no test may need a
# quiet machine. Usage: tools/test-under-load.sh [N] [--quick]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=2
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then N="$1"; shift; fi
hogs=()
for ((i = 0; i < N; i++)); do
  sh -c 'while :; do :; done' &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
echo "test-under-load: ${N} busy loops (pids ${hogs[*]})"
start=$(date +%s)
bash "$ROOT/tools/test.sh" "$@"
echo "test-under-load: passed beside ${N} busy loops in $(( $(date +%s) - start )) s"
