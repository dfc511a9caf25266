#!/usr/bin/env bash
# Runs HikariCP (Debian's libhikaricp-java) on a stub DataSource, then bench_pool_overhead, so both
# pools' acquire+release rates come from the same machine in the same run, then the ratios. Usage: run.sh [BUILD_DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${1:-$HERE/../../build}"
for p in default-jdk-headless libhikaricp-java libslf4j-java; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING="${MISSING:-} $p"
done
if [[ -n "${MISSING:-}" ]]; then (apt-get update -q && apt-get install -y -q --no-install-recommends $MISSING) >&2; fi
CP="/usr/share/java/HikariCP.jar:/usr/share/java/slf4j-api.jar"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
javac -cp "$CP" -d "$OUT" "$HERE/HikariStubBench.java"
{
java -cp "$CP:$OUT" HikariStubBench 2>/dev/null
"$BUILD/benches/bench_pool_overhead" --benchmark_min_time=1 --benchmark_format=console 2>&1 |
  awk '/BM_AcquireRelease/ { split($1, a, "threads:"); rate=$NF; sub("items_per_second=", "", rate);
       kind = ($1 ~ /Contended/) ? "acquire_release_pool4" : "acquire_release";
       mult = (rate ~ /M\/s$/) ? 1e6 : (rate ~ /k\/s$/) ? 1e3 : 1; gsub(/[A-Za-z\/]+$/, "", rate);
       printf("{\"name\":\"cortex.%s.threads%s\",\"value\":%.0f,\"unit\":\"cycles/s\"}\n", kind, a[2], rate * mult) }' 
} | tee "$OUT/figures"
# The ratios, same run: ours over HikariCP's acquire+release rate per thread count.
awk -F'"' '/"name"/ { split($4, n, "."); v = $7; gsub(/[:,]/, "", v);
       if (n[1] == "hikaricp" && n[2] == "acquire_release" && n[4] == "") h[n[3]] = v;
       if (n[1] == "cortex" && n[2] == "acquire_release") c[n[3]] = v }
     END { for (t in c) if (t in h) printf("{\"name\":\"ratio.acquire_release.%s.cortex_over_hikaricp\",\"value\":%.2f,\"unit\":\"ratio\"}\n", t, c[t] / h[t]) }' "$OUT/figures"
