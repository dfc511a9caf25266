#include "cortex/storage/error.hpp"

namespace cortex {
namespace {

class ClientCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "cortex.client"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::ok: return "success";
      case Errc::invalid_url: return "invalid endpoint URL";
      case Errc::invalid_argument: return "invalid argument";
      case Errc::connect_failed: return "could not connect";
      case Errc::connect_timeout: return "connect timed out";
      case Errc::handshake_failed: return "WebSocket handshake failed";
      case Errc::timeout: return "request timed out";
      case Errc::connection_lost: return "connection lost";
      case Errc::not_connected: return "not connected";
      case Errc::protocol_error: return "protocol error";
      case Errc::decode_error: return "malformed CBOR";
      case Errc::unsupported_by_server: return "not supported by this server or transport";
      case Errc::pool_timeout: return "timed out waiting for a pooled connection";
      case Errc::pool_closed: return "pool closed";
      case Errc::pool_exhausted: return "too many callers already wait for a connection";
      case Errc::circuit_open: return "circuit breaker open";
      case Errc::server_start_failed: return "local server failed to start";
      case Errc::statement_failed: return "statement failed";
      case Errc::limit_exceeded: return "resource limit exceeded";
      case Errc::session_state_on_shared_path:
        return "this call changes session state, which the shared path shares with every caller: use a lease "
               "(acquire()) or an AgentSession";
      case Errc::overloaded: return "too many bytes of requests already await replies on this connection";
      case Errc::reply_too_large: return "reply larger than this client's limits (decode budget, max_message_size)";
    }
    return "unknown client error";
  }
};

class ServerCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "surrealdb"; }
  std::string message(int ev) const override {
    switch (static_cast<ServerErrc>(ev)) {
      case ServerErrc::internal: return "internal";
      case ServerErrc::validation: return "validation";
      case ServerErrc::configuration: return "configuration";
      case ServerErrc::query: return "query";
      case ServerErrc::serialization: return "serialization";
      case ServerErrc::not_allowed: return "not allowed";
      case ServerErrc::not_found: return "not found";
      case ServerErrc::already_exists: return "already exists";
      case ServerErrc::connection: return "connection";
      case ServerErrc::thrown: return "thrown";
    }
    return "unknown server error";
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory c;
  return c;
}
const std::error_category& server_category() noexcept {
  static const ServerCategory c;
  return c;
}
std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), client_category()}; }
std::error_code make_error_code(ServerErrc e) noexcept { return {static_cast<int>(e), server_category()}; }

ServerErrc server_errc_from(const std::string& kind, long long code) noexcept {
  static const std::pair<const char*, ServerErrc> kinds[] = {
      {"Validation", ServerErrc::validation}, {"Configuration", ServerErrc::configuration},
      {"Query", ServerErrc::query},           {"Serialization", ServerErrc::serialization},
      {"NotAllowed", ServerErrc::not_allowed}, {"NotFound", ServerErrc::not_found},
      {"AlreadyExists", ServerErrc::already_exists}, {"Connection", ServerErrc::connection},
      {"Thrown", ServerErrc::thrown},         {"Internal", ServerErrc::internal}};
  for (const auto& [k, e] : kinds) {
    if (kind == k) return e;
  }
  if (!kind.empty()) return ServerErrc::internal;
  // 2.x: only the JSON-RPC code.
  switch (code) {
    case -32700: case -32007: case -32008: return ServerErrc::serialization;
    case -32600: case -32602: case -32603: return ServerErrc::validation;
    case -32601: return ServerErrc::not_found;
    case -32002: return ServerErrc::not_allowed;
    case -32001: return ServerErrc::connection;
    case -32006: return ServerErrc::thrown;
    case -32003: case -32004: case -32005: return ServerErrc::query;
    default: return ServerErrc::internal;
  }
}

bool is_safe_to_retry(std::error_code ec) noexcept {
  if (ec.category() != client_category()) return false;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::connect_failed: case Errc::connect_timeout: case Errc::handshake_failed:
    case Errc::not_connected: case Errc::pool_timeout: case Errc::circuit_open: case Errc::overloaded:
      return true;
    default:
      return false;
  }
}

bool surely_not_sent(std::error_code ec) noexcept {
  if (!ec || ec.category() != client_category()) return false;
  if (is_safe_to_retry(ec)) return true;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::invalid_url: case Errc::invalid_argument: case Errc::unsupported_by_server: case Errc::pool_closed:
    case Errc::pool_exhausted:
    case Errc::server_start_failed: case Errc::limit_exceeded: case Errc::session_state_on_shared_path:
      return true;
    default:
      return false;
  }
}

bool is_retryable_conflict(const std::string& server_message) noexcept {
  return server_message.find("can be retried") != std::string::npos;
}

}  // namespace cortex
