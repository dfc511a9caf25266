#!/usr/bin/env node
'use strict';
// A misbehaving "SurrealDB" for fault tests of the client (never a stand-in for the database):
//   --mode no-subprotocol  upgrade without choosing `cbor`
//   --mode http-error      answer the upgrade with HTTP 401
//   --mode http-error-endless  answer the upgrade with HTTP 401 claiming a 1 TiB body, and send it
//   --mode garbage         accept, then answer every frame with bytes that are not CBOR
//   --mode idless-error    answer `version`, then every other frame with an id-less -32700 error
//   --mode v2              claim to be SurrealDB 2.1.0 (answers `version`, NONE to anything else)
// Hostile modes: each answers `version` (3.0.2) and `ping` (NONE) properly, and `query` with:
//   --mode idless-bad-utf8 an id-less {"error":"\xff"} (invalid UTF-8: unattributable)
//   --mode bad-utf8-result {id, result: "\xff"}
//   --mode bad-error-kind  {id, error: {code, message, kind: "\xff"}}
//   --mode nested-claims   {id, result: 200 nested arrays each claiming 2^20 items, then 2^20 nulls}
//   --mode null-flood      {id, result: [null × 2^21]} (a 2 MiB frame that would decode to ~150 MB)
//   --mode duplicate-id    {id, id: 999, result: 1}
//   --mode unknown-live    a notification for a live id nobody started, then {id, result: 1}
//   --mode double-reply    {id, result: 1} twice
//   --mode wrong-id        {id: 1000000 + id, result: 1} (an id nobody asked for)
//   --mode text-frame      {id, result: 1} as a text frame (SurrealDB answers CBOR in binary frames)
//   --mode stall           nothing, ever (after `version`: not even `ping`, `use` or `signin`)
//   --mode ping-flood      WebSocket pings as fast as the socket takes them, never reading again
//   --mode unknown-tag     {id, result: [15("{ future }"), 4000([1])]} (a 2.x future and a tag nobody knows)
//   --mode slowloris       {id, result: 1} written one byte of the WebSocket frame every 300 ms
//   --mode close-frame     a WebSocket close frame with code 4001 (and no reply)
//   --mode fragmented      {id, result: "x" × 70000} in three WebSocket frames (two continuations)
//   --mode big-reply       {id, result: "x" × 2 MiB} in one frame
// Prints "listening on HOST:PORT" like tools/surrealdb-local/server.js; /health answers 200.
const http = require('node:http');
const path = require('node:path');
const { WebSocketServer } = require(path.join(__dirname, '../../tools/surrealdb-local/node_modules/ws'));
const cbor = require(path.join(__dirname, '../../tools/surrealdb-local/cbor.js'));

let mode = 'garbage';
let bind = '127.0.0.1:0';
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--mode') mode = process.argv[++i];
  else if (process.argv[i] === '--bind') bind = process.argv[++i];
}
const [host, port] = [bind.slice(0, bind.lastIndexOf(':')), Number(bind.slice(bind.lastIndexOf(':') + 1))];

// HTTP RPC modes (POST /rpc): `version` is answered properly, every other request with:
//   --mode http-garbage    bytes that are not HTTP at all
//   --mode http-500        500 with a text body
//   --mode http-huge       a Content-Length of 2^40 (and then nothing)
//   --mode http-stall      nothing, ever (the socket stays open)
//   --mode http-chunked    a correct reply in 1-byte chunks
//   --mode http-endless-headers  a status line, then header lines for ever (as fast as the socket takes them)
//   --mode http-stall-sleep  nothing, ever, to a query whose text starts with SLEEP; 1 to other queries
const server = http.createServer((req, res) => {
  if (req.method !== 'POST') { res.writeHead(200); res.end(); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const buf = Buffer.concat(chunks);
    let method = null;
    try { const mE = cbor.mapEntries(buf).find((e) => e.key === 'method'); method = mE ? cbor.readText(buf, mE.start) : null; } catch (_) { /* below */ }
    const ok = (value) => { res.writeHead(200, { 'content-type': 'application/cbor' }); res.end(cbor.buildMap([['result', value]])); };
    if (method === 'version') return ok(cbor.textItem('surrealdb-3.0.2'));
    if (method !== 'query') return ok(Buffer.from([0xc6, 0xf6]));
    if (mode === 'http-garbage') { res.socket.write(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a])); return res.socket.destroy(); }
    if (mode === 'http-500') { res.writeHead(500, { 'content-type': 'text/plain' }); return res.end('internal \x01 trouble'); }
    if (mode === 'http-huge') return res.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n');
    if (mode === 'http-stall') return;
    if (mode === 'http-stall-sleep' && /^SLEEP/.test(firstParamText(buf))) return;
    if (mode === 'http-endless-headers') {
      const sock = res.socket;
      sock.on('error', () => {});
      sock.write('HTTP/1.1 200 OK\r\n');
      const lines = ('X-Filler: ' + 'a'.repeat(1000) + '\r\n').repeat(64);
      const pump = () => {
        while (!sock.destroyed && sock.write(lines)) { /* until the socket's buffer is full */ }
        if (!sock.destroyed) sock.once('drain', pump);
      };
      return pump();
    }
    if (mode === 'http-chunked') {
      const body = cbor.buildMap([['result', Buffer.from([0x01])]]);
      let out = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
      for (const b of body) out += '1\r\n' + String.fromCharCode(b) + '\r\n';
      return res.socket.write(Buffer.concat([Buffer.from(out, 'latin1'), Buffer.from('0\r\n\r\n')]));
    }
    ok(Buffer.from([0x01]));
  });
});
// The text of a request's first parameter ('' when it has none): a query's SurrealQL.
function firstParamText(buf) {
  try {
    const pE = cbor.mapEntries(buf).find((e) => e.key === 'params');
    if (!pE) return '';
    const [major, count, first] = cbor.head(buf, pE.start);
    return major === 4 && count > 0 ? cbor.readText(buf, first) || '' : '';
  } catch (_) {
    return '';
  }
}
const wss = new WebSocketServer({ noServer: true, handleProtocols: () => (mode === 'no-subprotocol' ? false : 'cbor') });
server.on('upgrade', (req, socket, head) => {
  if (mode === 'http-error-endless') {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 1099511627776\r\n\r\n');
    const chunk = Buffer.alloc(65536, 0x61);
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk)) { /* until the socket's buffer is full */ }
      if (!socket.destroyed) socket.once('drain', pump);
    };
    return pump();
  }
  if (mode === 'http-error') {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad password');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => {
      const buf = Buffer.from(data);
      let id = null;
      let method = null;
      try {
        const es = cbor.mapEntries(buf);
        const idE = es.find((e) => e.key === 'id');
        const mE = es.find((e) => e.key === 'method');
        id = idE ? buf.subarray(idE.start, idE.end) : null;
        method = mE ? cbor.readText(buf, mE.start) : null;
      } catch (_) { /* answered below by mode */ }
      const reply = (field, value) => ws.send(cbor.buildMap([...(id ? [['id', id]] : []), [field, value]]));
      if (method === 'version' && mode !== 'garbage') {
        reply('result', cbor.textItem(mode === 'v2' ? 'surrealdb-2.1.0' : 'surrealdb-3.0.2'));
        if (mode === 'ping-flood') flood(ws);
        return;
      }
      if (mode === 'stall') return;
      if (hostile[mode]) {
        if (method !== 'query') return reply('result', Buffer.from([0xc6, 0xf6]));
        return hostile[mode](ws, id, reply);
      }
      if (mode === 'garbage') return ws.send(Buffer.from([0xff, 0xfe, 0x1c, 0x00]));
      if (mode === 'idless-error') {
        return ws.send(cbor.buildMap([['error', cbor.buildMap([['code', Buffer.from([0x39, 0x7f, 0xbb])],
          ['message', cbor.textItem('Parse error: injected')]])]]));
      }
      reply('result', Buffer.from([0xc6, 0xf6]));
    });
  });
});
const badText = Buffer.from([0x61, 0xff]);  // a one-byte text string holding 0xff
const hostile = {
  'idless-bad-utf8': (ws) => ws.send(cbor.buildMap([['error', badText]])),
  'bad-utf8-result': (ws, id, reply) => reply('result', badText),
  'bad-error-kind': (ws, id, reply) => reply('error', cbor.buildMap([['code', Buffer.from([0x39, 0x7f, 0xbb])],
    ['message', cbor.textItem('injected')], ['kind', badText]])),
  'nested-claims': (ws, id, reply) => {
    const claim = Buffer.from([0x9a, 0x00, 0x10, 0x00, 0x00]);  // array of 2^20 items
    reply('result', Buffer.concat([...Array(200).fill(claim), Buffer.alloc(1 << 20, 0xf6)]));
  },
  'null-flood': (ws, id, reply) => reply('result', Buffer.concat([Buffer.from([0x9a, 0x00, 0x20, 0x00, 0x00]),
    Buffer.alloc(1 << 21, 0xf6)])),
  'duplicate-id': (ws, id) => ws.send(cbor.buildMap([['id', id], ['id', Buffer.from([0x19, 0x03, 0xe7])],
    ['result', Buffer.from([0x01])]])),
  'double-reply': (ws, id, reply) => {
    reply('result', Buffer.from([0x01]));
    reply('result', Buffer.from([0x01]));
  },
  'wrong-id': (ws) => ws.send(cbor.buildMap([['id', Buffer.from([0x1a, 0x00, 0x0f, 0x42, 0x40 + 2])], ['result', Buffer.from([0x01])]])),
  'text-frame': (ws, id) => ws.send(cbor.buildMap([['id', id], ['result', Buffer.from([0x01])]]), { binary: false }),
  'close-frame': (ws) => ws.close(4001, 'closing for a test'),
  fragmented: (ws, id) => {
    const whole = cbor.buildMap([['id', id], ['result', cbor.textItem('x'.repeat(70000))]]);
    const third = Math.ceil(whole.length / 3);
    ws.send(whole.subarray(0, third), { binary: true, fin: false });
    ws.send(whole.subarray(third, 2 * third), { fin: false });
    ws.send(whole.subarray(2 * third), { fin: true });
  },
  'big-reply': (ws, id, reply) => reply('result', cbor.textItem('x'.repeat(2 << 20))),
  'unknown-tag': (ws, id, reply) => reply('result', Buffer.concat([Buffer.from([0x82, 0xcf]), cbor.textItem('{ future }'),
    Buffer.from([0xd9, 0x0f, 0xa0, 0x81, 0x01])])),
  slowloris: (ws, id) => {
    // The frame is built by hand and written to the raw socket a byte at a time: each byte is
    // progress on the socket, never a whole frame until the end (long after any sane deadline).
    const payload = cbor.buildMap([['id', id], ['result', Buffer.from([0x01])]]);
    const frame = Buffer.concat([Buffer.from([0x82, payload.length]), payload]);
    let i = 0;
    const timer = setInterval(() => {
      if (i >= frame.length || ws._socket.destroyed) return clearInterval(timer);
      ws._socket.write(frame.subarray(i, ++i));
    }, 300);
  },
  'unknown-live': (ws, id, reply) => {
    const liveId = Buffer.alloc(16, 0xab);
    ws.send(cbor.buildMap([['result', cbor.buildMap([['id', cbor.uuidItem(liveId)], ['action', cbor.textItem('CREATE')],
      ['record', cbor.textItem('x')], ['result', Buffer.from([0xf6])]])]]));
    reply('result', Buffer.from([0x01]));
  },
};

// Pings as fast as the socket takes them; the peer's pongs are never read (the socket is paused).
function flood(ws) {
  ws._socket.pause();
  const burst = () => {
    if (ws.readyState !== ws.OPEN) return;
    for (let i = 0; i < 1000; i++) ws.ping(Buffer.alloc(125, 0x70));
    setImmediate(burst);
  };
  burst();
}

server.listen(port, host, () => process.stdout.write(`listening on ${host}:${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
