#!/usr/bin/env bash
# Installs what cortex-storage needs on a fresh Debian machine (apt packages, the local engine's
# npm packages), then configures and builds into $BUILD_DIR (default: build). Safe to re-run: it
# installs only what is missing. Usage: [CXX=clang++] tools/setup.sh [--sanitize address|thread]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SANITIZE=""
if [[ "${1:-}" == "--sanitize" ]]; then SANITIZE="${2:?--sanitize needs address or thread}"; fi
BUILD_DIR="${BUILD_DIR:-$ROOT/build${SANITIZE:+-$SANITIZE}}"

APT_PACKAGES=(g++ clang cmake make pkg-config libasio-dev libwebsocketpp-dev nlohmann-json3-dev libssl-dev
              libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev ca-certificates openssl
              prometheus libclang-rt-14-dev)  # promtool checks the metrics text; clang's sanitizer and libFuzzer runtimes
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The local engine: npm packages pinned by the committed package-lock.json.
ENGINE="$ROOT/tools/surrealdb-local"
if [[ ! -d "$ENGINE/node_modules/@surrealdb/node" || "$ENGINE/package-lock.json" -nt "$ENGINE/node_modules/.package-lock.json" ]]; then
  echo "setup: npm ci in tools/surrealdb-local"
  (cd "$ENGINE" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Sanitizer builds exist to run the suite: the benches (never run by ctest) are left out of them,
# and the ThreadSanitizer tree leaves out the examples too (run in the normal and ASan trees; the
# whole CI run must stay under 30 minutes on 2 cores).
BENCHES=ON; [[ -n "$SANITIZE" ]] && BENCHES=OFF
EXAMPLES=ON; [[ "$SANITIZE" == thread ]] && EXAMPLES=OFF
# CXX picks the compiler; a build directory configured with another one starts afresh.
COMPILER=()
if [[ -n "${CXX:-}" ]]; then
  CXX_BIN="$(command -v "$CXX")"
  if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=$CXX_BIN\$" "$BUILD_DIR/CMakeCache.txt"; then
    echo "setup: $BUILD_DIR was configured with another compiler; starting it afresh"
    rm -rf "$BUILD_DIR"
  fi
  COMPILER=(-DCMAKE_CXX_COMPILER="$CXX_BIN")
fi
# The Clang AddressSanitizer tree also builds the libFuzzer targets (tests/fuzz; tools/fuzz.sh).
FUZZERS=OFF
if [[ "$SANITIZE" == address && "$("${CXX:-c++}" --version 2>/dev/null)" == *clang* ]]; then FUZZERS=ON; fi
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORTEX_SANITIZE="$SANITIZE" \
      -DCORTEX_BUILD_BENCHES="$BENCHES" -DCORTEX_BUILD_EXAMPLES="$EXAMPLES" -DCORTEX_BUILD_FUZZERS="$FUZZERS" \
      "${COMPILER[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
