#!/usr/bin/env bash
# The README's first command: set up, build, and run cortex-demo on the embedded local engine.
# Arguments go to cortex-demo (e.g. --endpoint ws://host:8000 to use any SurrealDB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh" >&2
exec "${BUILD_DIR:-$ROOT/build}/apps/cortex-demo/cortex-demo" "$@"
