#!/usr/bin/env bash
# Installs the build in $1 (default: build) to a fresh prefix, builds examples/consumer against it
# with find_package(cortex_storage), installs the consumer there and runs it: it must find the
# engine installed under the prefix (not the source tree) and pass. Also checks the pkg-config file,
# and that the same consumer configures with the source tree as a subdirectory without GoogleTest,
# Google Benchmark or CLI11, and without our tests, benches, demo or examples among its targets.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
PREFIX="$BUILD/install-check/prefix"
rm -rf "$BUILD/install-check"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
cmake -S "$ROOT/examples/consumer" -B "$BUILD/install-check/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" \
      -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD/install-check/consumer" -j"$(nproc)" >/dev/null
cmake --install "$BUILD/install-check/consumer" >/dev/null
out="$(env -u CORTEX_SURREALDB_LOCAL_DIR "$PREFIX/bin/cortex-consumer")"
echo "$out"
grep -qx "engine: $PREFIX/bin/../share/cortex_storage/surrealdb-local" <<<"$out" || { echo "check-install: the engine was not found under the prefix"; exit 1; }
grep -qx "consumer: ok" <<<"$out"
PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --exists --print-errors cortex_storage
echo "check-install: ok (pkg-config cortex_storage $(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --modversion cortex_storage))"

SUB="$BUILD/install-check/subdirectory"
cmake --no-warn-unused-cli -S "$ROOT/examples/consumer" -B "$SUB" -DCORTEX_SOURCE_DIR="$ROOT" -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON \
      -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON >/dev/null
targets="$(cmake --build "$SUB" --target help)"
for wanted in cortex-consumer cortex_storage cortex_pool cortex_sessions cortex_metrics; do
  grep -q "\.\.\. $wanted\$" <<<"$targets" || { echo "check-install: add_subdirectory lacks target $wanted"; exit 1; }
done
for unwanted in cortex-demo cortex_unit_tests cortex_integration_tests example_storage_basics bench_pool_overhead; do
  if grep -q "\.\.\. $unwanted\$" <<<"$targets"; then echo "check-install: add_subdirectory builds $unwanted"; exit 1; fi
done
echo "check-install: add_subdirectory ok (library targets only, no GoogleTest needed)"
