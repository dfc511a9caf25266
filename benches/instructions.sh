#!/usr/bin/env bash
# User-space instructions per `RETURN 1` (ours, per path and in-flight count), counted by
# valgrind's callgrind: unlike CPU time, the count does not move with a noisy (virtual) machine,
# so a change to the client's hot path can be compared before and after on any machine. Each
# figure is the difference of two runs (N and 2N queries) over N, which cancels start-up, connect
# and sign-in. Kernel time is not counted (see benches/e2e.mjs and bench_e2e_floor for it).
# Usage: benches/instructions.sh BUILD_DIR [QUERIES]   (needs valgrind: apt-get install valgrind)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:?usage: benches/instructions.sh BUILD_DIR [QUERIES]}" && pwd)"
queries="${2:-2000}"
command -v valgrind >/dev/null || { echo "instructions.sh needs valgrind (apt-get install valgrind)" >&2; exit 2; }

# A local engine signed in like production; the password travels in the environment only.
export SURREAL_USER=root
SURREAL_PASS="bench-$RANDOM$RANDOM"
export SURREAL_PASS
out="$(mktemp)"
node "$here/../tools/surrealdb-local/server.js" --bind 127.0.0.1:0 --quiet >"$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out" "$out".cg' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
url="ws://$(sed 's/listening on //' "$out")/rpc"

count() {  # $@ = bench arguments; prints the instructions callgrind collected
  valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$build/benches/bench_e2e_return1" --url "$url" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for run in "1 connection" "64 connection" "64 manager"; do
  set -- $run
  # The bench runs queries/10+1 warm-up queries before the measured ones.
  a=$(count --queries "$queries" --inflight "$1" --path "$2")
  b=$(count --queries $((2 * queries)) --inflight "$1" --path "$2")
  per=$(( (b - a) / (queries + queries / 10) ))
  echo "{\"name\":\"cpp_$2.return1.inflight$1.user_instructions\",\"value\":$per,\"unit\":\"instructions/query\"}"
done
