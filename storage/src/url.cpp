#include "cortex/storage/url.hpp"

#include "cortex/storage/error.hpp"

namespace cortex::storage {
namespace {

[[noreturn]] void bad(std::string_view url, const std::string& why) {
  throw Error(make_error_code(Errc::invalid_url), "invalid endpoint URL '" + redact_url(url) + "': " + why);
}

const char* scheme_name(Scheme s) {
  switch (s) {
    case Scheme::ws: return "ws";
    case Scheme::wss: return "wss";
    case Scheme::http: return "http";
    case Scheme::https: return "https";
    case Scheme::mem: return "mem";
    case Scheme::surrealkv: return "surrealkv";
    case Scheme::rocksdb: return "rocksdb";
  }
  return "?";
}

}  // namespace

std::string redact_url(std::string_view url) {
  const auto start = url.find("://");
  const auto from = start == std::string_view::npos ? 0 : start + 3;
  // The last '@': a password may itself hold '@', '/' or ':' (ws://root:p@ss/x@host).
  const auto at = url.rfind('@');
  if (at == std::string_view::npos || at < from) return std::string(url);
  return std::string(url.substr(0, from)) + "***" + std::string(url.substr(at));
}

Endpoint parse_endpoint(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    bad(url, "missing scheme (expected ws://, wss://, http://, https://, mem://, surrealkv://, rocksdb:// or file://)");
  }
  const std::string_view scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  Endpoint e;
  if (scheme == "ws") e.scheme = Scheme::ws;
  else if (scheme == "wss") e.scheme = Scheme::wss;
  else if (scheme == "http") e.scheme = Scheme::http;
  else if (scheme == "https") e.scheme = Scheme::https;
  else if (scheme == "mem" || scheme == "memory") e.scheme = Scheme::mem;
  else if (scheme == "surrealkv") e.scheme = Scheme::surrealkv;
  else if (scheme == "rocksdb" || scheme == "file") e.scheme = Scheme::rocksdb;
  else bad(url, "unsupported scheme '" + std::string(scheme) + "'");

  if (e.scheme == Scheme::mem) {
    for (const char c : rest) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
      if (!ok) bad(url, "a mem:// engine's name is letters, digits, '_', '-' and '.'");
    }
    e.path = std::string(rest);
    return e;
  }
  if (e.scheme == Scheme::surrealkv || e.scheme == Scheme::rocksdb) {
    if (rest.empty()) bad(url, std::string(scheme) + ":// needs a storage directory, e.g. " + std::string(scheme) + "://data/cortex");
    e.path = std::string(rest);
    return e;
  }
  // User info is refused wherever it sits — before the first '/', or after one when the password
  // itself holds a '/' (ws://root:pw/SECRET@host would otherwise parse as host "root" with the
  // secret in the path) — before anything else of a remote URL is looked at, so that no message repeats it.
  if (rest.find('@') != std::string_view::npos) bad(url, "credentials do not belong in the URL; pass them to signin");
  if (rest.find_first_of(" \t\r\n") != std::string_view::npos) bad(url, "contains white space");
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  e.path = slash == std::string_view::npos ? "/rpc" : std::string(rest.substr(slash));
  if (e.path == "/") e.path = "/rpc";
  if (authority.empty()) bad(url, "missing host");
  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) bad(url, "unterminated IPv6 address");
    e.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad(url, "junk after IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) bad(url, "empty port");
    }
  } else {
    const auto colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) bad(url, "empty port");
    }
  }
  if (e.host.empty()) bad(url, "missing host");
  // A DNS name or IPv4 address (letters, digits, '-', '.', '_'), or inside brackets an IPv6 address
  // (hex digits, ':', '.', and a '%' zone): anything else would not print back as the same URL.
  const bool v6 = authority.front() == '[';
  for (const char c : e.host) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool ok = alnum || c == '-' || c == '.' || (v6 ? (c == ':' || c == '%') : c == '_');
    if (!ok) bad(url, "the host holds '" + std::string(1, c) + "', which no host name or address has");
  }
  if (v6 && e.host.find(':') == std::string::npos) bad(url, "'[" + e.host + "]' is not an IPv6 address");
  if (!port_text.empty()) {
    unsigned long port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') bad(url, "port '" + std::string(port_text) + "' is not a number");
      port = port * 10 + static_cast<unsigned long>(c - '0');
      if (port > 65535) bad(url, "port " + std::string(port_text) + " is out of range (1-65535)");
    }
    if (port == 0) bad(url, "port 0 is not dialable");
    e.port = static_cast<std::uint16_t>(port);
  } else {
    e.port = e.is_tls() ? 443 : 80;
  }
  return e;
}

std::string Endpoint::websocket_url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(is_tls() ? "wss" : "ws") + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
}

std::string Endpoint::to_string() const {
  if (is_local()) return std::string(scheme_name(scheme)) + "://" + path;
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(scheme_name(scheme)) + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
}

}  // namespace cortex::storage
