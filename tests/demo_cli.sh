#!/usr/bin/env bash
# The demo as a person at a terminal meets it (cortex-demo's path is $1):
#  - on a terminal 40 columns wide, every progress line fits in 39 and is rewritten in place (\r),
#    not stacked;
#  - Ctrl-C (SIGINT) stops the agents, prints the summary table and exits 130.
set -uo pipefail
DEMO="$1"
fail() { echo "demo_cli: $*"; exit 1; }

# 1. Progress on a narrow terminal (script(1) gives the demo a pseudo-terminal).
out="$(script -qfec "stty cols 40; '$DEMO' --agents 2 --duration 2" /dev/null < /dev/null)" || fail "the demo failed on a terminal"
progress="$(printf '%s' "$out" | tr '\r' '\n' | sed 's/\x1b\[K//g' | grep '^\[ *[0-9.]*s\]')" || fail "no progress line on the terminal"
longest="$(printf '%s\n' "$progress" | awk '{ if (length($0) > m) m = length($0) } END { print m }')"
(( longest <= 39 )) || fail "a progress line is $longest columns on a 40-column terminal"
grep -q $'\r\\[' <<<"$out" || fail "progress lines are not rewritten in place"

# 2. Ctrl-C: wait for the first progress line (an event on its output), then interrupt.
coproc DEMO_RUN { exec "$DEMO" --agents 2 --duration 600 2>&1; }
log=""
while IFS= read -r -t 120 line <&"${DEMO_RUN[0]}"; do
  log+="$line"$'\n'
  [[ "$line" == \[* ]] && break
done
[[ "$log" == *$'\n['* ]] || { kill -9 "$DEMO_RUN_PID" 2>/dev/null; fail "no progress line within 120 s: $log"; }
pid=$DEMO_RUN_PID
kill -INT "$pid"
log+="$(timeout 60 cat <&"${DEMO_RUN[0]}")"
wait "$pid"
rc=$?
(( rc == 130 )) || fail "exit status $rc after SIGINT (want 130): $log"
grep -q "interrupted: summary so far" <<<"$log" || fail "no summary after SIGINT: $log"
grep -q "^agent_0 " <<<"$log" || fail "the summary table is missing: $log"
echo "demo_cli: ok (longest progress line $longest columns on 40; SIGINT → summary, exit 130)"
