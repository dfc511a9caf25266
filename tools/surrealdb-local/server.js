#!/usr/bin/env node
'use strict';
// Serves SurrealDB's own engine (npm @surrealdb/node, SurrealDB 3.0.2; with --engine 2 the 2.1.1
// engine, see engine2.js) the way `surreal start` does: GET /rpc WebSocket with the `cbor`
// subprotocol, /health, /status, /version. Every socket gets its own server-side session; replies
// carry the request's id; live-query notifications go to the socket that owns the session. See
// docs/protocol.md §8.
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const cbor = require('./cbor');

// The package's `exports` hides the native module; load it by path (docs/protocol.md §8).
const pkgDir = path.join(__dirname, 'node_modules', '@surrealdb', 'node');
let ENGINE_VERSION = '';  // set when the engine is open
const MAX_MESSAGE = 128 * 1024 * 1024;

function usage(msg) {
  process.stderr.write(`${msg ? msg + '\n' : ''}usage: server.js [--bind HOST:PORT] [--store mem://|surrealkv://DIR|rocksdb://DIR]` +
    ' [--engine 3|2] [--user NAME --pass PASSWORD] [--allow-guests] [--web-crt CERT.pem --web-key KEY.pem] [--quiet]\n' +
    'SURREAL_USER and SURREAL_PASS in the environment stand for --user/--pass (keeps the password out of argv).\n');
  process.exit(2);
}

function parseArgs(argv) {
  // As `surreal start`, the root user may come from the environment, so that its password never
  // shows in /proc/PID/cmdline; flags win over the environment.
  const env = process.env;
  const o = { bind: '127.0.0.1:8000', store: 'mem://', user: env.SURREAL_USER || null, pass: env.SURREAL_PASS || null,
    quiet: false, cert: null, key: null, allowGuests: false, engine: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--bind' || a === '-b') o.bind = val();
    else if (a === '--store') o.store = val();
    else if (a === '--user' || a === '-u') o.user = val();
    else if (a === '--pass' || a === '-p') o.pass = val();
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--allow-guests') o.allowGuests = true;
    else if (a === '--engine') o.engine = Number(val());
    else if (a === '--web-crt' || a === '--tls-cert') o.cert = val();
    else if (a === '--web-key' || a === '--tls-key') o.key = val();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if ((o.user === null) !== (o.pass === null)) usage('--user and --pass go together');
  if ((o.cert === null) !== (o.key === null)) usage('--web-crt and --web-key go together');
  if (o.engine !== 2 && o.engine !== 3) usage('--engine is 3 (SurrealDB 3.0.2, the default) or 2 (SurrealDB 2.1.1)');
  if (!/^(mem:\/\/|surrealkv:\/\/.+|rocksdb:\/\/.+)$/.test(o.store)) usage(`unsupported --store ${o.store}`);
  const m = /^(.*):(\d+)$/.exec(o.bind);
  if (!m) usage(`--bind wants HOST:PORT, got ${o.bind}`);
  o.host = m[1].replace(/^\[|\]$/g, '');
  o.port = Number(m[2]);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => { if (!opts.quiet) process.stderr.write(`[surrealdb-local] ${a.join(' ')}\n`); };

function errorMap(code, message, kind, details) {
  const pairs = [['code', Buffer.from(cbor.lenHead(1, -1 - code))], ['kind', cbor.textItem(kind)],
    ['message', cbor.textItem(message)]];
  if (details) pairs.push(['details', details]);
  return cbor.buildMap(pairs);
}

// Guest access, as `surreal start` has it off by default: the engine enforces no authentication
// (docs/protocol.md §8), so this front gates each session itself. SurrealDB lets an anonymous session
// manage its connection and authenticate; everything that runs through the query executor
// (`Datastore::check_anon`: queries, record methods, run, live, kill, info) is refused with the
// engine's IAM error.
const GUEST_METHODS = new Set(['ping', 'version', 'use', 'signin', 'signup', 'authenticate', 'invalidate', 'reset',
  'let', 'set', 'unset', 'attach', 'detach', 'sessions', 'begin', 'commit', 'cancel', 'refresh', 'revoke']);
const AUTH_METHODS = new Set(['signin', 'signup', 'authenticate']);
const UNAUTH_METHODS = new Set(['invalidate', 'reset', 'detach']);
function notAllowedError() {
  const actor = cbor.buildMap([['actor', cbor.textItem('anonymous')], ['action', cbor.textItem('')],
    ['resource', cbor.textItem('')]]);
  const inner = cbor.buildMap([['kind', cbor.textItem('NotAllowed')], ['details', actor]]);
  const details = cbor.buildMap([['kind', cbor.textItem('Auth')], ['details', inner]]);
  return errorMap(-32000, 'IAM error: Not enough permissions to perform this action', 'NotAllowed', details);
}

// The engine answers with the bare result, or `{error:{code,message,…}}` on failure. A bare result
// can itself be a one-key map `error` (`RETURN {error: 1}`), so also require the inner `code`.
const ERROR_PREFIX = Buffer.from([0xa1, 0x65, ...Buffer.from('error')]);
function splitEngineReply(buf) {
  if (buf.length > ERROR_PREFIX.length && buf.subarray(0, ERROR_PREFIX.length).equals(ERROR_PREFIX)) {
    const inner = buf.subarray(ERROR_PREFIX.length);
    try {
      const [major] = cbor.head(inner, 0);
      if (major === 5) {
        const keys = cbor.mapEntries(inner).map((e) => e.key);
        if (keys.includes('code') && keys.includes('message')) return ['error', inner];
      }
    } catch (_) { /* not an error envelope */ }
  }
  return ['result', buf];
}

// Live query ids (hex of their CBOR) in a `live` result (a uuid) or a `query` result (statements of
// type "live"), so notifications can be routed to the socket that started them.
const LIVE_TYPE = cbor.textItem('live');
function liveIds(method, buf) {
  if (method === 'live') return [buf.toString('hex')];
  const out = [];
  try {
    const [major, count, p] = cbor.head(buf, 0);
    if (major !== 4 || count < 0) return out;
    let q = p;
    for (let i = 0; i < count; i++) {
      const end = cbor.skip(buf, q);
      const item = buf.subarray(q, end);
      if (cbor.head(item, 0)[0] === 5) {
        const es = cbor.mapEntries(item);
        const type = es.find((e) => e.key === 'type');
        const result = es.find((e) => e.key === 'result');
        if (type && result && item.subarray(type.start, type.end).equals(LIVE_TYPE)) {
          out.push(item.subarray(result.start, result.end).toString('hex'));
        }
      }
      q = end;
    }
  } catch (_) { /* not a statement list */ }
  return out;
}

// The 3.x engine, or with --engine 2 the 2.1.1 one behind the same execute() contract.
async function openEngine() {
  if (opts.engine === 2) {
    const { Engine2 } = require('./engine2');
    const e = await Engine2.connect(opts.store);
    return [e, e.version];
  }
  const { SurrealNodeEngine } = require(path.join(pkgDir, 'dist', 'surrealdb-node.linux-x64-gnu.node'));
  return [await SurrealNodeEngine.connect(opts.store, {}), 'surrealdb-' + require(path.join(pkgDir, 'package.json')).surreal];
}

async function main() {
  const [engine, version] = await openEngine();
  ENGINE_VERSION = version;
  const sessionOwners = new Map(); // session uuid hex -> socket state
  const guestsRefused = opts.user !== null && !opts.allowGuests;
  const liveOwners = new Map(); // live query uuid hex -> socket state

  // The engine's calls in flight. stop() frees the engine only once none is left and refuses new
  // ones: a call that reaches a freed engine panics in it (`Option::unwrap()` on `None` at
  // src-rust/app/mod.rs:56, @surrealdb/node 3.0.x), printed from a tokio thread. SIGTERM came while
  // calls were in flight whenever a client stopped the server right after closing its sockets: the
  // detaches this front runs for a closed socket's sessions, a request still running.
  let inFlight = 0;
  let stopping = false;
  let onDrained = null;
  async function exec(pairs) {
    if (stopping) throw new Error('the server is shutting down');
    inFlight++;
    try {
      return Buffer.from(await engine.execute(cbor.buildMap(pairs)));
    } finally {
      if (--inFlight === 0 && onDrained) onDrained();
    }
  }

  if (opts.user !== null) {
    // DEFINE USER accepts only a string literal for PASSWORD (a $variable is a parse error on 3.0.2),
    // so the password is escaped into one; limiting it to printable ASCII keeps that escape exact.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.user)) usage('--user must be an identifier');
    if (!/^[\x20-\x7e]+$/.test(opts.pass)) usage('--pass must be printable ASCII');
    const literal = "'" + opts.pass.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
    const sql = `DEFINE USER OVERWRITE ${opts.user} ON ROOT PASSWORD ${literal} ROLES OWNER`;
    const params = Buffer.concat([Buffer.from([0x81]), cbor.textItem(sql)]);
    const reply = await exec([['id', Buffer.from([0x00])], ['method', cbor.textItem('query')], ['params', params]]);
    if (splitEngineReply(reply)[0] === 'error' || reply.includes(Buffer.from('ERR'))) {
      throw new Error('could not define the root user (check --user/--pass)');
    }
  }

  // The 2.1.1 build has no notification channel (engine2.js refuses live queries instead).
  if (engine.notifications) (async () => {
    const rx = await engine.notifications();
    for (;;) {
      const raw = await rx.recv();
      if (raw === null) break;
      const note = Buffer.from(raw);
      let entries;
      try { entries = cbor.mapEntries(note); } catch (_) { continue; }
      // Route by live query id: notifications of `LIVE SELECT` run through `query` carry session NONE.
      const idE = entries.find((e) => e.key === 'id');
      const session = entries.find((e) => e.key === 'session');
      let owner = idE && liveOwners.get(note.subarray(idE.start, idE.end).toString('hex'));
      const sessRaw = session ? note.subarray(session.start, session.end) : Buffer.alloc(0);
      if (!owner && session) owner = sessionOwners.get(sessRaw.toString('hex'));
      if (!owner || owner.ws.readyState !== 1) continue;
      if (!session || sessRaw.equals(owner.defaultSession) || cbor.isNullish(sessRaw, 0, sessRaw.length)) {
        // The socket's own session is its *default* session to the client, which has no id on
        // `surreal start`: strip it so SDKs route the notification as theirs.
        const rest = entries.filter((e) => e.key !== 'session').map((e) => [e.key, note.subarray(e.start, e.end)]);
        owner.ws.send(cbor.buildMap([['result', cbor.buildMap(rest)]]), { binary: true });
      } else {
        owner.ws.send(cbor.buildMap([['result', note], ['session', sessRaw]]), { binary: true });
      }
    }
  })().catch((e) => log('notification loop ended:', e.message));

  const handler = (req, res) => {
    res.setHeader('server', 'SurrealDB');
    res.setHeader('surreal-version', ENGINE_VERSION);
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && (url === '/health' || url === '/status')) { res.writeHead(200); res.end(); }
    else if (req.method === 'GET' && url === '/version') { res.writeHead(200); res.end(ENGINE_VERSION); }
    else if (req.method === 'POST' && url === '/rpc') httpRpc(req, res);
    else if (url === '/rpc') { res.writeHead(405); res.end('POST a CBOR request, or upgrade to a WebSocket, on /rpc\n'); }
    else { res.writeHead(404); res.end('not found\n'); }
  };

  // HTTP RPC as SurrealDB serves it: one request per POST, CBOR both ways, a reply without id
  // (the request's id is echoed when it has one). Each request runs in a session of its own, set
  // up from the headers: Surreal-NS / Surreal-DB, and Authorization: Bearer TOKEN. Nothing
  // outlives the request: no live queries, no sessions, no transactions over HTTP.
  const HTTP_REFUSED = new Set(['live', 'kill', 'attach', 'detach', 'sessions', 'begin', 'commit', 'cancel']);
  function httpRpc(req, res) {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_MESSAGE) { res.writeHead(413); res.end(); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const answer = (status, field, value, id) => {
        res.writeHead(status, { 'content-type': 'application/cbor' });
        res.end(cbor.buildMap([...(id ? [['id', id]] : []), [field, value]]));
      };
      let entries;
      try { entries = cbor.mapEntries(body); } catch (e) {
        return answer(400, 'error', errorMap(-32700, `Parse error: ${e.message}`, 'Serialization'));
      }
      const get = (k) => { const e = entries.find((x) => x.key === k); return e ? body.subarray(e.start, e.end) : null; };
      const id = get('id');
      const method = get('method') ? cbor.readText(get('method'), 0) : null;
      if (method === null) return answer(400, 'error', errorMap(-32600, 'Invalid request: method must be text', 'Validation'), id);
      if (HTTP_REFUSED.has(method)) {
        return answer(400, 'error', errorMap(-32601, `Method not allowed over HTTP: ${method} needs a WebSocket`, 'Validation'), id);
      }
      const own = crypto.randomBytes(16);
      own[6] = (own[6] & 0x0f) | 0x40; own[8] = (own[8] & 0x3f) | 0x80;
      const session = cbor.uuidItem(own);
      const call = (m, params) => exec([['id', Buffer.from([0x00])], ['method', cbor.textItem(m)], ['params', params], ['session', session]]);
      try {
        await call('attach', Buffer.from([0x80]));
        const ns = req.headers['surreal-ns'];
        const db = req.headers['surreal-db'];
        if (ns) {
          const [f, v] = splitEngineReply(await call('use', Buffer.concat([Buffer.from([0x82]), cbor.textItem(ns), db ? cbor.textItem(db) : Buffer.from([0xc6, 0xf6])])));
          if (f === 'error') return answer(400, f, v, id);
        }
        let authed = false;
        const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization || ''));
        if (auth) {
          const [f, v] = splitEngineReply(await call('authenticate', Buffer.concat([Buffer.from([0x81]), cbor.textItem(auth[1])])));
          if (f === 'error') return answer(401, f, v, id);
          authed = true;
        }
        if (guestsRefused && !authed && !GUEST_METHODS.has(method)) return answer(403, 'error', notAllowedError(), id);
        const [field, value] = splitEngineReply(await call(method, get('params') || Buffer.from([0x80])));
        answer(field === 'error' ? 400 : 200, field, value, id);
      } catch (e) {
        answer(500, 'error', errorMap(-32000, String(e && e.message ? e.message : e), 'Internal'), id);
      } finally {
        call('detach', Buffer.from([0x80])).catch(() => {});
      }
    });
  }
  // With a certificate the same routes are served over TLS (wss://, https://), as `surreal start --web-crt`.
  const server = opts.cert
    ? https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) }, handler)
    : http.createServer(handler);

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, handleProtocols: () => 'cbor' });
  server.on('upgrade', (req, socket, head) => {
    const offered = String(req.headers['sec-websocket-protocol'] || '').split(',').map((s) => s.trim());
    const refuse = (status, msg) => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\n` +
        `Connection: close\r\n\r\n${msg}`);
    };
    if (req.url.split('?')[0] !== '/rpc') return refuse('404 Not Found', 'WebSocket RPC is served on /rpc\n');
    if (!offered.includes('cbor')) {
      return refuse('400 Bad Request', 'this server speaks only the cbor subprotocol: send Sec-WebSocket-Protocol: cbor\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws));
  });

  function onSocket(ws) {
    const own = crypto.randomBytes(16);
    own[6] = (own[6] & 0x0f) | 0x40; own[8] = (own[8] & 0x3f) | 0x80; // RFC 4122 v4
    const state = { ws, defaultSession: cbor.uuidItem(own), sessions: new Set(), withNs: new Set(), lives: new Set(),
      authed: new Set() };
    const key = (raw) => raw.toString('hex');
    state.sessions.add(key(state.defaultSession));
    sessionOwners.set(key(state.defaultSession), state);
    const attached = exec([['id', Buffer.from([0x00])], ['method', cbor.textItem('attach')],
      ['params', Buffer.from([0x80])], ['session', state.defaultSession]]);
    attached.catch(() => {});  // refused while stopping: each message then answers the error

    ws.on('message', async (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(isBinary ? data : String(data));
      let entries;
      try { entries = cbor.mapEntries(buf); } catch (e) {
        return send(cbor.buildMap([['error', errorMap(-32700, `Parse error: ${e.message}`, 'Serialization')]]));
      }
      const get = (k) => entries.find((e) => e.key === k);
      const idE = get('id');
      const methodE = get('method');
      const sessionE = get('session');
      const id = idE ? buf.subarray(idE.start, idE.end) : null;
      const session = sessionE ? buf.subarray(sessionE.start, sessionE.end) : state.defaultSession;
      const reply = (field, value) => {
        const pairs = [];
        if (id) pairs.push(['id', id]);
        pairs.push([field, value]);
        if (sessionE) pairs.push(['session', session]);
        send(cbor.buildMap(pairs));
      };
      const method = methodE ? cbor.readText(buf, methodE.start) : null;
      if (method === null) return reply('error', errorMap(-32600, 'Invalid request: method must be text', 'Validation'));
      if (guestsRefused && !GUEST_METHODS.has(method) && !state.authed.has(key(session))) {
        return reply('error', notAllowedError());
      }
      const paramsE = get('params');
      // SurrealDB 3.0.2 aborts the whole process on `use [NONE/NULL, db]` when the session has no
      // namespace: refuse it here unless this front saw the session select a namespace.
      if (method === 'use' && paramsE) {
        const p = cbor.head(buf, paramsE.start);
        if (p[0] === 4 && p[1] === 2) {
          const nsEnd = cbor.skip(buf, p[2]);
          const nsNull = cbor.isNullish(buf, p[2], nsEnd);
          const dbNull = cbor.isNullish(buf, nsEnd, cbor.skip(buf, nsEnd));
          if (nsNull && !dbNull && !state.withNs.has(key(session))) {
            return reply('error', errorMap(-32603, 'Invalid params: select a namespace before a database', 'Validation'));
          }
          if (!nsNull) state.withNs.add(key(session));
        }
      }
      const pairs = entries.filter((e) => e.key !== 'session').map((e) => [e.key, buf.subarray(e.start, e.end)]);
      pairs.push(['session', session]);
      try {
        await attached;
        const [field, value] = splitEngineReply(await exec(pairs));
        if (field === 'result' && sessionE) {
          if (method === 'attach') { state.sessions.add(key(session)); sessionOwners.set(key(session), state); }
          if (method === 'detach') { state.sessions.delete(key(session)); sessionOwners.delete(key(session)); }
        }
        if (field === 'result' && method === 'reset') state.withNs.delete(key(session));
        if (field === 'result' && AUTH_METHODS.has(method)) state.authed.add(key(session));
        if (field === 'result' && UNAUTH_METHODS.has(method)) state.authed.delete(key(session));
        if (field === 'result' && (method === 'live' || method === 'query')) {
          for (const id of liveIds(method, value)) { state.lives.add(id); liveOwners.set(id, state); }
        }
        reply(field, value);
      } catch (e) {
        reply('error', errorMap(-32000, String(e && e.message ? e.message : e), 'Internal'));
      }
    });

    function send(buf) { if (ws.readyState === 1) ws.send(buf, { binary: true }); }

    ws.on('close', () => {
      for (const id of state.lives) liveOwners.delete(id);
      for (const s of state.sessions) {
        sessionOwners.delete(s);
        exec([['id', Buffer.from([0x00])], ['method', cbor.textItem('detach')], ['params', Buffer.from([0x80])],
          ['session', Buffer.from(s, 'hex')]]).catch(() => {});
      }
    });
    ws.on('error', () => {});
  }

  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    // Tools that start this server on port 0 read the real port from this line.
    process.stdout.write(`listening on ${host}:${a.port}\n`);
    log(`${ENGINE_VERSION} serving ${opts.store} on ws://${host}:${a.port}/rpc`);
  });
  server.on('error', (e) => { process.stderr.write(`[surrealdb-local] ${e.message}\n`); process.exit(1); });

  // Stops taking work, waits for the engine's calls in flight, then frees the engine (which lets
  // a persistent store close cleanly) and exits. Both waits are bounded, well within the 5 s
  // LocalServer::stop allows before SIGKILL: calls still running then (a long SLEEP) are left to
  // the exit, and the engine is not freed under them.
  const within = (ms, p) => Promise.race([p.then(() => true, () => true), new Promise((r) => setTimeout(r, ms, false))]);
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('shutting down');
    for (const c of wss.clients) c.terminate();
    server.close();
    const drained = inFlight === 0 || await within(1500, new Promise((r) => { onDrained = r; }));
    if (drained) await within(1500, Promise.resolve().then(() => engine.free()));
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { process.stderr.write(`[surrealdb-local] fatal: ${e.stack || e}\n`); process.exit(1); });
