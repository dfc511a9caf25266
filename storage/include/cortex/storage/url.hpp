#pragma once
// Endpoint URLs: ws://, wss:// (a remote SurrealDB over WebSocket), http://, https:// (over HTTP RPC:
// POST /rpc) and the embedded local engines the library starts: mem:// (a fresh in-memory engine),
// mem://NAME (one in-memory engine per name in the process), surrealkv://PATH, rocksdb://PATH
// (file://PATH is its alias, as in SurrealDB).
#include <cstdint>
#include <string>
#include <string_view>

namespace cortex::storage {

enum class Scheme { ws, wss, http, https, mem, surrealkv, rocksdb };

struct Endpoint {
  Scheme scheme = Scheme::ws;
  std::string host;      ///< remote schemes: host name or IP (IPv6 without brackets)
  std::uint16_t port = 0;
  /// remote: RPC path (default "/rpc"); surrealkv, rocksdb: the storage directory; mem: the
  /// engine's name ("" = a fresh engine each time)
  std::string path;
  bool is_local() const noexcept { return scheme == Scheme::mem || scheme == Scheme::surrealkv || scheme == Scheme::rocksdb; }
  bool is_tls() const noexcept { return scheme == Scheme::wss || scheme == Scheme::https; }
  /// The WebSocket URL to dial (remote schemes only), e.g. "ws://127.0.0.1:8000/rpc".
  std::string websocket_url() const;
  /// The URL back as text, credentials never included.
  std::string to_string() const;
};

/// The one redaction of URLs for messages, logs, metrics and health output: everything between
/// "://" and the last '@' becomes "***" (ws://root:p@ss@host → ws://***@host); a URL without '@'
/// is returned as it is.
std::string redact_url(std::string_view url);

/// Parses an endpoint URL. A URL with an '@' anywhere after the scheme is refused (user info
/// does not belong in it), its message redacted with redact_url. Throws cortex::Error(Errc::invalid_url) whose message names what is
/// wrong (unknown scheme, missing host, bad port, user info in the URL, missing surrealkv path…).
Endpoint parse_endpoint(std::string_view url);

}  // namespace cortex::storage
