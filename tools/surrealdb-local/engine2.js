'use strict';
// SurrealDB 2.1.1's engine (npm @surrealdb/node-linux-x64-gnu 1.0.0-beta.3) behind the same
// contract server.js uses for the 3.x engine: execute(request map with a `session` uuid) answers
// the bare result, or {error: {code, message}} in 2.x's shape (no `kind`).
//
// The 2.1.1 engine has one datastore and ONE session, where `surreal start` 2.x gives each socket
// its own. So requests run one at a time, and before a request of another socket the engine is
// switched to that socket's session by replaying what SurrealDB keeps per connection: namespace
// and database (`use`), auth (`authenticate` with the session's token), variables (`let`/`unset`).
// What this engine cannot do is refused the way 2.x refuses it, never faked:
// - 3.x methods (attach, detach, sessions, begin, commit, cancel, refresh, revoke): -32601
//   "Method not found", as a 2.x server answers them;
// - live queries (`live`, LIVE SELECT in `query`): the build has no notification channel, so they
//   are refused with -32000 instead of returning an id that would never deliver;
// - `reset` is missing from this build; it is carried out as 2.x does it (auth, namespace,
//   database and variables cleared).
const path = require('node:path');
const cbor = require('./cbor');

const NATIVE = path.join(__dirname, 'node_modules', '@surrealdb', 'node-linux-x64-gnu', 'surrealdb.node.linux-x64-gnu.node');
const NONE = Buffer.from([0xc6, 0xf6]);
const NULL = Buffer.from([0xf6]);
const ID = Buffer.from([0x00]);
const ONLY_3X = new Set(['attach', 'detach', 'sessions', 'begin', 'commit', 'cancel', 'refresh', 'revoke']);
const LIVE_SELECT = /\bLIVE\s+SELECT\b/i;

function errorMap(code, message) {
  return cbor.buildMap([['error', cbor.buildMap([['code', Buffer.from(cbor.lenHead(1, -1 - code))],
    ['message', cbor.textItem(message)]])]]);
}

// The items of a CBOR array (raw), or [] when it is not one.
function items(buf) {
  if (!buf) return [];
  const [major, count, p] = cbor.head(buf, 0);
  if (major !== 4 || count < 0) return [];
  const out = [];
  let q = p;
  for (let i = 0; i < count; i++) {
    const end = cbor.skip(buf, q);
    out.push(buf.subarray(q, end));
    q = end;
  }
  return out;
}

const isNone = (raw) => !raw || raw.equals(NONE) || (raw.length === 1 && raw[0] === 0xf7);
const fresh = () => ({ ns: null, db: null, token: null, vars: new Map() });

class Engine2 {
  static async connect(store) {
    const { SurrealdbNodeEngine } = require(NATIVE);
    const e = new Engine2();
    e.engine = await SurrealdbNodeEngine.connect(store);
    e.version = 'surrealdb-' + SurrealdbNodeEngine.version();
    return e;
  }

  constructor() {
    this.sessions = new Map();  // session key (hex of its uuid item) -> {ns, db, token, vars}
    this.current = null;        // the session the engine holds now
    this.loaded = fresh();      // what the engine holds now
    this.queue = Promise.resolve();
  }

  free() { return this.engine.free(); }

  // One request at a time: a session switch must not interleave with another socket's request.
  execute(buf) {
    const run = this.queue.then(() => this.run(Buffer.from(buf)));
    this.queue = run.catch(() => {});
    return run;
  }

  async run(buf) {
    const entries = cbor.mapEntries(buf);
    const raw = (k) => { const e = entries.find((x) => x.key === k); return e ? buf.subarray(e.start, e.end) : null; };
    const methodE = entries.find((e) => e.key === 'method');
    const method = methodE ? cbor.readText(buf, methodE.start) : '';
    const key = (raw('session') || Buffer.alloc(0)).toString('hex');
    const internal = raw('id') && raw('id').equals(ID);  // server.js's own attach/detach per socket
    if (internal && method === 'attach') { this.sessions.set(key, fresh()); return NONE; }
    if (internal && method === 'detach') {
      this.sessions.delete(key);
      if (this.current === key) this.current = null;
      return NONE;
    }
    if (ONLY_3X.has(method)) return errorMap(-32601, 'Method not found');
    const params = raw('params') || Buffer.from([0x80]);
    const sql = method === 'query' ? items(params)[0] : null;
    if (method === 'live' || (sql && cbor.head(sql, 0)[0] === 3 && LIVE_SELECT.test(cbor.readText(sql, 0)))) {
      return errorMap(-32000, 'There was a problem with the database: live queries are not available on this engine ' +
        '(the embedded SurrealDB 2.1.1 build delivers no notifications)');
    }
    let s = this.sessions.get(key);
    if (!s) { s = fresh(); this.sessions.set(key, s); }
    await this.switchTo(key, s);
    if (method === 'reset') {
      this.sessions.set(key, fresh());
      await this.switchTo(key, this.sessions.get(key), true);
      return NONE;
    }
    let result;
    try {
      result = await this.call(method, params);
    } catch (e) {
      const message = String(e && e.message ? e.message : e);
      return errorMap(message === 'Method not found' ? -32601 : -32000, message);
    }
    this.track(s, method, params, result);
    return result;
  }

  async call(method, params) {
    return Buffer.from(await this.engine.execute(cbor.buildMap([['id', ID], ['method', cbor.textItem(method)], ['params', params]])));
  }

  // Loads session `s` into the engine: auth, namespace/database, variables.
  async switchTo(key, s, force = false) {
    if (this.current === key && !force) return;
    const l = this.loaded;
    await this.call('invalidate', Buffer.from([0x80]));
    await this.call('use', Buffer.concat([Buffer.from([0x82]), s.ns || NULL, s.ns && s.db ? s.db : NULL]));
    for (const name of l.vars.keys()) {
      if (!s.vars.has(name)) await this.call('unset', Buffer.concat([Buffer.from([0x81]), cbor.textItem(name)]));
    }
    for (const [name, value] of s.vars) {
      await this.call('let', Buffer.concat([Buffer.from([0x82]), cbor.textItem(name), value]));
    }
    if (s.token) {
      try {
        await this.call('authenticate', Buffer.concat([Buffer.from([0x81]), s.token]));
      } catch (_) {
        s.token = null;  // expired since: the session is signed out, as its server would have it
      }
    }
    this.current = key;
    this.loaded = { ns: s.ns, db: s.db, token: s.token, vars: new Map(s.vars) };
  }

  // What a successful call changed in its session, kept for the next switch back to it.
  track(s, method, params, result) {
    const p = items(params);
    if (method === 'use') {
      if (!isNone(p[0])) s.ns = p[0].equals(NULL) ? null : Buffer.from(p[0]);
      if (!isNone(p[1])) s.db = p[1].equals(NULL) ? null : Buffer.from(p[1]);
      if (!s.ns) s.db = null;
    } else if (method === 'signin' || method === 'signup') {
      if (cbor.head(result, 0)[0] === 3) s.token = Buffer.from(result);
    } else if (method === 'authenticate') {
      s.token = p[0] ? Buffer.from(p[0]) : null;
    } else if (method === 'invalidate') {
      s.token = null;
    } else if ((method === 'let' || method === 'set') && p[0]) {
      s.vars.set(cbor.readText(p[0], 0), Buffer.from(p[1] || NONE));
    } else if (method === 'unset' && p[0]) {
      s.vars.delete(cbor.readText(p[0], 0));
    }
    this.loaded = { ns: s.ns, db: s.db, token: s.token, vars: new Map(s.vars) };
  }
}

module.exports = { Engine2 };
