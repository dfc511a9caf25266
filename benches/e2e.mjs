// Runs the end-to-end `RETURN 1` benchmark side by side: this library (bench_e2e_return1) and the
// official JS SDK, against one local server started here, at 1 and 64 in flight. Prints every
// figure and the ratios as JSON lines. Usage: node benches/e2e.mjs BUILD_DIR [QUERIES]
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = path.resolve(process.argv[2] ?? path.join(here, '..', 'build'));
const queries = process.argv[3] ?? '20000';
const endpoint = process.env.CORTEX_BENCH_ENDPOINT;  // e.g. a real `surreal start`

// Signed in like production: the server started here gets a root user whose password travels in
// the environment (SURREAL_USER/SURREAL_PASS), which both clients read too; never printed.
process.env.SURREAL_USER ??= 'root';
process.env.SURREAL_PASS ??= `bench-${Math.random().toString(36).slice(2)}`;
let server = null;
let url = endpoint;
if (!url) {
  server = spawn('node', [path.join(here, '..', 'tools', 'surrealdb-local', 'server.js'), '--bind', '127.0.0.1:0', '--quiet'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const line = await new Promise((resolve) => readline.createInterface({ input: server.stdout }).once('line', resolve));
  url = `ws://${line.replace('listening on ', '')}/rpc`;
}

// A shared virtual machine's speed drifts from minute to minute: the clients run in interleaved
// rounds (CORTEX_BENCH_ROUNDS, default 3) and each figure is the median of its rounds, printed
// after the per-round lines; the ratios are taken between medians.
const rounds = Number(process.env.CORTEX_BENCH_ROUNDS ?? 3);
const samples = {};
// Prints and keeps each figure of `output`; returns the first figure's name.
function record(output) {
  const names = [];
  for (const line of output.split('\n').filter(Boolean)) {
    console.log(line);
    const f = JSON.parse(line);
    (samples[f.name] ??= []).push(f.value);
    names.push(f.name);
  }
  return names[0];
}
// The server's CPU (every thread, utime+stime from /proc) per query of each client's run, when the
// server was started here: on 2 cores client and server share the CPU, so what one client leaves
// the server, and how it batches, shows here. Over the run's warm-up and measured queries both
// (every client warms up with a tenth), its signin included (~1 % of the figure).
const ticksPerSecond = 100;  // USER_HZ, the unit of /proc/PID/stat's times on Linux
function serverTicks() {
  const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);  // utime, stime (fields 14 and 15)
}
// Runs one client; its server CPU figure is named like its own (`cpp.return1.inflight1.throughput`
// → `cpp.return1.inflight1.server_cpu`).
function run(file, args) {
  const before = server ? serverTicks() : 0;
  const first = record(execFileSync(file, args, { encoding: 'utf8' }));
  if (server) {
    const name = first.slice(0, first.lastIndexOf('.'));
    const perQuery = (serverTicks() - before) / ticksPerSecond / (Number(queries) + Math.floor(Number(queries) / 10) + 1) * 1e6;
    record(JSON.stringify({ name: `${name}.server_cpu`, value: +perQuery.toFixed(2), unit: 'us/query' }));
  }
}
const cpp = path.join(buildDir, 'benches', 'bench_e2e_return1');
for (let round = 0; round < rounds; round++) {
  for (const inflight of ['1', '64']) {
    run(cpp, ['--url', url, '--queries', queries, '--inflight', inflight]);
    if (inflight === '64') {
      run(cpp, ['--url', url, '--queries', queries, '--inflight', inflight, '--path', 'manager']);
    }
    run('node', [path.join(here, 'js_sdk_return1.mjs'), url, queries, inflight]);
    // The yardstick: the least CPU any client spends per query here, and the most throughput any
    // client gets (bench_e2e_floor.cpp).
    run(path.join(buildDir, 'benches', 'bench_e2e_floor'), ['--url', url, '--queries', queries, '--inflight', inflight]);
  }
}
const figures = {};
for (const [name, values] of Object.entries(samples)) {
  const sorted = [...values].sort((x, y) => x - y);
  figures[name] = sorted[Math.floor(sorted.length / 2)];
  console.log(JSON.stringify({ name: `median.${name}`, value: figures[name], rounds: values.length }));
}
for (const inflight of [1, 64]) {
  const c = `cpp.return1.inflight${inflight}`, j = `js_sdk.return1.inflight${inflight}`;
  const ratio = (name, value) => console.log(JSON.stringify({ name, value: +value.toFixed(2), unit: 'ratio' }));
  ratio(`ratio.return1.inflight${inflight}.throughput_cpp_over_js`, figures[`${c}.throughput`] / figures[`${j}.throughput`]);
  ratio(`ratio.return1.inflight${inflight}.client_cpu_js_over_cpp`, figures[`${j}.client_cpu`] / figures[`${c}.client_cpu`]);
  // The most any client could reach here (JS SDK over the floor), and how far above the floor we are.
  ratio(`ratio.return1.inflight${inflight}.client_cpu_js_over_floor`, figures[`${j}.client_cpu`] / figures[`floor.return1.inflight${inflight}.client_cpu`]);
  ratio(`ratio.return1.inflight${inflight}.client_cpu_cpp_over_floor`, figures[`${c}.client_cpu`] / figures[`floor.return1.inflight${inflight}.client_cpu`]);
  // The most throughput any client could show against the JS SDK here.
  ratio(`ratio.return1.inflight${inflight}.throughput_floor_over_js`, figures[`floor.return1.inflight${inflight}.throughput`] / figures[`${j}.throughput`]);
}
const mgr = 'cpp_manager.return1.inflight64';
console.log(JSON.stringify({ name: 'ratio.return1.inflight64.throughput_manager_over_js', value: +(figures[`${mgr}.throughput`] / figures['js_sdk.return1.inflight64.throughput']).toFixed(2), unit: 'ratio' }));
console.log(JSON.stringify({ name: 'ratio.return1.inflight64.client_cpu_js_over_manager', value: +(figures['js_sdk.return1.inflight64.client_cpu'] / figures[`${mgr}.client_cpu`]).toFixed(2), unit: 'ratio' }));
server?.kill('SIGTERM');
