#!/usr/bin/env node
'use strict';
// A misbehaving "SurrealDB" for fault tests of the client (never a stand-in for the database):
//   --mode no-subprotocol  upgrade without choosing `cbor`
//   --mode http-error      answer the upgrade with HTTP 401
//   --mode garbage         accept, then answer every frame with bytes that are not CBOR
//   --mode idless-error    answer `version`, then every other frame with an id-less -32700 error
//   --mode v2              claim to be SurrealDB 2.1.0 (answers `version`, NONE to anything else)
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

const server = http.createServer((req, res) => { res.writeHead(200); res.end(); });
const wss = new WebSocketServer({ noServer: true, handleProtocols: () => (mode === 'no-subprotocol' ? false : 'cbor') });
server.on('upgrade', (req, socket, head) => {
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
        return reply('result', cbor.textItem(mode === 'v2' ? 'surrealdb-2.1.0' : 'surrealdb-3.0.2'));
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
server.listen(port, host, () => process.stdout.write(`listening on ${host}:${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
