#!/usr/bin/env bash
# The demo against an http:// endpoint (HTTP RPC): a local engine started here, signed in as root,
# the password passed in the environment only. Exits 0 when every agent finished without error.
#   tests/demo_http.sh CORTEX_DEMO SERVER_JS
set -uo pipefail
DEMO="$1"
SERVER="$2"
fail() { echo "demo_http: $*"; exit 1; }
export SURREAL_PASS="demo-http-$RANDOM$RANDOM"
coproc ENGINE { SURREAL_USER=root exec node "$SERVER" --bind 127.0.0.1:0 --quiet; }
trap 'kill "$ENGINE_PID" 2>/dev/null' EXIT
IFS= read -r -t 60 line <&"${ENGINE[0]}" || fail "the engine did not start"
[[ "$line" =~ ^listening\ on\ (.*)$ ]] || fail "unexpected engine output: $line"
url="http://${BASH_REMATCH[1]}/rpc"
out="$(CORTEX_PASS="$SURREAL_PASS" "$DEMO" --endpoint "$url" --user root --agents 3 --duration 1 2>&1)" || fail "the demo failed on $url: $out"
grep -q "^engine: http://" <<<"$out" || fail "the demo did not run on http://: $out"
echo "$out"
echo "demo_http: ok ($url)"
