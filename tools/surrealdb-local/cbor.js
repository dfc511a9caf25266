'use strict';
// A minimal CBOR *walker*: the front never decodes values, it only finds the byte spans of the
// request map's entries so it can re-assemble requests and replies around the engine without
// touching (and possibly altering) SurrealDB's tagged values.

// Tags SurrealDB understands (docs/protocol.md §3). Anything else is a parse error, as on `surreal start`.
const KNOWN_TAGS = new Set([0, 6, 7, 8, 9, 10, 12, 13, 14, 15, 37, 49, 50, 51, 55, 56,
  88, 89, 90, 91, 92, 93, 94]);
const MAX_DEPTH = 512;

class CborError extends Error {}

// Reads a head at `off`: returns [major, argument, offsetAfterHead]. `argument` is a Number
// (lengths beyond 2^53 are rejected as they cannot be valid in a buffer anyway).
function head(buf, off) {
  if (off >= buf.length) throw new CborError('truncated');
  const b = buf[off];
  const major = b >> 5;
  const info = b & 31;
  if (info < 24) return [major, info, off + 1];
  const need = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
  if (need < 0) {
    if (info === 31 && (major === 2 || major === 3 || major === 4 || major === 5 || major === 7)) {
      return [major, -1, off + 1];
    }
    throw new CborError('reserved additional info');
  }
  if (off + 1 + need > buf.length) throw new CborError('truncated');
  let v;
  if (need === 1) v = buf[off + 1];
  else if (need === 2) v = buf.readUInt16BE(off + 1);
  else if (need === 4) v = buf.readUInt32BE(off + 1);
  else {
    const big = buf.readBigUInt64BE(off + 1);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
      if (major === 0 || major === 1 || major === 7) v = Number.MAX_SAFE_INTEGER;
      else throw new CborError('length too large');
    } else v = Number(big);
  }
  return [major, v, off + 1 + need];
}

// Returns the offset just past the item starting at `off`, validating structure and tags.
function skip(buf, off, depth = 0) {
  if (depth > MAX_DEPTH) throw new CborError('nesting too deep');
  const [major, arg, p] = head(buf, off);
  switch (major) {
    case 0: case 1: return p;
    case 2: case 3:
      if (arg === -1) {
        let q = p;
        while (true) {
          if (q >= buf.length) throw new CborError('truncated');
          if (buf[q] === 0xff) return q + 1;
          q = skip(buf, q, depth + 1);
        }
      }
      if (p + arg > buf.length) throw new CborError('truncated');
      return p + arg;
    case 4: case 5: {
      const per = major === 5 ? 2 : 1;
      let q = p;
      if (arg === -1) {
        while (true) {
          if (q >= buf.length) throw new CborError('truncated');
          if (buf[q] === 0xff) return q + 1;
          q = skip(buf, q, depth + 1);
        }
      }
      // Every item is at least one byte: a count beyond the remaining bytes is a lie.
      if (arg * per > buf.length - q) throw new CborError('truncated');
      for (let i = 0; i < arg * per; i++) q = skip(buf, q, depth + 1);
      return q;
    }
    case 6:
      if (!KNOWN_TAGS.has(arg)) throw new CborError(`unknown tag ${arg}`);
      return skip(buf, p, depth + 1);
    default:
      return p; // simple values and floats: the head covers them
  }
}

function readText(buf, off) {
  const [major, len, p] = head(buf, off);
  if (major !== 3 || len < 0) return null;
  return buf.toString('utf8', p, p + len);
}

// Splits a top-level map into [{key, start, end}] entries (value spans). Throws CborError.
function mapEntries(buf) {
  const [major, count, p] = head(buf, 0);
  if (major !== 5) throw new CborError('top level is not a map');
  const out = [];
  let q = p;
  for (let i = 0; count === -1 || i < count; i++) {
    if (count === -1 && buf[q] === 0xff) { q++; break; }
    const key = readText(buf, q);
    if (key === null) throw new CborError('map key is not text');
    q = skip(buf, q);
    const start = q;
    q = skip(buf, q);
    out.push({ key, start, end: q });
  }
  if (q !== buf.length) throw new CborError('trailing bytes after the request');
  return out;
}

function textItem(s) {
  const body = Buffer.from(s, 'utf8');
  return Buffer.concat([lenHead(3, body.length), body]);
}

function lenHead(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) { const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(n, 1); return b; }
  const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(n, 1); return b;
}

// Builds a map from [[key, rawValueBuffer], ...].
function buildMap(pairs) {
  const parts = [lenHead(5, pairs.length)];
  for (const [k, v] of pairs) parts.push(textItem(k), v);
  return Buffer.concat(parts);
}

function uuidItem(bytes16) {
  return Buffer.concat([Buffer.from([0xd8, 37, 0x50]), bytes16]);
}

// Tests whether an item is NULL (f6), undefined (f7) or NONE (tag 6 around null).
function isNullish(buf, start, end) {
  const b = buf.subarray(start, end);
  return (b.length === 1 && (b[0] === 0xf6 || b[0] === 0xf7)) || (b.length === 2 && b[0] === 0xc6);
}

module.exports = { CborError, skip, head, readText, mapEntries, buildMap, textItem, uuidItem, isNullish, lenHead };
