// Proves the front speaks the protocol as `surreal start` does: the official JS SDK (npm `surrealdb`)
// connects, signs in, queries with variables, runs a live query. Usage: node sdk-check.mjs ws://HOST:PORT/rpc
import WebSocket from 'ws';
import { Surreal, Table } from 'surrealdb';
globalThis.WebSocket ??= WebSocket; // Node 20 has no global WebSocket
const url = process.argv[2];
const fail = (m) => { console.error(`sdk-check: FAIL ${m}`); process.exit(1); };
const db = new Surreal();
await db.connect(url, { namespace: 'sdk', database: 'check' });
const version = await db.version();
if (!String(version.version ?? version).includes('3.')) fail(`version ${JSON.stringify(version)}`);
const [n] = await db.query('RETURN $a + $b', { a: 40, b: 2 }).collect();
if (n !== 42) fail(`query returned ${n}`);
await db.query('DEFINE TABLE IF NOT EXISTS person');
const seen = [];
const live = await db.live(new Table('person'));
await live.ready();
const got = new Promise((resolve) => live.subscribe((msg) => { seen.push(msg.action); resolve(); }));
await db.create(new Table('person')).content({ name: 'ada' });
await got;
if (seen[0] !== 'CREATE') fail(`live saw ${seen}`);
await live.kill();
await db.close();
console.log('sdk-check: ok (version, query with variables, live query) against', url);
process.exit(0);
