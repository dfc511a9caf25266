#!/usr/bin/env bash
# Starts the local server on a free port and has the official JS SDK (npm `surrealdb`) use it:
# proof that the front speaks SurrealDB's protocol as `surreal start` does. Exit 0 = pass.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
mkfifo "$TMP/out"
node "$DIR/server.js" --bind 127.0.0.1:0 --quiet >"$TMP/out" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
exec 3<"$TMP/out"
read -r -t 60 line <&3 || { echo "server did not start" >&2; exit 1; }  # "listening on HOST:PORT"
node "$DIR/sdk-check.mjs" "ws://${line##listening on }/rpc"
