// The official JS SDK (npm `surrealdb`) doing what bench_e2e_return1 does: `RETURN 1` over one
// connection with K in flight; prints the same JSON lines (client CPU from process.cpuUsage()).
// Usage: node js_sdk_return1.mjs URL QUERIES INFLIGHT
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const engineDir = path.join(here, '..', 'tools', 'surrealdb-local');
const require = createRequire(path.join(engineDir, 'package.json'));
const WebSocket = require('ws');
const { Surreal } = require('surrealdb');
globalThis.WebSocket ??= WebSocket;  // Node 20 has no global WebSocket

const [url, queriesArg, inflightArg] = process.argv.slice(2);
const queries = Number(queriesArg ?? 20000);
const inflight = Number(inflightArg ?? 64);
const db = new Surreal();
await db.connect(url);
if (process.env.SURREAL_PASS) {
  await db.signin({ username: process.env.SURREAL_USER ?? 'root', password: process.env.SURREAL_PASS });
}

async function run(total) {
  let issued = 0;
  const worker = async () => {
    while (issued < total) {
      issued++;
      await db.query('RETURN 1').collect();
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

await run(Math.floor(queries / 10) + 1);  // warm-up (JIT included)
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await run(queries);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const name = `js_sdk.return1.inflight${inflight}`;
console.log(JSON.stringify({ name: `${name}.throughput`, value: +(queries / wall).toFixed(1), unit: 'queries/s' }));
console.log(JSON.stringify({ name: `${name}.client_cpu`, value: +(((cpu.user + cpu.system) / queries)).toFixed(2), unit: 'us/query' }));
await db.close();
process.exit(0);
